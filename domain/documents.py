"""The one-stop desk's documents, as A4 PDF in Vietnamese, each with a QR code.

Forms 01 to 06 of the one-stop procedure, the result of the procedure and the written refusal at
review. `render_document(kind, context)` is a pure function: the same kind and context give the
same bytes, because a document is stored once by its content hash and a retried activity must
produce the document it already stored.

The QR code carries `qr_fields`: the dossier and procedure codes, a keyed hash (HMAC-SHA256) of the
applicant's ID number (never the number itself), the document's title, the issuing system and the
issue time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import font_roboto
import qrcode
from fpdf import FPDF
from fpdf.fonts import FontFace
from pydantic import TypeAdapter

from domain.calendar import VN_TZ
from domain.dossier import DocumentKind

ISSUING_SYSTEM = "motcua"


TITLES: dict[DocumentKind, str] = {
    DocumentKind.RECEIPT: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    DocumentKind.SUPPLEMENT_REQUEST: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    DocumentKind.INTAKE_REFUSAL: "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
    DocumentKind.APOLOGY: "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
    DocumentKind.CONTROL_SLIP: "Phiếu kiểm soát quá trình giải quyết hồ sơ",
    DocumentKind.RESULT: "Kết quả giải quyết thủ tục hành chính",
    DocumentKind.REFUSAL: "Văn bản từ chối giải quyết hồ sơ",
}

# The control slip's words for the workflow's timeliness of a finished step.
TIMELINESS_LABELS = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}


@dataclass(frozen=True)
class ControlSlipRow:
    """One handover or action on the processing control slip."""

    step_name: str
    from_unit: str
    to_unit: str
    person: str
    at: datetime
    timeliness: str | None = None  # a key of TIMELINESS_LABELS; None while the step runs


@dataclass(frozen=True)
class DocumentContext:
    """Everything a document shows. Each kind reads the fields it needs; times must be aware."""

    agency_name: str
    procedure_code: str
    procedure_name: str
    dossier_code: str
    applicant_name: str
    # HMAC-SHA256 of the citizen ID number (or tax code) under the agency's key: the number
    # never reaches a document, nor the context stored to render one, and a plain hash of a
    # 12-digit number would be reversed in minutes. The agency, holding the key, can check it.
    applicant_id_hmac: str
    received_at: datetime
    due_at: datetime
    issued_at: datetime
    issued_by: str | None = None  # the official's username; None when the system issues it
    components: list[str] = field(default_factory=list)
    missing_components: list[str] = field(default_factory=list)
    # The official's note (supplement request, result), or the reason (refusals, apology).
    note: str | None = None
    new_due_at: datetime | None = None
    slip_rows: list[ControlSlipRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        times = [self.received_at, self.due_at, self.issued_at, self.new_due_at]
        times += [row.at for row in self.slip_rows]
        if any(t is not None and t.utcoffset() is None for t in times):
            raise ValueError("document times must carry a time zone")


@dataclass
class RenderedDocument:
    """A document ready to store: its title, its media type, its bytes."""

    name: str
    content_type: str
    content: bytes


def applicant_id_hmac(id_number: str, key: bytes) -> str:
    return hmac.new(key, id_number.encode(), hashlib.sha256).hexdigest()


_CONTEXT = TypeAdapter(DocumentContext)


def context_to_json(context: DocumentContext) -> dict[str, Any]:
    """The context as stored with an issued document, to render it from later."""
    stored: dict[str, Any] = _CONTEXT.dump_python(context, mode="json")
    return stored


def context_from_json(stored: dict[str, Any]) -> DocumentContext:
    return _CONTEXT.validate_python(stored)


def qr_fields(kind: DocumentKind, context: DocumentContext) -> dict[str, str]:
    """What the document's QR code encodes, as a compact JSON object."""
    return {
        "dossier_code": context.dossier_code,
        "procedure_code": context.procedure_code,
        "applicant_id_hmac_sha256": context.applicant_id_hmac,
        "document": TITLES[kind],
        "issuer": ISSUING_SYSTEM,
        "issued_at": context.issued_at.astimezone(VN_TZ).isoformat(),
    }


