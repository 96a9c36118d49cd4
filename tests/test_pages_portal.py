"""The public portal as applicants use it: finding a procedure without typing diacritics,
reading what it needs, submitting online with uploads (checked, confirmed, sent once), the
receipt with its lookup key and QR code (on screen and on A4 paper), and `/tra-cuu`."""

import asyncio
import io
import re
from html import unescape

import httpx
import pypdfium2 as pdfium
import zxingcpp
from PIL import Image
from playwright.async_api import FilePayload, Page, expect

from api.main import create_app
from api.pages.qr import qr_svg
from api.security import lookup_key, lookup_key_matches
from domain.search import fold, matches
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Dossier
from tests.browser import assert_accessible, screenshot
from tests.client import DESK, ApiClient, pdf_text
from tests.conftest import Stack
from tests.dossier_pages import (
    BUSINESS,
    COPY,
    LAND,
    NOT_A_PDF,
    PDF,
    PNG,
    SAME_FOR_BOTH,
    answers,
    applicant_inputs,
    confirm,
    dossiers_with_key,
    field_error,
    fill_and_check,
    fill_form,
    open_form,
    parsed,
    procedure,
    qr_text,
    receipt_key,
    summary_links,
    until_linked,
)

# ---- pure functions --------------------------------------------------------------------------


def test_search_ignores_diacritics_case_and_spacing() -> None:
    assert fold("Đăng ký  thành lập HỘ KINH DOANH") == "dang ky thanh lap ho kinh doanh"
    assert fold("Chứng thực bản sao") == "chung thuc ban sao"
    assert matches("ho kinh doanh", "Đăng ký thành lập hộ kinh doanh")
    assert matches("  Hộ  KINH ", "Đăng ký thành lập hộ kinh doanh")
    assert matches("dang ky ho", "Đăng ký thành lập hộ kinh doanh")  # words in any place
    assert matches("", "anything")
    assert not matches("khai sinh", "Đăng ký thành lập hộ kinh doanh")
    assert not matches("do", "Đ")  # đ is d, not "do"


def test_the_qr_code_reads_back_what_it_encodes() -> None:
    url = "https://dichvucong.example.vn/ho-so/000.00.15.H39-261105-0001?key=ABCDEFGHIJKLMNOP"
    svg = str(qr_svg(url, "Mã QR"))
    assert qr_text(svg) == url
    assert "style" not in svg and "<script" not in svg


# ---- the portal over HTTP -------------------------------------------------------------------


async def test_an_unaccented_search_finds_the_procedure(visitor: httpx.AsyncClient) -> None:
    r = await visitor.get("/", params={"q": "ho kinh doanh"})
    assert r.status_code == 200
    assert "Đăng ký thành lập hộ kinh doanh" in r.text
    assert "Đăng ký khai sinh" not in r.text
    assert f'href="/thu-tuc/{BUSINESS}"' in r.text
    assert "Trực tuyến toàn trình" in r.text and "3 ngày làm việc" in r.text
    assert "Phí, lệ phí: 100.000 đ" in unescape(r.text)
    everything = await visitor.get("/")
    assert "Đăng ký khai sinh" in everything.text and 'href="/tra-cuu"' in everything.text
    nothing = await visitor.get("/", params={"q": "xyz khong co"})
    assert "Không tìm thấy thủ tục nào" in nothing.text


