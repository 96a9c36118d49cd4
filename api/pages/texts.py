"""Every text the pages show, in one catalog. Vietnamese first; another language is another
dictionary with the same keys (`TEXTS["en"]`), chosen in `text()`.

Keys are dotted by page area. Templates call `t("key")`; texts with `{placeholders}` are
formatted with keyword arguments: `t("receipt.appointment", date=...)`.
"""

from typing import Final

LANGUAGE: Final = "vi"

VI: dict[str, str] = {
    # ---- layout ---------------------------------------------------------------------------
    "site.name": "Dịch vụ công một cửa",
    "site.skip": "Bỏ qua, đến nội dung chính",
    "site.nav.procedures": "Thủ tục hành chính",
    "site.nav.track": "Tra cứu hồ sơ",
    "site.nav.officials": "Dành cho cán bộ",
    "site.footer": "Hệ thống một cửa điện tử — hồ sơ được xử lý theo Nghị định 61/2018/NĐ-CP "
    "và Nghị định 107/2021/NĐ-CP.",
    "site.back": "Quay lại",
    "site.error_summary": "Có lỗi cần sửa",
    "site.required": "bắt buộc",
    "site.optional": "không bắt buộc",
    "site.continue": "Tiếp tục",
    "site.change": "Sửa",
    "site.yes": "Có",
    "site.no": "Không",
    # ---- generic errors -------------------------------------------------------------------
    "error.title": "Có lỗi xảy ra",
    "error.not_found": "Không tìm thấy trang bạn cần.",
    "error.csrf": "Trang này đã mở quá lâu hoặc được gửi từ nơi khác. Vui lòng tải lại trang "
    "và gửi lại.",
    "error.unavailable": "Hệ thống đang tạm gián đoạn. Vui lòng thử lại sau ít phút; "
    "thông tin bạn đã gửi chưa được ghi nhận.",
    "error.throttled": "Bạn đã nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
    "error.internal": "Hệ thống gặp sự cố. Mã yêu cầu: {request_id}.",
    "error.home": "Về trang chủ",
    # ---- national statuses (1–10) ----------------------------------------------------------
    "status.1": "Mới nộp, chờ tiếp nhận",
    "status.2": "Đã tiếp nhận",
    "status.3": "Không được tiếp nhận",
    "status.4": "Đang xử lý",
    "status.5": "Chờ bổ sung hồ sơ",
    "status.6": "Chờ nộp phí, lệ phí",
    "status.7": "Đang xin rút hồ sơ",
    "status.8": "Đã dừng xử lý",
    "status.9": "Đã có kết quả, chờ trả",
    "status.10": "Đã trả kết quả",
    # ---- procedure levels and delivery ------------------------------------------------------
    "level.full": "Toàn trình",
    "level.partial": "Một phần",
    "level.full.hint": "Nộp, nộp phí và nhận kết quả trực tuyến",
    "level.partial.hint": "Nộp trực tuyến; nộp phí và nhận kết quả tại Bộ phận Một cửa "
    "hoặc qua bưu chính",
    "delivery.online": "Nhận kết quả trực tuyến",
    "delivery.counter": "Nhận tại Bộ phận Một cửa",
    "delivery.post": "Nhận qua bưu chính",
    "channel.online": "Trực tuyến",
    "channel.counter": "Tại Bộ phận Một cửa",
    "channel.post": "Qua bưu chính",
    "fee.none": "Miễn phí",
    # ---- timeliness -------------------------------------------------------------------------
    "timeliness.early": "Trước hạn",
    "timeliness.on_time": "Đúng hạn",
    "timeliness.late": "Quá hạn",
    "timeliness.due_soon": "Sắp đến hạn",
    # ---- officials' actions (tests rely on these labels) -----------------------------------
    "action.accept": "Tiếp nhận",
    "action.refuse": "Từ chối",
    "action.request_supplement": "Yêu cầu bổ sung",
    "action.approve": "Duyệt",
    "action.reject": "Không duyệt",
    "action.return": "Trả lại bước trước",
    "action.confirm_payment": "Xác nhận đã thu phí",
    "action.deliver": "Trả kết quả",
    "action.confirm_withdrawal": "Xác nhận rút hồ sơ",
    "action.consult": "Lấy ý kiến phối hợp",
    "action.reassign": "Chuyển cho cán bộ khác",
    "action.extend": "Xin lỗi và hẹn lại ngày trả",
    # ---- portal (applicants) ---------------------------------------------------------------
    # ---- tracking (applicants) -------------------------------------------------------------
    # ---- back office (officials) -----------------------------------------------------------
    "officials.service_name": "Một cửa — Cán bộ",
    "officials.nav.inbox": "Hồ sơ cần xử lý",
    "officials.nav.counter": "Tiếp nhận tại quầy",
    "officials.nav.dashboard": "Thống kê",
    "officials.nav.logout": "Đăng xuất",
    "officials.footer": "Mọi thao tác và lượt xem hồ sơ đều được ghi nhật ký.",
    # ---- counter registration (the desk) -----------------------------------------------------
    # ---- dashboard (leaders) ---------------------------------------------------------------
}

TEXTS: dict[str, dict[str, str]] = {"vi": VI}


def text(key: str, /, language: str = LANGUAGE, **values: object) -> str:
    """The text under `key`, formatted with `values`. A missing key shows itself (and fails the
    test that renders it) rather than breaking the page."""
    template = TEXTS[language].get(key)
    if template is None:
        return f"[{key}]"
    return template.format(**values) if values else template
