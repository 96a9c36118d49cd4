"""A small client of the HTTP API for the tests: what an applicant's portal and an official's
screen would send."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pypdfium2 as pdfium

APPLICANT = {
    "kind": "individual",
    "full_name": "Nguyễn Văn An",
    "id_number": "079123456789",
    "phone": "0901234567",
    "email": "an.nguyen@example.vn",
    "address": "12 Lê Lợi, xã Mỹ Yên, tỉnh Tây Ninh",
}


# What an applicant writes in the declaration forms of the catalog's procedures, by field name;
# a field not listed here gets a valid value of its type (see `declaration`).
FORM_ANSWERS: dict[str, Any] = {
    # Đăng ký hộ kinh doanh
    "nguoi_thanh_lap": "Một cá nhân",
    "ten_ho_kinh_doanh": "Hộ kinh doanh Tạp hóa Cô Ba",
    "dia_chi_tru_so": "Số 45, ấp Mỹ Hòa, xã Mỹ Yên, tỉnh Tây Ninh",
    "nganh_nghe_kinh_doanh": "Bán lẻ lương thực, thực phẩm; bán lẻ đồ uống",
    "von_kinh_doanh": "50.000.000",
    "so_lao_dong": 2,
    # Cấp giấy phép xây dựng nhà ở riêng lẻ
    "dia_diem_xay_dung": "Ấp Mỹ Hòa, xã Mỹ Yên, tỉnh Tây Ninh",
    "thua_dat_so": "215",
    "to_ban_do_so": "12",
    "dien_tich_lo_dat": "120,5",
    "dien_tich_xay_dung": 96,
    "tong_dien_tich_san": "192",
    "so_tang": 2,
    "chieu_cao_cong_trinh": "8,5",
    # Đăng ký khai sinh
    "ho_ten": "Nguyễn Thị Mai Anh",
    "ngay_sinh": (date.today() - timedelta(days=20)).isoformat(),  # registered within 60 days
    "gioi_tinh": "Nữ",
    "noi_sinh": "Trạm Y tế xã Mỹ Yên, tỉnh Tây Ninh",
    "dan_toc": "Kinh",
    "quoc_tich": "Việt Nam",
    "ho_ten_me": "Trần Thị Bích",
    "nam_sinh_me": 1998,
    "ho_ten_cha": "Nguyễn Văn An",
    "nam_sinh_cha": 1996,
    "quan_he": "Cha",
    # Cấp Giấy chứng nhận quyền sử dụng đất lần đầu
    "dia_chi_thua_dat": "Ấp Mỹ Phú, xã Mỹ Yên, tỉnh Tây Ninh",
    "dien_tich": "152,5",
    "muc_dich_su_dung": "Đất ở tại nông thôn",
    "thoi_diem_bat_dau_su_dung": "1998-05-01",
    "nguon_goc_su_dung": "Nhận chuyển nhượng của ông Trần Văn Bảy năm 1998, có giấy viết tay; "
    "sử dụng ổn định, không tranh chấp",
    # Chứng thực bản sao từ bản chính
    "ten_giay_to": "Giấy khai sinh",
    "so_ban_sao": 2,
}


def declaration(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid declaration form for a procedure's fields (as GET /api/v1/procedures/{code}
    shows them): every required field filled, from FORM_ANSWERS or by its type."""
    form: dict[str, Any] = {}
    for f in fields:
        if f["name"] in FORM_ANSWERS:
            form[f["name"]] = FORM_ANSWERS[f["name"]]
        elif f["required"]:
            form[f["name"]] = _answer_of_type(f)
    return form


def _answer_of_type(f: dict[str, Any]) -> Any:
    match f["type"]:
        case "number":
            return f["minimum"] if f["minimum"] is not None else 1
        case "date":
            return "2020-01-15"
        case "choice":
            return f["choices"][0]
        case "address":
            return APPLICANT["address"]
        case _:
            return "Thử nghiệm"


def pdf_text(content: bytes) -> str:
    """The text a PDF reader finds in a document, every page, with its line breaks (table
    cells wrap) as plain spaces."""
    document = pdfium.PdfDocument(content)
    try:
        return " ".join(" ".join(page.get_textpage().get_text_range().split()) for page in document)
    finally:
        document.close()