async def test_the_procedure_page_says_what_to_prepare_and_who_decides(
    visitor: httpx.AsyncClient,
) -> None:
    r = await visitor.get(f"/thu-tuc/{LAND}")
    assert r.status_code == 200
    page = unescape(r.text)
    for expected in (
        "Giấy tờ về nguồn gốc sử dụng đất",  # a component
        "200.000 đ",
        "30 ngày làm việc",
        "Trực tuyến một phần",
        "Văn phòng Đăng ký đất đai",  # departments by name
        "Thuế cơ sở",
        "Bộ phận Một cửa — Văn phòng Đăng ký đất đai",
        "Không — nhận kết quả",
    ):
        assert expected in page, expected
    assert f'href="/thu-tuc/{LAND}/nop-ho-so"' in r.text
    business = unescape((await visitor.get(f"/thu-tuc/{BUSINESS}")).text)
    assert "Có — kết quả điện tử" in business and "không bắt buộc" in business
    assert "Trực tuyến toàn trình" in business
    assert "Nộp hồ sơ, nộp phí và nhận kết quả trực tuyến" in business
    # The way in, right after the fee and the time, and again after the stages.
    starts = [m.start() for m in re.finditer(f'href="/thu-tuc/{BUSINESS}/nop-ho-so"', business)]
    assert len(starts) == 2 and starts[0] < business.index("Giấy tờ cần chuẩn bị")
    # A step's time in the tracking page's words: hours below a working day, days from one.
    assert "tối đa 4 giờ làm việc" in business and "tối đa 1 ngày làm việc" in business
    assert "Hộ kinh doanh do ai thành lập" in business  # the declaration form's fields
    unknown = await visitor.get("/thu-tuc/9.999999")
    assert unknown.status_code == 404 and "Không có thủ tục mã" in unescape(unknown.text)
    assert (await visitor.get("/thu-tuc/9.999999/nop-ho-so")).status_code == 404


async def test_the_form_offers_only_the_delivery_the_level_allows(
    visitor: httpx.AsyncClient,
) -> None:
    full = (await visitor.get(f"/thu-tuc/{BUSINESS}/nop-ho-so")).text
    partial = (await visitor.get(f"/thu-tuc/{COPY}/nop-ho-so")).text
    assert 'value="online"' in full and 'value="post"' in full
    assert 'value="online"' not in partial and 'value="counter"' in partial
    assert 'enctype="multipart/form-data"' in full
    assert re.search(r'type="file" accept="[^"]*\.pdf[^"]*" data-max-bytes="\d+"', full)


async def test_an_online_submission_reaches_the_receipt(
    visitor: httpx.AsyncClient, api: ApiClient, settings: Settings, sessionmaker: Sessionmaker
) -> None:
    checked = await fill_and_check(visitor, api, BUSINESS)
    assert checked.status_code == 200, checked.text
    page = unescape(checked.text)
    assert "Kiểm tra lại trước khi gửi" in page
    assert "Hộ kinh doanh Tạp hóa Cô Ba" in page and "50.000.000" in page
    assert "Đã tải lên: GDN.pdf" in page and "Nhận kết quả trực tuyến" in page
    sent = await confirm(visitor, checked, f"/thu-tuc/{BUSINESS}/nop-ho-so/gui")
    assert sent.status_code == 303
    code = re.fullmatch(r"/ho-so/(.+)/bien-nhan", sent.headers["location"]).group(1)  # type: ignore[union-attr]
    assert f"Path=/ho-so/{code}" in sent.headers["set-cookie"]
    assert "HttpOnly" in sent.headers["set-cookie"]

    receipt = await visitor.get(sent.headers["location"])
    assert receipt.status_code == 200
    key = receipt_key(receipt.text)
    assert code in receipt.text and "Ngày hẹn trả kết quả" in unescape(receipt.text)
    assert re.search(r"\d{2}:\d{2}, ngày \d{2}/\d{2}/\d{4}", receipt.text)
    shown = unescape(receipt.text)
    assert " ".join(key[i : i + 4] for i in range(0, 16, 4)) in shown  # grouped by four
    assert "Cơ quan giải quyết: UBND xã Mỹ Yên" in shown
    assert f"Tra cứu tại: {settings.public_base_url}/tra-cuu" in shown
    svg = re.search(r'<svg class="qr".*?</svg>', receipt.text, re.S).group(0)  # type: ignore[union-attr]
    assert qr_text(svg) == f"{settings.public_base_url}/ho-so/{code}?key={key}"
    state = await api.status(code, key)  # the key is the dossier's
    assert state["status_code"] == 1
    async with sessionmaker() as session:
        dossier = await session.get(Dossier, code)
    assert dossier is not None and dossier.channel == "online"
    assert dossier.form["von_kinh_doanh"] == 50_000_000  # checked and cleaned as the API does
    assert {d["component"] for d in dossier.documents} == {"GDN", "CCCD", "HDTN"}

    # Without the cookie (another phone), the receipt sends to /tra-cuu.
    async with httpx.AsyncClient(base_url=str(visitor.base_url)) as stranger:
        r = await stranger.get(f"/ho-so/{code}/bien-nhan")
        assert r.status_code == 303 and r.headers["location"].startswith("/tra-cuu")


