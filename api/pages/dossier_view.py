"""What the dossier form's templates show: its inputs, section by section, with their values
and errors (the form page), and the answers with a way back to each (the check-answers page).
Plain values only; the templates hold no rule."""

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.context import AppContext
from api.pages import dossier_form as df
from api.pages.carried_files import Upload
from api.pages.render import page
from api.pages.texts import text
from domain.attachments import ALLOWED
from domain.catalog import Procedure
from domain.forms import FormField, cleaned, parse_date

# What a file input offers to pick (the server judges the content, whatever the name says).
_EXTENSIONS = {
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
}
ACCEPT = ",".join([ext for t in ALLOWED for ext in _EXTENSIONS.get(t, ())] + ALLOWED)
# Radios while the choices fit on a phone's screen; a list beyond.
_MOST_RADIOS = 6


@dataclass(frozen=True)
class Urls:
    """Where the form posts (to check the answers), where "Sửa" and "Gửi" post from the
    check-answers page, and the page before the form."""

    check: str
    edit: str
    send: str
    back: str


def form_page(
    request: Request,
    ctx: AppContext,
    template: str,
    procedure: Procedure,
    draft: df.Draft,
    problems: list[df.Problem],
    urls: Urls,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "procedure": procedure,
        "sections": form_sections(ctx, procedure, draft, problems),
        "errors": summary(procedure, problems),
        "urls": urls,
        "request_key": draft.request_key,
        "request_key_name": df.REQUEST_KEY,
        "max_bytes": ctx.settings.max_upload_bytes,
        "accept": ACCEPT,
        "max_mb": df.max_megabytes(ctx),
    }
    return page(request, template, context, status_code=status_code)


def answers_page(
    request: Request, template: str, procedure: Procedure, draft: df.Draft, urls: Urls
) -> HTMLResponse:
    context = {
        "procedure": procedure,
        "sections": answer_sections(procedure, draft),
        "carried": carried(procedure, draft),
        "urls": urls,
    }
    return page(request, template, context)


@dataclass
class Input:
    """One input as the form page draws it."""

    id: str
    label: str
    widget: str  # text | textarea | radios | select | file
    value: str = ""
    hint: str | None = None
    error: str | None = None
    required: bool = True
    choices: list[tuple[str, str]] = field(default_factory=list)
    type: str = "text"
    autocomplete: str | None = None
    inputmode: str | None = None
    maxlength: int | None = None
    width: str | None = None
    # A file input: the file already uploaded for it, carried as hidden inputs (its id, the
    # name shown and the server's signature of the two).
    uploaded: str | None = None
    carried: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Section:
    title: str
    inputs: list[Input]
    hint: str | None = None


def form_sections(
    ctx: AppContext, procedure: Procedure, draft: df.Draft, problems: list[df.Problem]
) -> list[Section]:
    errors = {p.field: p.message for p in problems if p.field}
    sections = [
        Section(text("form.section.applicant"), _applicant_inputs(draft, errors)),
        Section(
            text("form.section.declaration"),
            [_declaration_input(f, draft, errors) for f in procedure.form],
        ),
        Section(
            text("form.section.documents"),
            _file_inputs(procedure, draft, errors),
            hint=text("form.documents.hint", mb=df.max_megabytes(ctx)),
        ),
        Section(text("form.section.delivery"), _delivery_inputs(procedure, draft, errors)),
    ]
    return [s for s in sections if s.inputs]


def _radios(f: FormField) -> bool:
    return f.type == "choice" and len(f.choices) <= _MOST_RADIOS


def first_input(procedure: Procedure, input_id: str) -> str:
    """Where a link to an input goes: for a group of radios, its first radio."""
    radios = {df.applicant_input("kind"), df.DELIVERY_METHOD}
    radios |= {df.form_input(f.name) for f in procedure.form if _radios(f)}
    return f"{input_id}-1" if input_id in radios else input_id