@dataclass
class ApiClient:
    http: httpx.AsyncClient
    password: str
    tokens: dict[str, str] = field(default_factory=dict)
    _logging_in: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def token(self, username: str) -> str:
        # One login per official, however many requests want it at once: as a real client,
        # and as the login throttle expects (parallel tries of one name count as guesses).
        async with self._logging_in.setdefault(username, asyncio.Lock()):
            if username not in self.tokens:
                r = await self.http.post(
                    "/api/v1/auth/token", data={"username": username, "password": self.password}
                )
                assert r.status_code == 200, r.text
                self.tokens[username] = r.json()["access_token"]
        return self.tokens[username]

    async def as_official(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}

    async def upload(self, content: bytes = b"%PDF-1.4 test\n", name: str = "a.pdf") -> str:
        r = await self.http.post(
            "/api/v1/files", files={"file": (name, content, "application/pdf")}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["file_id"])

    async def procedure(self, code: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/procedures/{code}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def submission(
        self, procedure_code: str, channel: str = "online", delivery: str | None = None
    ) -> dict[str, Any]:
        """A complete submission body: the declaration form filled in, every required
        component uploaded."""
        procedure = await self.procedure(procedure_code)
        documents = [
            {"component": c["code"], "file_id": await self.upload()}
            for c in procedure["components"]
            if c["required"]
        ]
        method = delivery or ("online" if procedure["level"] == "full" else "counter")
        return {
            "procedure_code": procedure_code,
            "channel": channel,
            "applicant": APPLICANT,
            "form": declaration(procedure["form"]),
            "documents": documents,
            "delivery": {"method": method, "address": APPLICANT["address"]},
        }

    async def submit(self, procedure_code: str, **kwargs: Any) -> dict[str, Any]:
        r = await self.http.post(
            "/api/v1/dossiers", json=await self.submission(procedure_code, **kwargs)
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def act(
        self, code: str, username: str, action: str, note: str | None = None, **extra: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"action": action, **extra}
        if note is not None:
            body["note"] = note
        return await self.http.post(
            f"/api/v1/dossiers/{code}/actions", json=body, headers=await self.as_official(username)
        )

    async def status(self, code: str, lookup_key: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": lookup_key})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def status_until(
        self,
        code: str,
        lookup_key: str,
        reached: Callable[[dict[str, Any]], bool],
        seconds: float = 20,
    ) -> dict[str, Any]:
        """Poll the status until `reached` holds of it (`seconds` at most)."""
        async with asyncio.timeout(seconds):
            while True:
                state = await self.status(code, lookup_key)
                if reached(state):
                    return state
                await asyncio.sleep(0.1)

    async def wait_for(self, code: str, lookup_key: str, stage: str) -> dict[str, Any]:
        """Poll the status until the dossier reaches `stage` (20 s at most)."""
        return await self.status_until(code, lookup_key, lambda state: state["stage"] == stage)

    async def consultation_url(self, code: str, username: str) -> str:
        """Where `username`'s department answers the consultation it was asked on `code`."""
        headers = await self.as_official(username)
        asked = (await self.http.get("/api/v1/consultations", headers=headers)).json()
        [consultation] = [c for c in asked if c["dossier_code"] == code]
        return f"/api/v1/consultations/{consultation['id']}/answer"

    async def answer_consultation(
        self, code: str, username: str, opinion: str = "Đồng ý"
    ) -> httpx.Response:
        url = await self.consultation_url(code, username)
        headers = await self.as_official(username)
        return await self.http.post(url, json={"opinion": opinion}, headers=headers)

    async def wait_for_history(
        self, code: str, lookup_key: str, action: str, count: int = 1
    ) -> dict[str, Any]:
        """Poll the status until `action` is on the control slip `count` times (20 s at most)."""

        def on_the_slip(state: dict[str, Any]) -> bool:
            return [e["action"] for e in state["history"]].count(action) >= count

        return await self.status_until(code, lookup_key, on_the_slip)


def moved(response: httpx.Response, stage: str, step: str | None = None) -> dict[str, Any]:
    """The action was taken, and the dossier went where the scenario expects (its answer)."""
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["stage"] == stage, answer
    if step is not None:
        assert answer["current_step"]["key"] == step, answer
    return answer


def username(department: str, role: str) -> str:
    """The demo login of a department and role (see `motcua.cli.demo_officials`)."""
    return f"{department.lower()}.{role}"


DESK = username("BPMC", "desk_officer")
