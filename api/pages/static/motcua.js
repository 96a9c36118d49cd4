// motcua — small progressive enhancement; every page works without it.
// 1. The error summary takes the focus, so screen readers announce it.
// 2. A file too large or of a wrong type is flagged before it is sent (the server checks again).
// 3. A form is sent once: its buttons are disabled after the first press; a form holding a
//    file flagged by 2. is not sent at all (nothing is uploaded for nothing on a slow link).
//    They come back after a while, and when the page is shown again from the back-forward
//    cache, so a post that failed on a poor connection can be retried (the form's request key
//    keeps a retry from doing anything twice).
(function () {
  "use strict";
  var REENABLE_AFTER_MS = 10000;
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }

  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
    input.addEventListener("change", function () {
      var max = parseInt(input.getAttribute("data-max-bytes"), 10);
      var accepted = (input.getAttribute("accept") || "").split(",");
      var message = "";
      Array.prototype.forEach.call(input.files || [], function (file) {
        var dot = file.name.lastIndexOf(".");
        var ext = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
        if (file.size > max) { message = input.getAttribute("data-too-large"); }
        else if (accepted[0] && accepted.indexOf(ext) < 0 && accepted.indexOf(file.type) < 0) {
          message = input.getAttribute("data-wrong-type");
        }
      });
      input.setCustomValidity(message);
      input.reportValidity();
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("form[method=post]"), function (form) {
    form.addEventListener("submit", function (event) {
      var refused = Array.prototype.filter.call(form.querySelectorAll("input[type=file]"), function (input) {
        return input.validationMessage !== "";
      });
      if (refused.length) {
        event.preventDefault();
        refused[0].reportValidity();
        refused[0].focus();
        return;
      }
      setTimeout(function () { setDisabled(form, true); }, 0);
      setTimeout(function () { setDisabled(form, false); }, REENABLE_AFTER_MS);
    });
  });

  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[method=post]"), function (form) {
      setDisabled(form, false);
    });
  });

  function setDisabled(form, disabled) {
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
      b.disabled = disabled;
    });
  }
})();