def summary(procedure: Procedure, problems: list[df.Problem]) -> list[dict[str, str]]:
    """The error summary's lines, each linking to its input."""
    return [
        {"field": first_input(procedure, p.field) if p.field else "", "message": p.message}
        for p in problems
    ]


def _applicant_inputs(draft: df.Draft, errors: dict[str, str]) -> list[Input]:
    values = draft.applicant

    def text_input(name: str, **options: Any) -> Input:
        key = df.applicant_input(name)
        return Input(
            key,
            text(f"form.applicant.{name}"),
            "text",
            values.get(name, ""),
            error=errors.get(key),
            **options,
        )

    kinds = [(k, text(f"form.applicant.kind.{k}")) for k in df.APPLICANT_KINDS]
    kind = df.applicant_input("kind")
    return [
        Input(
            kind,
            text("form.applicant.kind"),
            "radios",
            values.get("kind", ""),
            choices=kinds,
            error=errors.get(kind),
        ),
        text_input("full_name", autocomplete="name", maxlength=200),
        text_input(
            "id_number",
            hint=text("form.applicant.id_number.hint"),
            inputmode="numeric",
            width="medium",
            autocomplete="off",
        ),
        text_input(
            "phone",
            hint=text("form.applicant.phone.hint"),
            type="tel",
            autocomplete="tel",
            width="medium",
        ),
        text_input(
            "email",
            hint=text("form.applicant.email.hint"),
            type="email",
            autocomplete="email",
            required=False,
            maxlength=254,
        ),
        text_input("address", autocomplete="street-address", maxlength=500),
    ]


def _declaration_input(f: FormField, draft: df.Draft, errors: dict[str, str]) -> Input:
    key = df.form_input(f.name)
    common: dict[str, Any] = {
        "value": draft.form.get(f.name, ""),
        "error": errors.get(key),
        "required": f.required,
        "hint": f.help,
    }
    if f.type == "choice":
        widget = "radios" if _radios(f) else "select"
        return Input(key, f.label, widget, choices=[(c, c) for c in f.choices], **common)
    if f.type == "textarea":
        return Input(key, f.label, "textarea", maxlength=f.longest, **common)
    if f.type == "number":
        common["hint"] = f.help or text("form.number.hint")
        mode = "numeric" if f.integer else "decimal"
        return Input(key, f.label, "text", inputmode=mode, width="medium", **common)
    if f.type == "date":
        example = text("form.date.hint")
        common["hint"] = f"{f.help} {example}" if f.help else example
        return Input(key, f.label, "text", width="medium", maxlength=10, **common)
    if _is_phone(f):
        return Input(
            key,
            f.label,
            "text",
            type="tel",
            autocomplete="tel",
            width="medium",
            maxlength=f.longest,
            **common,
        )
    autocomplete = "street-address" if f.type == "address" else None
    return Input(key, f.label, "text", maxlength=f.longest, autocomplete=autocomplete, **common)


def _is_phone(f: FormField) -> bool:
    """A phone number in the declaration (the catalog names it so): the phone's dial pad."""
    return f.type == "text" and "dien_thoai" in f.name


def _file_inputs(procedure: Procedure, draft: df.Draft, errors: dict[str, str]) -> list[Input]:
    inputs = []
    for c in procedure.components:
        key = df.file_input(c.code)
        carried = draft.files.get(c.code)
        inputs.append(
            Input(
                key,
                c.name,
                "file",
                hint=c.help,
                error=errors.get(key),
                required=c.required,
                uploaded=carried.name if carried else None,
                carried=_file_pairs(c.code, carried) if carried else [],
            )
        )
    return inputs


def _file_pairs(component: str, upload: Upload) -> list[tuple[str, str]]:
    return [
        (df.file_id_input(component), str(upload.file_id)),
        (df.file_name_input(component), upload.name),
        (df.file_signature_input(component), upload.signature),
    ]


