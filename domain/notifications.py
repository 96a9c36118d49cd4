"""What an applicant is told when their dossier's status changes, and where."""

from datetime import datetime
from typing import Any

from domain.calendar import VN_TZ

STATUS_NAMES = {
    1: "Mới đăng ký",
    2: "Được tiếp nhận",
    3: "Không được tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}


# Statuses after which no appointment date is worth repeating.
_CLOSED = {3, 8, 9, 10}


def status_message(code: str, status_code: int, due_at: datetime) -> str:
    text = f"Hồ sơ {code}: {STATUS_NAMES[status_code]}."
    if status_code not in _CLOSED:
        text += f" Hẹn trả kết quả: {due_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}."
    return text + " Tra cứu bằng mã hồ sơ và mã tra cứu trên phiếu tiếp nhận."


def recipients(applicant: dict[str, Any]) -> list[tuple[str, str]]:
    """(channel, address) pairs from the applicant's contact details: e-mail if given, and SMS
    to the phone number."""
    found = []
    if applicant.get("email"):
        found.append(("email", str(applicant["email"])))
    if applicant.get("phone"):
        found.append(("sms", str(applicant["phone"])))
    return found
