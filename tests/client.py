"""A small client of the HTTP API for the tests: what an applicant's portal and an official's
screen would send."""

import asyncio
from dataclasses import dataclass, field
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

    async def token(self, username: str) -> str:
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
        """A complete submission body: every required component uploaded."""
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
            "form": {"ghi_chu": "Hồ sơ thử nghiệm"},
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

    async def wait_for(self, code: str, lookup_key: str, stage: str) -> dict[str, Any]:
        """Poll the status until the dossier reaches `stage` (20 s at most)."""
        async with asyncio.timeout(20):
            while True:
                state = await self.status(code, lookup_key)
                if state["stage"] == stage:
                    return state
                await asyncio.sleep(0.1)

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
        async with asyncio.timeout(20):
            while True:
                state = await self.status(code, lookup_key)
                if [e["action"] for e in state["history"]].count(action) >= count:
                    return state
                await asyncio.sleep(0.1)


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
