"""Drive N dossiers through the whole lifecycle over the HTTP API of a running stack
(`UPLOADS_PER_HOUR=1000000 make run`: every upload comes from this one client, which the
API would otherwise throttle), then time status lookups. Prints one line:

    lifecycles_per_s=… lookup_per_s=… lookup_p50_ms=… lookup_p99_ms=…

    .venv/bin/python bench/lifecycle.py [--dossiers 200] [--concurrency 16] [--lookups 2000]

Each lifecycle is the household-business procedure (full online, three review steps, payment
through the sandbox gateway, online result): a submission, four official actions, a payment
and the wait for the result — the same requests a portal and the officials' screens send.
Lookups are then timed on 50 dossiers in process, which their workflows answer.
"""

import argparse
import asyncio
import time
import uuid
from typing import Any

import httpx
from load import add_load_options, pool, timed

PROCEDURE = "1.001612"
PASSWORD = "motcua-demo"
APPLICANT = {
    "kind": "individual",
    "full_name": "Nguyễn Văn Bench",
    "id_number": "079000000001",
    "phone": "0900000001",
    "address": "1 Đường Thử, xã Mỹ Yên",
}
# The household-business declaration form (tờ khai), as an applicant fills it in.
FORM = {
    "nguoi_thanh_lap": "Một cá nhân",
    "ten_ho_kinh_doanh": "Hộ kinh doanh Quán cơm Bench",
    "dia_chi_tru_so": "1 Đường Thử, xã Mỹ Yên",
    "nganh_nghe_kinh_doanh": "Dịch vụ ăn uống",
    "von_kinh_doanh": "30.000.000",
    "so_lao_dong": 1,
}


async def _json(response: httpx.Response, expected: int = 200) -> Any:
    if response.status_code != expected:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


class Bench:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.headers: dict[str, dict[str, str]] = {}

    async def login(self, usernames: set[str]) -> None:
        for username in usernames:
            token = await _json(
                await self.http.post(
                    "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
                )
            )
            self.headers[username] = {"Authorization": f"Bearer {token['access_token']}"}

    async def submit(self, file_ids: list[str]) -> tuple[str, str]:
        body = {
            "procedure_code": PROCEDURE,
            "channel": "online",
            "applicant": APPLICANT,
            "form": FORM,
            "documents": [
                {"component": "GDN", "file_id": file_ids[0]},
                {"component": "CCCD", "file_id": file_ids[1]},
            ],
            "delivery": {"method": "online"},
        }
        created = await _json(
            await self.http.post(
                "/api/v1/dossiers", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            ),
            201,
        )
        await self.act(created["code"], "bpmc.desk_officer", "accept")
        return created["code"], created["lookup_key"]

    async def lifecycle(self, steps: list[dict[str, Any]], file_ids: list[str]) -> None:
        code, key = await self.submit(file_ids)
        for step in steps:
            await self.act(code, f"{step['department'].lower()}.{step['role']}", "approve")
        applicant = {"X-Lookup-Key": key}
        payment = await _json(
            await self.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
        )
        await _json(await self.http.post(payment["pay_url"]))
        while True:  # the gateway's callback moves the dossier on in the background
            if (await self.status(code, key))["stage"] == "done":
                return
            await asyncio.sleep(0.25)

    async def act(self, code: str, username: str, action: str) -> None:
        await _json(
            await self.http.post(
                f"/api/v1/dossiers/{code}/actions",
                json={"action": action},
                headers=self.headers[username],
            )
        )

    async def status(self, code: str, key: str) -> dict[str, Any]:
        state: dict[str, Any] = await _json(
            await self.http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": key})
        )
        return state


async def main(args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=args.url, timeout=60, limits=limits) as http:
        bench = Bench(http)
        procedure = await _json(await http.get(f"/api/v1/procedures/{PROCEDURE}"))
        steps = procedure["steps"]
        await bench.login(
            {"bpmc.desk_officer"} | {f"{s['department'].lower()}.{s['role']}" for s in steps}
        )
        file_ids = []
        for _ in range(2):
            uploaded = await http.post(
                "/api/v1/files", files={"file": ("a.pdf", b"%PDF-1.4 bench", "application/pdf")}
            )
            file_ids.append((await _json(uploaded, 201))["file_id"])

        started = time.perf_counter()
        await pool(args.dossiers, args.concurrency, lambda _: bench.lifecycle(steps, file_ids))
        lifecycles_per_s = args.dossiers / (time.perf_counter() - started)

        # Lookups are of dossiers in process (at review), not finished ones.
        dossiers = await pool(50, args.concurrency, lambda _: bench.submit(file_ids))

        async def lookup(i: int) -> None:
            code, key = dossiers[i % len(dossiers)]
            state = await bench.status(code, key)
            if state["source"] == "snapshot":
                raise RuntimeError("lookup answered from the snapshot: is the worker running?")

        lookups = await timed(args.lookups, args.concurrency, lookup)

    print(
        f"lifecycles_per_s={lifecycles_per_s:.1f} lookup_per_s={lookups.per_s:.0f} "
        f"lookup_p50_ms={lookups.p50_ms:.1f} lookup_p99_ms={lookups.p99_ms:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://localhost:8000")
    add_load_options(parser)
    asyncio.run(main(parser.parse_args()))