async def test_a_confirmation_sent_twice_makes_one_dossier(
    visitor: httpx.AsyncClient, api: ApiClient, sessionmaker: Sessionmaker
) -> None:
    checked = await fill_and_check(visitor, api, COPY, delivery="counter")
    request_key = dict(parsed(checked.text).hidden)["request_key"]
    send = f"/thu-tuc/{COPY}/nop-ho-so/gui"
    first = await confirm(visitor, checked, send)
    again = await confirm(visitor, checked, send)  # a reload, a retry
    both = await asyncio.gather(confirm(visitor, checked, send), confirm(visitor, checked, send))
    locations = {r.headers["location"] for r in (first, again, *both)}
    assert len(locations) == 1 and all(r.status_code == 303 for r in (first, again, *both))
    assert await dossiers_with_key(sessionmaker, request_key) == 1


async def test_errors_are_summarised_linking_to_each_field(visitor: httpx.AsyncClient) -> None:
    base = f"/thu-tuc/{BUSINESS}/nop-ho-so"
    keys = await open_form(visitor, base)
    r = await visitor.post(
        base,
        data={**keys, "applicant-id_number": "12345", "applicant-kind": "individual"},
        files={"file-GDN": ("", b"", "application/octet-stream")},  # no file chosen
    )
    assert r.status_code == 422
    links = summary_links(r.text)
    page = parsed(r.text)
    assert links[:2] == ["applicant-full_name", "applicant-id_number"]
    for wanted in (
        "form-nguoi_thanh_lap-1",
        "form-ten_ho_kinh_doanh",
        "file-GDN",
        "file-CCCD",
        "delivery-method-1",
    ):
        assert wanted in links, wanted
    assert "file-HDTN" not in links  # optional
    assert all(link in page.ids for link in links)  # each link lands on its input
    # The id number is checked against the kind at once, with the other errors.
    id_number = field_error(r.text, "applicant-id_number")
    assert id_number.endswith("Số căn cước công dân phải gồm đúng 12 chữ số")
    assert field_error(r.text, "form-ten_ho_kinh_doanh").endswith("Nhập tên hộ kinh doanh")
    assert 'value="12345"' in r.text  # what was typed is kept
    assert dict(page.hidden)["request_key"] == keys["request_key"]