def render_document(kind: DocumentKind, context: DocumentContext) -> RenderedDocument:
    """The document of `kind` for `context`: a PDF named by its title."""
    _check_required(kind, context)
    title = TITLES[kind]
    payload = json.dumps(qr_fields(kind, context), ensure_ascii=False, separators=(",", ":"))
    sheet = _Sheet(qr_matrix=qr_matrix(payload), issued_at=context.issued_at)
    sheet.set_title(title)
    sheet.add_page()
    _national_heading(sheet, context)
    sheet.set_font(style="B", size=14)
    sheet.multi_cell(0, 7, title.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    sheet.ln(5)
    _BODIES[kind](sheet, context)
    if kind in _SIGNERS:
        _signature(sheet, _SIGNERS[kind], context.issued_by)
    return RenderedDocument(
        name=title, content_type="application/pdf", content=bytes(sheet.output())
    )


def _check_required(kind: DocumentKind, context: DocumentContext) -> None:
    reasoned = (DocumentKind.INTAKE_REFUSAL, DocumentKind.REFUSAL, DocumentKind.APOLOGY)
    if kind in reasoned and not context.note:
        raise ValueError(f"a {kind} must state its reason")
    if kind == DocumentKind.APOLOGY and context.new_due_at is None:
        raise ValueError("an apology must give the new appointment")


def qr_matrix(payload: str) -> list[list[bool]]:
    # Level M survives a stain or a fold on a printed copy; the 4-module border is the quiet zone.
    # A fixed mask: choosing the best of eight took a sixth of a document's rendering time,
    # and any mask reads.
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=0
    )
    code.add_data(payload)
    code.make(fit=True)
    return code.get_matrix()


# Page layout, in millimetres.
MARGIN = 15
QR_SIZE = 36
FOOTER_HEIGHT = QR_SIZE + 8

# Roboto by style, from the font-roboto package: it has every Vietnamese letter in all three.
FONT_FILES = {
    "": font_roboto.font_files["Roboto"],
    "B": font_roboto.font_files["RobotoBold"],
    "I": font_roboto.font_files["RobotoItalic"],
}


class _Sheet(FPDF):
    """An A4 page in Roboto, with the QR code and the page number in the footer of every page."""

    def __init__(self, qr_matrix: list[list[bool]], issued_at: datetime) -> None:
        super().__init__(format="A4", unit="mm")
        self._qr_matrix = qr_matrix
        self._issued_at = issued_at
        # fpdf2 would stamp the current time, and the file id hashes it: the issue time, in one
        # time zone whatever the caller's, keeps two renderings of the same document identical.
        self.set_creation_date(issued_at.astimezone(VN_TZ))
        self.set_creator(ISSUING_SYSTEM)
        self.set_lang("vi")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + FOOTER_HEIGHT)
        for style, path in FONT_FILES.items():
            self.add_font("Roboto", style, path)
        self.set_font("Roboto", size=11)

    def normalize_text(self, text: str) -> str:
        # Names typed on some systems arrive decomposed (base letter + combining tone mark);
        # the font's precomposed Vietnamese letters only render them well once composed.
        return super().normalize_text(unicodedata.normalize("NFC", text))

    def footer(self) -> None:
        top = self.h - MARGIN - QR_SIZE
        module = QR_SIZE / len(self._qr_matrix)
        # One rectangle per run of dark modules keeps the page stream small.
        for row_index, row in enumerate(self._qr_matrix):
            column = 0
            while column < len(row):
                if not row[column]:
                    column += 1
                    continue
                start = column
                while column < len(row) and row[column]:
                    column += 1
                self.rect(
                    MARGIN + start * module,
                    top + row_index * module,
                    (column - start) * module,
                    module,
                    style="F",
                )
        line_height = 4.5
        self.set_xy(MARGIN + QR_SIZE + 2, top + (QR_SIZE - 3 * line_height) / 2)
        self.set_font(style="I", size=9)
        self.multi_cell(
            0,
            line_height,
            f"Văn bản điện tử do hệ thống {ISSUING_SYSTEM} cấp lúc {_time(self._issued_at)}.\n"
            "Quét mã QR để đối chiếu thông tin hồ sơ.\n"
            f"Trang {self.page_no()}/{{nb}}",
        )