def _delivery_inputs(procedure: Procedure, draft: df.Draft, errors: dict[str, str]) -> list[Input]:
    methods = [(str(m), text(f"delivery.{m}")) for m in df.delivery_methods(procedure)]
    return [
        Input(
            df.DELIVERY_METHOD,
            text("form.delivery.method"),
            "radios",
            draft.delivery_method,
            choices=methods,
            error=errors.get(df.DELIVERY_METHOD),
        ),
        Input(
            df.DELIVERY_ADDRESS,
            text("form.delivery.address"),
            "text",
            draft.delivery_address,
            hint=text("form.delivery.address.hint"),
            error=errors.get(df.DELIVERY_ADDRESS),
            # Not "(không bắt buộc)": the hint says when it is needed.
            required=True,
            autocomplete="street-address",
            maxlength=500,
        ),
    ]


# ---- check answers --------------------------------------------------------------------------


@dataclass
class Answer:
    label: str
    value: str
    input_id: str  # where "Sửa" takes the person back to


@dataclass
class AnswerSection:
    title: str
    answers: list[Answer]


def answer_sections(procedure: Procedure, draft: df.Draft) -> list[AnswerSection]:
    applicant = draft.applicant
    kind = applicant.get("kind", "")
    people = [
        Answer(
            text("form.applicant.kind"),
            text(f"form.applicant.kind.{kind}"),
            first_input(procedure, df.applicant_input("kind")),
        ),
        *(
            Answer(
                text(f"form.applicant.{name}"),
                applicant.get(name) or text("form.answer.none"),
                df.applicant_input(name),
            )
            for name in df.APPLICANT_FIELDS[1:]
        ),
    ]
    shown = cleaned(procedure.form, draft.form)
    declaration = [
        Answer(
            f.label,
            _shown_value(f, shown.get(f.name)),
            first_input(procedure, df.form_input(f.name)),
        )
        for f in procedure.form
    ]
    files = [
        Answer(
            c.name,
            text("form.answer.file", name=draft.files[c.code].name)
            if c.code in draft.files
            else text("form.answer.no_file"),
            df.file_input(c.code),
        )
        for c in procedure.components
    ]
    method = draft.delivery_method
    delivery = [
        Answer(
            text("form.delivery.method"),
            text(f"delivery.{method}"),
            first_input(procedure, df.DELIVERY_METHOD),
        )
    ]
    if draft.delivery_address.strip():
        delivery.append(
            Answer(text("form.delivery.address"), draft.delivery_address, df.DELIVERY_ADDRESS)
        )
    sections = [
        AnswerSection(text("form.section.applicant"), people),
        AnswerSection(text("form.section.declaration"), declaration),
        AnswerSection(text("form.section.documents"), files),
        AnswerSection(text("form.section.delivery"), delivery),
    ]
    return [s for s in sections if s.answers]


def _shown_value(f: FormField, value: Any) -> str:
    """A checked value as a Vietnamese reads it: 50.000.000; 1,5; 15/03/2024."""
    if value is None:
        return text("form.answer.none")
    if f.type == "number":
        return df.vietnamese_number(value)
    if f.type == "date":
        day = parse_date(str(value))
        return day.strftime("%d/%m/%Y") if day else str(value)
    return str(value)


def carried(procedure: Procedure, draft: df.Draft) -> list[tuple[str, str]]:
    """The draft as hidden inputs of the check-answers page: what was typed, and the files'
    ids. The form token is added by the template."""
    pairs = [(df.applicant_input(n), v) for n, v in draft.applicant.items()]
    pairs += [(df.form_input(n), v) for n, v in draft.form.items()]
    pairs += [pair for code, f in draft.files.items() for pair in _file_pairs(code, f)]
    pairs += [
        (df.DELIVERY_METHOD, draft.delivery_method),
        (df.DELIVERY_ADDRESS, draft.delivery_address),
        (df.REQUEST_KEY, draft.request_key),
    ]
    return pairs
