"""The decision issued at the end of review: the result document, or a written refusal.

Plain UTF-8 text for now; every document carries the fields its QR code will encode (dossier
code, procedure code, a hash of the applicant's ID, document name, issuing system, issue time).
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from domain.calendar import VN_TZ

ISSUING_SYSTEM = "motcua"

_NAMES = {
    "result": "Kết quả giải quyết thủ tục hành chính",
    "refusal": "Văn bản từ chối giải quyết hồ sơ",
}


@dataclass
class RenderedDocument:
    name: str
    content_type: str
    content: bytes


def render_decision(
    *,
    kind: str,
    dossier_code: str,
    procedure_code: str,
    applicant_name: str,
    applicant_id: str,
    note: str | None,
    issued_at: datetime,
) -> RenderedDocument:
    name = _NAMES[kind]
    stamp = {
        "dossier_code": dossier_code,
        "procedure_code": procedure_code,
        "applicant_id_sha256": hashlib.sha256(applicant_id.encode()).hexdigest(),
        "document": name,
        "issuer": ISSUING_SYSTEM,
        "issued_at": issued_at.isoformat(),
    }
    lines = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "",
        name.upper(),
        "",
        f"Mã hồ sơ: {dossier_code}",
        f"Thủ tục: {procedure_code}",
        f"Người nộp: {applicant_name}",
        f"Ngày cấp: {issued_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}",
    ]
    if note:
        lines += ["", f"{'Lý do' if kind == 'refusal' else 'Ghi chú'}: {note}"]
    lines += ["", f"QR: {json.dumps(stamp, ensure_ascii=False, sort_keys=True)}", ""]
    return RenderedDocument(name, "text/plain; charset=utf-8", "\n".join(lines).encode("utf-8"))