def _time(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def _national_heading(sheet: _Sheet, context: DocumentContext) -> None:
    """The agency on the left; on the right, the national motto and the date of issue."""
    top = sheet.get_y()
    left_width = 75
    sheet.set_font(style="B", size=11)
    sheet.multi_cell(left_width, 5.5, context.agency_name.upper(), align="C")
    agency_bottom = sheet.get_y()
    sheet.set_xy(MARGIN + left_width, top)
    right_width = sheet.epw - left_width
    sheet.multi_cell(right_width, 5.5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C")
    sheet.set_x(MARGIN + left_width)
    sheet.multi_cell(right_width, 5.5, "Độc lập - Tự do - Hạnh phúc", align="C")
    sheet.set_x(MARGIN + left_width)
    issued = context.issued_at.astimezone(VN_TZ)
    sheet.set_font(style="I", size=11)
    sheet.multi_cell(
        right_width,
        7,
        f"ngày {issued:%d} tháng {issued:%m} năm {issued:%Y}",
        align="C",
    )
    sheet.set_y(max(agency_bottom, sheet.get_y()) + 6)


def _line(sheet: _Sheet, label: str, value: str, *, strong: bool = False) -> None:
    sheet.set_font(style="", size=11)
    sheet.write(6, f"{label}: ")
    sheet.set_font(style="B" if strong else "", size=11)
    sheet.write(6, value)
    sheet.ln(7)


def _paragraph(sheet: _Sheet, text: str) -> None:
    sheet.set_font(style="", size=11)
    sheet.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    sheet.ln(1)


def _numbered(sheet: _Sheet, items: list[str]) -> None:
    sheet.set_font(style="", size=11)
    for number, item in enumerate(items, start=1):
        sheet.set_x(MARGIN + 6)
        sheet.multi_cell(0, 6, f"{number}. {item}", new_x="LMARGIN", new_y="NEXT")
    sheet.ln(1)


def _dossier(sheet: _Sheet, context: DocumentContext) -> None:
    """The lines every document opens with: which dossier, which procedure, whose."""
    _line(sheet, "Mã hồ sơ", context.dossier_code, strong=True)
    _line(sheet, "Thủ tục hành chính", f"{context.procedure_name} ({context.procedure_code})")
    _line(sheet, "Người nộp hồ sơ", context.applicant_name, strong=True)
    _line(sheet, "Thời gian nhận hồ sơ", _time(context.received_at))


def _receipt(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _paragraph(sheet, "Thành phần hồ sơ đã tiếp nhận:")
    _numbered(sheet, context.components)
    _line(sheet, "Thời gian hẹn trả kết quả", _time(context.due_at), strong=True)


def _supplement_request(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _paragraph(sheet, "Hồ sơ cần bổ sung, hoàn thiện các thành phần sau:")
    _numbered(sheet, context.missing_components)
    if context.note:
        _line(sheet, "Ghi chú", context.note)
    _line(sheet, "Cán bộ yêu cầu", context.issued_by or ISSUING_SYSTEM)
    _line(sheet, "Thời gian yêu cầu", _time(context.issued_at))
    # The applicant's time spent supplementing stops the processing clock: tell them so.
    _paragraph(
        sheet,
        "Thời gian bổ sung, hoàn thiện hồ sơ không tính vào thời hạn giải quyết hồ sơ.",
    )


def _intake_refusal(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _paragraph(
        sheet,
        "Qua xem xét, cơ quan tiếp nhận từ chối tiếp nhận, giải quyết hồ sơ này với lý do:",
    )
    _paragraph(sheet, context.note or "")


def _apology(sheet: _Sheet, context: DocumentContext) -> None:
    assert context.new_due_at is not None  # checked by _check_required
    _dossier(sheet, context)
    _line(sheet, "Thời gian hẹn trả kết quả", _time(context.due_at))
    _line(sheet, "Lý do chậm trễ", context.note or "")
    _paragraph(
        sheet,
        "Sự chậm trễ này đã gây phiền hà cho ông/bà. Cơ quan giải quyết hồ sơ xin lỗi ông/bà "
        "và hẹn lại thời gian trả kết quả.",
    )
    _line(sheet, "Thời gian hẹn trả kết quả mới", _time(context.new_due_at), strong=True)


def _control_slip(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _line(sheet, "Thời gian hẹn trả kết quả", _time(context.due_at))
    sheet.ln(2)
    sheet.set_font(style="", size=9)
    headings = ("Bước", "Bên giao", "Bên nhận", "Người thực hiện", "Thời gian", "Kết quả")
    with sheet.table(
        col_widths=(30, 24, 24, 22, 24, 16),
        text_align="LEFT",
        line_height=4.5,
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        table.row(headings)
        for row in context.slip_rows:
            result = TIMELINESS_LABELS[row.timeliness] if row.timeliness else ""
            table.row(
                (row.step_name, row.from_unit, row.to_unit, row.person, _time(row.at), result)
            )


def _result(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _paragraph(
        sheet,
        "Cơ quan đã giải quyết xong hồ sơ và chấp thuận yêu cầu của người nộp hồ sơ.",
    )
    if context.note:
        _line(sheet, "Ghi chú", context.note)


def _refusal(sheet: _Sheet, context: DocumentContext) -> None:
    _dossier(sheet, context)
    _paragraph(sheet, "Qua thẩm định, cơ quan từ chối giải quyết hồ sơ này với lý do:")
    _paragraph(sheet, context.note or "")


_BODIES: dict[DocumentKind, Callable[[_Sheet, DocumentContext], None]] = {
    DocumentKind.RECEIPT: _receipt,
    DocumentKind.SUPPLEMENT_REQUEST: _supplement_request,
    DocumentKind.INTAKE_REFUSAL: _intake_refusal,
    DocumentKind.APOLOGY: _apology,
    DocumentKind.CONTROL_SLIP: _control_slip,
    DocumentKind.RESULT: _result,
    DocumentKind.REFUSAL: _refusal,
}

# Who signs, per the forms. The control slip has no signer of its own: each row names who acted.
_SIGNERS: dict[DocumentKind, str] = {
    DocumentKind.RECEIPT: "NGƯỜI TIẾP NHẬN HỒ SƠ",
    DocumentKind.SUPPLEMENT_REQUEST: "NGƯỜI TIẾP NHẬN HỒ SƠ",
    DocumentKind.INTAKE_REFUSAL: "NGƯỜI TIẾP NHẬN HỒ SƠ",
    DocumentKind.APOLOGY: "CƠ QUAN GIẢI QUYẾT HỒ SƠ",
    DocumentKind.RESULT: "CƠ QUAN GIẢI QUYẾT HỒ SƠ",
    DocumentKind.REFUSAL: "CƠ QUAN GIẢI QUYẾT HỒ SƠ",
}


def _signature(sheet: _Sheet, signer: str, official: str | None) -> None:
    sheet.ln(6)
    width = 80
    sheet.set_x(sheet.w - MARGIN - width)
    sheet.set_font(style="B", size=11)
    sheet.multi_cell(width, 6, signer, align="C")
    sheet.set_x(sheet.w - MARGIN - width)
    sheet.set_font(style="I", size=10)
    sheet.multi_cell(width, 6, "(Ký, ghi rõ họ tên)", align="C")
    if official:
        sheet.ln(14)
        sheet.set_x(sheet.w - MARGIN - width)
        sheet.set_font(style="B", size=11)
        sheet.multi_cell(width, 6, official, align="C")
