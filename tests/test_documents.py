"""The desk's documents, read back as a reader would: the PDF's text, and its QR code scanned
from a raster of the first page."""

import dataclasses
import hmac
import json
import os
import pickle
import shutil
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from fontTools.ttLib import TTFont

from domain.calendar import VN_TZ
from domain.documents import (
    FONT_FILES,
    ISSUING_SYSTEM,
    TITLES,
    ControlSlipRow,
    DocumentContext,
    RenderedDocument,
    applicant_id_hmac,
    qr_fields,
    render_document,
)
from domain.dossier import DocumentKind
from tests.client import pdf_text

APPLICANT = "Nguyễn Thị Hồng Nhung"
APPLICANT_ID = "079190001234"
KEY = b"the agency's document key"
NOTE = "Hồ sơ thiếu xác nhận của cơ quan y tế"

CONTEXT = DocumentContext(
    agency_name="Ủy ban nhân dân phường Bến Nghé",
    procedure_code="1.001193",
    procedure_name="Đăng ký khai sinh",
    dossier_code="000.00.01.H29-250305-0001",
    applicant_name=APPLICANT,
    applicant_id_hmac=applicant_id_hmac(APPLICANT_ID, KEY),
    received_at=datetime(2025, 3, 5, 9, 30, tzinfo=VN_TZ),
    due_at=datetime(2025, 3, 10, 16, 0, tzinfo=VN_TZ),
    issued_at=datetime(2025, 3, 5, 9, 35, tzinfo=VN_TZ),
    issued_by="le.van.tam",
    components=["Tờ khai đăng ký khai sinh", "Giấy chứng sinh"],
    missing_components=["Giấy chứng nhận kết hôn của cha mẹ (bản sao)"],
    note=NOTE,
    new_due_at=datetime(2025, 3, 12, 16, 0, tzinfo=VN_TZ),
    slip_rows=[
        ControlSlipRow(
            "Tiếp nhận hồ sơ",
            "Bộ phận một cửa",
            "Phòng Tư pháp",
            "le.van.tam",
            datetime(2025, 3, 5, 9, 35, tzinfo=VN_TZ),
            "early",
        ),
        ControlSlipRow(
            "Thẩm định hồ sơ",
            "Phòng Tư pháp",
            "Lãnh đạo UBND",
            "tran.thi.hoa",
            datetime(2025, 3, 7, 10, 0, tzinfo=VN_TZ),
            "on_time",
        ),
        ControlSlipRow(
            "Phê duyệt",
            "Lãnh đạo UBND",
            "Bộ phận một cửa",
            "pham.van.an",
            datetime(2025, 3, 11, 8, 0, tzinfo=VN_TZ),
            "late",
        ),
    ],
)

# What each kind must say besides the dossier, the applicant and its title.
PARTICULARS: dict[DocumentKind, list[str]] = {
    DocumentKind.RECEIPT: ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh", "10/03/2025 16:00"],
    DocumentKind.SUPPLEMENT_REQUEST: [
        "Giấy chứng nhận kết hôn của cha mẹ (bản sao)",
        NOTE,
        "le.van.tam",
        "05/03/2025 09:35",
    ],
    DocumentKind.INTAKE_REFUSAL: [NOTE],
    DocumentKind.APOLOGY: ["10/03/2025 16:00", "12/03/2025 16:00", NOTE],
    DocumentKind.CONTROL_SLIP: ["Thẩm định hồ sơ", "Trước hạn", "Đúng hạn", "Quá hạn"],
    DocumentKind.RESULT: ["Đăng ký khai sinh"],
    DocumentKind.REFUSAL: [NOTE],
}


def test_the_font_has_every_vietnamese_letter_in_every_style() -> None:
    vowels = "aăâeêioôơuưy"
    # ngang (none), huyền, sắc, ngã, hỏi, nặng
    tone_marks = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]
    letters = {unicodedata.normalize("NFC", v + mark) for v in vowels for mark in tone_marks}
    letters |= {"đ"}
    letters |= {letter.upper() for letter in letters}
    assert len(letters) == 146 and all(len(letter) == 1 for letter in letters)

    for path in FONT_FILES.values():
        covered = TTFont(path).getBestCmap()
        assert [letter for letter in letters if ord(letter) not in covered] == []


@pytest.fixture(scope="module")
def rendered() -> dict[DocumentKind, RenderedDocument]:
    return {kind: render_document(kind, CONTEXT) for kind in DocumentKind}