async def test_a_wrong_file_is_refused_with_the_reason_and_the_rest_kept(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    base = f"/thu-tuc/{BUSINESS}/nop-ho-so"
    keys = await open_form(visitor, base)
    spec = await procedure(api, BUSINESS)
    data = {**keys, **applicant_inputs(), **answers(spec["form"]), "delivery-method": "post"}
    files = {
        "file-GDN": ("giay-de-nghi.pdf", NOT_A_PDF, "application/pdf"),  # a PDF by its name only
        "file-CCCD": ("cccd.png", PNG, "image/png"),
    }
    r = await visitor.post(base, data=data, files=files)
    assert r.status_code == 422
    reason = field_error(r.text, "file-GDN")
    assert "“giay-de-nghi.pdf” không được nhận: chỉ nhận PDF, JPG, PNG hoặc TIFF" in reason
    assert field_error(r.text, "delivery-address").endswith(
        "Nhập địa chỉ nhận kết quả qua bưu chính"
    )
    hidden = dict(parsed(r.text).hidden)
    assert "file_id-CCCD" in hidden and "file_id-GDN" not in hidden
    assert "Đã tải lên: cccd.png" in unescape(r.text)
    assert 'value="Nguyễn Văn An"' in r.text

    # Fixed: the right file for GDN, the address; the carried CCCD file is used as it is.
    data = {**hidden, **applicant_inputs(), **answers(spec["form"]), "delivery-method": "post"}
    data["delivery-address"] = "Số 7, ấp Mỹ Hòa"
    r = await visitor.post(base, data=data, files={"file-GDN": ("gdn.pdf", PDF, "application/pdf")})
    assert r.status_code == 200, r.text
    assert "Đã tải lên: cccd.png" in unescape(r.text)


async def test_a_file_too_large_is_refused_with_the_reason(
    settings: Settings, stack: Stack
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1024 * 1024})
    app = create_app(small)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            base = f"/thu-tuc/{COPY}/nop-ho-so"
            keys = await open_form(client, base)
            assert 'data-max-bytes="1048576"' in (await client.get(base)).text
            big = PDF + b"0" * (1024 * 1024)
            files = {"file-BC": ("ban-chinh.pdf", big, "application/pdf")}
            r = await client.post(base, data=keys, files=files)
    assert r.status_code == 422
    assert field_error(r.text, "file-BC").endswith(
        "Tệp “ban-chinh.pdf” lớn hơn 1 MB. Hãy chọn tệp nhỏ hơn hoặc chụp lại ảnh nhỏ hơn."
    )


