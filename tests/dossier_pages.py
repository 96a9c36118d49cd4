"""What the page tests of the dossier form share: reading the pages as a browser without
JavaScript does (hidden inputs, error summary, field errors), filling the form over HTTP and
in the phone's browser, and reading the QR code as a camera does."""

import asyncio
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import FilePayload, Page
from sqlalchemy import func, select

from store.db import Sessionmaker
from store.models import Dossier
from tests.client import APPLICANT, ApiClient, declaration

BUSINESS = "1.001612"  # full online, three components (one optional), a declaration form
COPY = "2.000815"  # partial online, one component
LAND = "1.012778"  # another agency's
PDF = b"%PDF-1.4\n% a scanned page\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
NOT_A_PDF = b"Xin chao, day khong phai PDF"
SAME_FOR_BOTH = "Mã hồ sơ hoặc mã tra cứu không đúng."


class _Inputs(HTMLParser):
    """The hidden inputs, the links and the ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "input" and a.get("type") == "hidden":
            self.hidden.append((str(a["name"]), a.get("value") or ""))
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))


def parsed(html: str) -> _Inputs:
    inputs = _Inputs()
    inputs.feed(html)
    return inputs


def summary_links(html: str) -> list[str]:
    """The error summary's links, in order."""
    block = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert block, "no error summary"
    return re.findall(r'href="#([^"]+)"', block.group(0))


def field_error(html: str, input_id: str) -> str:
    found = re.search(
        rf'<p class="field__error" id="{re.escape(input_id)}-error">(.*?)</p>', html, re.S
    )
    assert found, f"no error on {input_id}"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


async def procedure(api: ApiClient, code: str) -> dict[str, Any]:
    return await api.procedure(code)


def answers(fields: list[dict[str, Any]]) -> dict[str, str]:
    """A valid declaration form, as a person types it into the page."""
    return {f"form-{name}": str(value) for name, value in declaration(fields).items()}


def applicant_inputs(**changes: str) -> dict[str, str]:
    values = {f"applicant-{k}": v for k, v in APPLICANT.items()}
    return {**values, **{f"applicant-{k}": v for k, v in changes.items()}}


async def open_form(client: httpx.AsyncClient, path: str) -> dict[str, str]:
    """The form page's token and request key, as a browser gets them."""
    r = await client.get(path)
    assert r.status_code == 200, r.text
    hidden = dict(parsed(r.text).hidden)
    return {"csrf_token": hidden["csrf_token"], "request_key": hidden["request_key"]}


async def fill_and_check(
    client: httpx.AsyncClient,
    api: ApiClient,
    code: str,
    base: str | None = None,
    delivery: str = "online",
    **changes: str,
) -> httpx.Response:
    """The whole form posted, every component's file chosen: the check-answers page."""
    base = base or f"/thu-tuc/{code}/nop-ho-so"
    keys = await open_form(client, base)
    spec = await procedure(api, code)
    data = {
        **keys,
        **applicant_inputs(),
        **answers(spec["form"]),
        "delivery-method": delivery,
        **changes,
    }
    files = {
        f"file-{c['code']}": (f"{c['code']}.pdf", PDF, "application/pdf")
        for c in spec["components"]
    }
    return await client.post(base, data=data, files=files)


async def confirm(
    client: httpx.AsyncClient, check_answers: httpx.Response, send: str
) -> httpx.Response:
    """ "Gửi hồ sơ" on the check-answers page: its hidden inputs posted back."""
    assert check_answers.status_code == 200, check_answers.text
    return await client.post(send, data=dict(parsed(check_answers.text).hidden))


def qr_text(svg: str) -> str:
    """What a phone's camera reads from the page's QR code (its modules drawn 8 pixels each)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)", svg):
        box = (int(x) * scale, int(y) * scale, (int(x) + int(run)) * scale, (int(y) + 1) * scale)
        image.paste(0, box)
    [code] = zxingcpp.read_barcodes(image)
    return str(code.text)


def receipt_key(html: str) -> str:
    """The lookup key on a receipt, shown in groups of four (KVLB NXMY R6VO N4C6)."""
    found = re.search(
        r'<p class="key-box__value" id="lookup-key">([A-Z2-7]{4}(?: [A-Z2-7]{4}){3})</p>', html
    )
    assert found, "no lookup key on the page, in groups of four"
    return found.group(1).replace(" ", "")


async def until_linked(client: httpx.AsyncClient, path: str, pattern: str) -> str:
    """The link matching `pattern` once the page at `path` shows it (20 s at most): a document
    the workflow issues shortly after an action."""
    async with asyncio.timeout(20):
        while True:
            found = re.search(f'href="({pattern})"', (await client.get(path)).text)
            if found:
                return found.group(1)
            await asyncio.sleep(0.2)


async def dossiers_with_key(sessionmaker: Sessionmaker, request_key: str) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Dossier).where(Dossier.idempotency_key == request_key)
        )
    return int(count or 0)


async def signed_in(client: httpx.AsyncClient, username: str, password: str) -> None:
    token = dict(parsed((await client.get("/can-bo/dang-nhap")).text).hidden)["csrf_token"]
    data = {"csrf_token": token, "username": username, "password": password}
    r = await client.post("/can-bo/dang-nhap", data=data)
    assert r.status_code == 303, r.text


async def fill_form(phone: Page, spec: dict[str, Any], delivery: str) -> None:
    """Every field of the page's form filled as a person does it, every component's file
    chosen."""
    await phone.get_by_label("Cá nhân", exact=True).check()
    for name, label in (
        ("full_name", "Họ và tên"),
        ("id_number", "Số căn cước công dân"),
        ("phone", "Số điện thoại"),
        ("email", "Thư điện tử"),
        ("address", "Địa chỉ liên hệ"),
    ):
        await phone.get_by_label(label).fill(str(APPLICANT[name]))
    values = declaration(spec["form"])
    for f in spec["form"]:
        if f["name"] not in values:
            continue
        value = str(values[f["name"]])
        if f["type"] == "choice":
            await phone.locator(f'[id="form-{f["name"]}-{f["choices"].index(value) + 1}"]').check()
        else:
            await phone.locator(f'[id="form-{f["name"]}"]').fill(value)
    for c in spec["components"]:
        upload = FilePayload(
            name=f"{c['code'].lower()}.pdf", mimeType="application/pdf", buffer=PDF
        )
        await phone.locator(f'[id="file-{c["code"]}"]').set_input_files(upload)
    await phone.get_by_label(delivery).check()