def _scan_first_page(content: bytes) -> list[str]:
    image = pdfium.PdfDocument(content)[0].render(scale=2).to_pil()
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext not installed")
@pytest.mark.parametrize("kind", list(DocumentKind))
def test_pdftotext_reads_the_dossier_code_and_the_vietnamese_text(
    kind: DocumentKind, rendered: dict[DocumentKind, RenderedDocument], tmp_path: Path
) -> None:
    """The same with poppler's reader, where it is installed (it is not a pip package)."""
    path = tmp_path / f"{kind}.pdf"
    path.write_bytes(rendered[kind].content)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    text = " ".join(text.split())
    assert CONTEXT.dossier_code in text and APPLICANT in text and TITLES[kind].upper() in text


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_document_reads_back_in_vietnamese_with_its_qr_code(
    kind: DocumentKind, rendered: dict[DocumentKind, RenderedDocument]
) -> None:
    document = rendered[kind]

    assert document.name == TITLES[kind]
    assert document.content_type == "application/pdf"
    text = pdf_text(document.content)
    for expected in [CONTEXT.dossier_code, TITLES[kind].upper(), APPLICANT, *PARTICULARS[kind]]:
        assert expected in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "ỦY BAN NHÂN DÂN PHƯỜNG BẾN NGHÉ" in text

    [scanned] = _scan_first_page(document.content)
    assert json.loads(scanned) == qr_fields(kind, CONTEXT)
    assert APPLICANT_ID not in text
    assert APPLICANT_ID not in scanned
    assert APPLICANT_ID.encode() not in document.content


def test_qr_fields_hash_the_applicant_id_and_give_the_issue_time_in_vietnam() -> None:
    utc_issue = dataclasses.replace(CONTEXT, issued_at=datetime(2025, 3, 5, 2, 35, tzinfo=UTC))

    assert qr_fields(DocumentKind.RESULT, utc_issue) == {
        "dossier_code": "000.00.01.H29-250305-0001",
        "procedure_code": "1.001193",
        "applicant_id_hmac_sha256": hmac.new(KEY, APPLICANT_ID.encode(), "sha256").hexdigest(),
        "document": "Kết quả giải quyết thủ tục hành chính",
        "issuer": ISSUING_SYSTEM,
        "issued_at": "2025-03-05T09:35:00+07:00",
    }


def test_every_page_of_a_long_control_slip_carries_the_qr_code() -> None:
    long_slip = dataclasses.replace(CONTEXT, slip_rows=CONTEXT.slip_rows * 20)
    content = render_document(DocumentKind.CONTROL_SLIP, long_slip).content

    pdf = pdfium.PdfDocument(content)
    assert len(pdf) > 1
    last_page = pdf[len(pdf) - 1].render(scale=2).to_pil()
    [scanned] = [barcode.text for barcode in zxingcpp.read_barcodes(last_page)]
    assert json.loads(scanned) == qr_fields(DocumentKind.CONTROL_SLIP, long_slip)


def test_decomposed_diacritics_are_rendered_composed() -> None:
    decomposed = unicodedata.normalize("NFD", APPLICANT)
    assert decomposed != APPLICANT

    document = render_document(
        DocumentKind.RECEIPT, dataclasses.replace(CONTEXT, applicant_name=decomposed)
    )

    assert APPLICANT in pdf_text(document.content)


def test_rendering_is_deterministic(rendered: dict[DocumentKind, RenderedDocument]) -> None:
    """Same document, same bytes: in one process, whatever time zone the issue time is given in,
    and in another process with another hash seed (a retried activity on another worker)."""
    in_utc = dataclasses.replace(CONTEXT, issued_at=CONTEXT.issued_at.astimezone(UTC))
    here = {kind: document.content for kind, document in rendered.items()}

    assert (
        render_document(DocumentKind.CONTROL_SLIP, in_utc).content
        == here[DocumentKind.CONTROL_SLIP]
    )
    elsewhere = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle, sys\n"
            "from domain.documents import render_document\n"
            "from domain.dossier import DocumentKind\n"
            "context = pickle.load(sys.stdin.buffer)\n"
            "pickle.dump({k: render_document(k, context).content for k in DocumentKind},"
            " sys.stdout.buffer)",
        ],
        input=pickle.dumps(CONTEXT),
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert pickle.loads(elsewhere.stdout) == here


@pytest.mark.parametrize(
    ("kind", "change", "complaint"),
    [
        (DocumentKind.REFUSAL, {"note": None}, "reason"),
        (DocumentKind.INTAKE_REFUSAL, {"note": ""}, "reason"),
        (DocumentKind.APOLOGY, {"new_due_at": None}, "new appointment"),
    ],
)
def test_a_document_missing_what_its_form_requires_is_not_rendered(
    kind: DocumentKind, change: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        render_document(kind, dataclasses.replace(CONTEXT, **change))  # type: ignore[arg-type]


def test_times_without_a_time_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        dataclasses.replace(CONTEXT, due_at=datetime(2025, 3, 10, 16, 0))