async def test_change_returns_to_the_form_with_the_answers(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    checked = await fill_and_check(visitor, api, BUSINESS)
    assert 'formaction="/thu-tuc/1.001612/nop-ho-so/sua#applicant-phone"' in checked.text
    hidden = dict(parsed(checked.text).hidden)
    r = await visitor.post(f"/thu-tuc/{BUSINESS}/nop-ho-so/sua", data=hidden)
    assert r.status_code == 200
    assert 'value="0901234567"' in r.text and "Đã tải lên: GDN.pdf" in unescape(r.text)
    assert dict(parsed(r.text).hidden)["request_key"] == hidden["request_key"]


async def test_back_from_check_answers_keeps_the_answers(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    checked = await fill_and_check(visitor, api, BUSINESS, **{"applicant-email": ""})
    page = unescape(checked.text)
    assert "Không điền" in page and "Không khai" not in page  # the e-mail left empty
    # "Quay lại", above and below the answers: buttons of the answers' form, posting the
    # draft back to the form (no JavaScript, no history needed).
    backs = re.findall(r"<button[^>]*>Quay lại</button>", checked.text)
    assert len(backs) == 2, backs
    assert all(f'formaction="/thu-tuc/{BUSINESS}/nop-ho-so/sua"' in b for b in backs)
    assert 'form="answers"' in backs[0] and 'id="answers"' in checked.text
    assert 'class="link-button change-button"' in checked.text  # "Sửa": 44px tall
    hidden = dict(parsed(checked.text).hidden)
    r = await visitor.post(f"/thu-tuc/{BUSINESS}/nop-ho-so/sua", data=hidden)
    assert r.status_code == 200 and "Đã tải lên: GDN.pdf" in unescape(r.text)


async def test_the_postal_address_says_when_it_is_needed(visitor: httpx.AsyncClient) -> None:
    form = unescape((await visitor.get(f"/thu-tuc/{BUSINESS}/nop-ho-so")).text)
    label = re.search(r'<label class="field__label" for="delivery-address">(.*?)</label>', form)
    assert label and "không bắt buộc" not in label.group(1)
    assert "Bắt buộc nếu bạn chọn nhận qua bưu chính." in form
    # The household's phone number in the declaration: the dial pad.
    assert re.search(r'id="form-dien_thoai_ho_kinh_doanh"[^>]*type="tel"', form)


async def test_an_empty_form_names_every_missing_field(visitor: httpx.AsyncClient) -> None:
    base = f"/thu-tuc/{BUSINESS}/nop-ho-so"
    r = await visitor.post(base, data=await open_form(visitor, base))
    assert r.status_code == 422
    links = summary_links(r.text)
    assert links[:5] == [
        "applicant-kind-1",
        "applicant-full_name",
        "applicant-id_number",  # empty: said at once, with the rest
        "applicant-phone",
        "applicant-address",
    ]
    assert field_error(r.text, "applicant-id_number").endswith(
        "Nhập số căn cước công dân (hoặc mã số thuế)"
    )
    # A blank number (spaces only) is empty too, whatever else is right.
    keys = await open_form(visitor, base)
    r = await visitor.post(base, data={**keys, **applicant_inputs(id_number="   ")})
    assert "applicant-id_number" in summary_links(r.text)


async def test_a_carried_file_id_discloses_no_name(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    """A file id posted by hand (someone else's upload) is taken only as what it is: its
    name is shown only when carried with the server's signature."""
    secret = await api.upload(PDF, "ho-so-benh-an-cua-nguoi-khac.pdf")
    base = f"/thu-tuc/{BUSINESS}/nop-ho-so"
    keys = await open_form(visitor, base)
    forged = "0" * 64
    data = {
        **keys,
        "file_id-GDN": secret,
        "file_name-CCCD": "x",
        "file_id-CCCD": secret,
        "file_sig-CCCD": forged,
    }
    r = await visitor.post(base, data=data)
    assert r.status_code == 422
    page = unescape(r.text)
    assert "ho-so-benh-an" not in page
    assert page.count("Đã tải lên: tệp PDF, 1 KB") == 2
    # A trailing line break on an id: the file is said lost, not a server error.
    data = {**keys, "file_id-GDN": f"{secret}\n"}
    r = await visitor.post(base, data=data)
    assert r.status_code == 422, r.text
    assert field_error(r.text, "file-GDN").endswith("Hãy tải lên lại.")
    r = await visitor.post(f"{base}/gui", data=data)
    assert r.status_code == 422, r.text
    # The name the server signed comes back with the id.
    checked = await fill_and_check(visitor, api, BUSINESS)
    hidden = dict(parsed(checked.text).hidden)
    assert hidden["file_name-GDN"] == "GDN.pdf" and len(hidden["file_sig-GDN"]) == 64
    hidden["file_name-GDN"] = "ten-khac.pdf"  # a name changed by hand is not vouched for
    r = await visitor.post(f"/thu-tuc/{BUSINESS}/nop-ho-so/sua", data=hidden)
    assert "ten-khac.pdf" not in r.text and "Đã tải lên: tệp PDF" in unescape(r.text)


async def test_a_form_without_its_token_is_refused(visitor: httpx.AsyncClient) -> None:
    r = await visitor.post(f"/thu-tuc/{BUSINESS}/nop-ho-so", data={"applicant-full_name": "x"})
    assert r.status_code == 403


# ---- /tra-cuu --------------------------------------------------------------------------------


async def _lookup(client: httpx.AsyncClient, code: str, key: str) -> httpx.Response:
    token = dict(parsed((await client.get("/tra-cuu")).text).hidden)["csrf_token"]
    return await client.post("/tra-cuu", data={"csrf_token": token, "code": code, "key": key})


async def test_the_receipt_links_form_01_once_the_desk_accepts(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    created = await api.submit(COPY)
    code, key = created["code"], created["lookup_key"]
    assert (await _lookup(visitor, code, key)).status_code == 303  # the key kept in the cookie
    receipt = await visitor.get(f"/ho-so/{code}/bien-nhan")
    assert "tai-lieu" not in receipt.text and "Giấy này được cấp khi" in unescape(receipt.text)
    assert (await api.act(code, DESK, "accept")).status_code == 200
    link = await until_linked(
        visitor, f"/ho-so/{code}/bien-nhan", rf"/ho-so/{code}/tai-lieu/[0-9a-f-]+"
    )
    form_01 = await visitor.get(link)
    assert form_01.status_code == 200 and form_01.content.startswith(b"%PDF")


async def test_lookup_leads_to_the_clean_tracking_url(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    created = await api.submit(COPY)
    code, key = created["code"], created["lookup_key"]
    r = await _lookup(visitor, f" {code} ", key.lower()[:8] + " " + key.lower()[8:])  # as typed
    assert r.status_code == 303 and r.headers["location"] == f"/ho-so/{code}"
    assert f"motcua_key={key}" in r.headers["set-cookie"]
    assert f"Path=/ho-so/{code}" in r.headers["set-cookie"]


def test_a_lookup_key_is_read_as_people_type_it() -> None:
    """In groups, with dashes, in lower case; and 0, 1, 8 (not in base32) read as O, I, B."""
    secret, code = "a-secret", "000.00.15.H39-261105-0001"
    salt = next(
        s
        for s in (f"salt{i}" for i in range(1000))
        if set("OIB") & set(lookup_key(code, s, secret))
    )
    key = lookup_key(code, salt, secret)
    typed = key.translate(str.maketrans("OIB", "018")).lower()
    grouped = " ".join(typed[i : i + 4] for i in range(0, 16, 4))
    for candidate in (key, grouped, typed.replace("", "-")[1:-1], f"  {grouped}\t"):
        assert lookup_key_matches(candidate, code, salt, secret), candidate
    assert typed != key.lower()  # the case exercises 0/1/8
    for wrong in ("", key[:-1], key[:-1] + ("A" if key[-1] != "A" else "C"), key + "A"):
        assert not lookup_key_matches(wrong, code, salt, secret), wrong


async def test_the_api_and_the_pages_read_the_key_alike(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    created = await api.submit(COPY)
    code, key = created["code"], created["lookup_key"]
    typed = key.translate(str.maketrans("OIB", "018")).lower()
    typed = "-".join(typed[i : i + 4] for i in range(0, 16, 4))
    assert (await api.status(code, typed.replace("-", " ")))["code"] == code  # X-Lookup-Key
    r = await _lookup(visitor, code, typed)  # /tra-cuu
    assert r.status_code == 303 and f"motcua_key={key};" in r.headers["set-cookie"]
    async with httpx.AsyncClient(base_url=str(visitor.base_url)) as phone:
        r = await phone.get(f"/ho-so/{code}", params={"key": typed})  # the QR link
        assert r.status_code == 303 and f"motcua_key={key};" in r.headers["set-cookie"]
    hint = unescape((await visitor.get("/tra-cuu")).text)
    assert "16 ký tự (chữ và số 2–7); gõ chữ thường hoặc có dấu cách đều được." in hint


async def test_a_wrong_key_and_an_unknown_code_get_the_same_answer(
    visitor: httpx.AsyncClient, api: ApiClient
) -> None:
    created = await api.submit(COPY)
    wrong_key = await _lookup(visitor, created["code"], "AAAAAAAAAAAAAAAA")
    unknown = await _lookup(visitor, "000.00.15.H39-990101-9999", created["lookup_key"])
    assert wrong_key.status_code == unknown.status_code == 404
    assert field_error(wrong_key.text, "code") == field_error(unknown.text, "code")
    assert SAME_FOR_BOTH in field_error(unknown.text, "code")
    assert created["lookup_key"] not in unknown.text  # the key typed is never shown back
    empty = await _lookup(visitor, "", "")
    assert empty.status_code == 422 and summary_links(empty.text) == ["code", "key"]


async def test_lookup_is_throttled_with_the_api(
    settings: Settings, stack: Stack, api: ApiClient
) -> None:
    """The page's failures and the API's count together, as one limit."""
    created = await api.submit(COPY)
    strict = settings.model_copy(update={"lookup_failures_allowed": 3})
    app = create_app(strict)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.11.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for _ in range(2):
                assert (
                    await _lookup(client, created["code"], "WRONGWRONGWRONG1")
                ).status_code == 404
            r = await client.get(
                f"/api/v1/dossiers/{created['code']}", headers={"X-Lookup-Key": "WRONG"}
            )
            assert r.status_code == 404
            r = await _lookup(client, created["code"], "WRONGWRONGWRONG2")
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
            assert "Bạn đã nhập sai quá nhiều lần" in r.text


# ---- in the browser, on a phone -------------------------------------------------------------


async def test_phone_applicant_finds_submits_and_keeps_the_receipt(
    phone: Page, api: ApiClient, settings: Settings
) -> None:
    await phone.goto("/")
    await phone.get_by_label("Tìm thủ tục").fill("ho kinh doanh")
    await phone.get_by_role("button", name="Tìm", exact=True).click()
    await expect(phone.get_by_role("link", name="Đăng ký thành lập hộ kinh doanh")).to_be_visible()
    await expect(phone.get_by_role("link", name="Đăng ký khai sinh")).to_have_count(0)
    await assert_accessible(phone)
    await screenshot(phone, "portal-home")

    await phone.get_by_role("link", name="Đăng ký thành lập hộ kinh doanh").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Đăng ký thành lập hộ kinh doanh"
    )
    await assert_accessible(phone)
    await screenshot(phone, "procedure")

    await phone.get_by_role("button", name="Nộp hồ sơ trực tuyến").first.click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Nộp hồ sơ trực tuyến")
    await fill_form(phone, await procedure(api, BUSINESS), "Nhận kết quả trực tuyến")
    await assert_accessible(phone)
    await phone.evaluate("window.scrollTo(0, 0)")
    await screenshot(phone, "submission")

    await phone.get_by_role("button", name="Tiếp tục").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Kiểm tra lại trước khi gửi")
    await expect(phone.get_by_text("Hộ kinh doanh Tạp hóa Cô Ba")).to_be_visible()
    await assert_accessible(phone)
    await screenshot(phone, "check-answers")

    await phone.get_by_role("button", name="Gửi hồ sơ").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Đã nộp hồ sơ")
    await assert_accessible(phone)
    await screenshot(phone, "receipt")
    code = (await phone.locator(".panel__reference").inner_text()).strip()
    shown_key = (await phone.locator("#lookup-key").inner_text()).strip()
    key = shown_key.replace(" ", "")
    assert re.fullmatch(r"000\.00\.15\.H39-\d{6}-\d{4,}", code) and len(key) == 16
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4}){3}", shown_key)
    # The code on one line, within the phone's screen.
    box = await phone.locator(".panel__reference").bounding_box()
    size = await phone.locator(".panel__reference").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert box is not None and box["height"] < 2 * size and box["x"] + box["width"] <= 390
    # The QR code as a camera sees it on the screen.
    shot = await phone.locator("svg.qr").screenshot()
    [read] = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert read.text == f"{settings.public_base_url}/ho-so/{code}?key={key}"
    assert (await api.status(code, key))["status_code"] == 1
    # Printed for those who keep paper: one A4 sheet, with the code and the key.
    printed = await phone.pdf(format="A4")
    assert len(pdfium.PdfDocument(printed)) == 1
    paper = pdf_text(printed)
    assert code in paper and shown_key in paper
    assert "UBND xã Mỹ Yên" in paper and f"{settings.public_base_url}/tra-cuu" in paper


async def test_phone_errors_are_announced_and_lead_to_the_field(phone: Page) -> None:
    await phone.goto(f"/thu-tuc/{BUSINESS}/nop-ho-so")
    await phone.get_by_label("Họ và tên").fill("Nguyễn Văn An")
    await phone.get_by_role("button", name="Tiếp tục").click()
    summary = phone.locator(".error-summary")
    await expect(summary).to_be_focused()  # announced by screen readers
    await expect(phone).to_have_title(re.compile("^Có lỗi cần sửa"))
    await assert_accessible(phone)
    await expect(phone.get_by_label("Họ và tên")).to_have_value("Nguyễn Văn An")
    await summary.get_by_role("link", name="Nhập số điện thoại").click()
    await expect(phone.get_by_label("Số điện thoại")).to_be_focused()
    await summary.get_by_role("link", name="Chọn cách nhận kết quả").click()
    await expect(phone.locator('[id="delivery-method-1"]')).to_be_focused()


async def test_phone_a_wrong_file_is_refused_with_the_reason(phone: Page) -> None:
    await phone.goto(f"/thu-tuc/{BUSINESS}/nop-ho-so")
    fake = FilePayload(name="giay-de-nghi.pdf", mimeType="application/pdf", buffer=NOT_A_PDF)
    await phone.locator('[id="file-GDN"]').set_input_files(fake)
    await phone.get_by_role("button", name="Tiếp tục").click()
    reason = phone.locator('[id="file-GDN-error"]')
    await expect(reason).to_contain_text("“giay-de-nghi.pdf” không được nhận")
    await expect(phone.locator(".error-summary")).to_contain_text("không được nhận")
    await assert_accessible(phone)


async def test_phone_a_file_of_a_wrong_type_is_stopped_before_it_is_sent(phone: Page) -> None:
    """On a slow link the script spares the upload: a file the form cannot take is flagged
    when chosen, and the form is not sent (the server would refuse it just the same)."""
    await phone.goto(f"/thu-tuc/{BUSINESS}/nop-ho-so")
    sent: list[str] = []
    phone.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    gif = FilePayload(name="anh.gif", mimeType="image/gif", buffer=b"GIF89a")
    await phone.locator('[id="file-GDN"]').set_input_files(gif)
    await phone.get_by_role("button", name="Tiếp tục").click()
    message = await phone.locator('[id="file-GDN"]').evaluate("input => input.validationMessage")
    assert message, "the wrong file was not flagged"
    await phone.wait_for_timeout(500)
    assert sent == [], sent


async def test_phone_a_button_pressed_on_a_dead_link_comes_back(phone: Page) -> None:
    """A press disables the form's buttons (no double post); if the answer never comes (a
    poor connection), they come back after 10 seconds, or when the page is shown again from
    the back-forward cache, so the person can retry."""
    await phone.clock.install()
    await phone.goto("/tra-cuu")
    # The post goes nowhere, as on a dead link: the page stays, with its script running.
    await phone.evaluate(
        "document.querySelector('main form').addEventListener('submit', e => e.preventDefault())"
    )
    button = phone.get_by_role("button", name="Xem hồ sơ")
    await button.click()
    await expect(button).to_be_disabled()
    await phone.evaluate(
        "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
    )
    await expect(button).to_be_enabled()
    await button.click()
    await expect(button).to_be_disabled()
    await phone.clock.run_for(9_000)
    await expect(button).to_be_disabled()
    await phone.clock.run_for(1_500)
    await expect(button).to_be_enabled()


async def test_phone_lookup_with_a_wrong_key(phone: Page, api: ApiClient) -> None:
    created = await api.submit(COPY)
    await phone.goto("/")
    await phone.get_by_role("link", name="Tra cứu hồ sơ").first.click()
    await phone.get_by_label("Mã hồ sơ").fill(created["code"])
    await phone.get_by_label("Mã tra cứu").fill("AAAAAAAAAAAAAAAA")
    await phone.get_by_role("button", name="Xem hồ sơ").click()
    await expect(phone.locator(".error-summary")).to_contain_text(SAME_FOR_BOTH)
    await expect(phone.get_by_label("Mã hồ sơ")).to_have_value(created["code"])
    await assert_accessible(phone)
