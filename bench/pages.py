"""The pages against the JSON API for the same data, on a running stack (`make run`): the
server time of the tracking page beside GET /api/v1/dossiers/{code} alone and beside it with
the documents' list (which the page shows too); of the inbox beside GET /api/v1/tasks alone
and beside the tasks, alerts and consultations (which the page shows too); then what each
main page weighs on the wire (gzip), on a first visit (the page, its stylesheet, script and
fonts) and on a later one (the page alone: the static files' URLs carry their fingerprint and
are cached for a year). Prints one line per measure:

    tracking_page p50_ms=… p99_ms=…   api_dossier p50_ms=… …   api_dossier+documents …
    inbox_page    p50_ms=… p99_ms=…   api_tasks   p50_ms=… …   api_tasks+alerts+consultations …
    weight /thu-tuc/1.001612 first_kb=… later_kb=…

    .venv/bin/python bench/pages.py [--url http://localhost:8000] [--requests 400]
"""

import argparse
import asyncio
import re
from urllib.parse import urljoin

import httpx
from lifecycle import PASSWORD, PROCEDURE, Bench, _json
from load import Timing, timed

OFFICIAL = "kt.specialist"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_ASSETS = re.compile(r'<(?:link rel="stylesheet"|script) (?:href|src)="(/static/[^"]+)"(?! media)')
_FONTS = re.compile(r'url\("(/static/[^"]+\.woff2)"\)')


async def _page_session(base_url: str) -> httpx.AsyncClient:
    """A browser-like client logged in to the back office through its form."""
    browser = httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=True)
    form = await browser.get("/can-bo/dang-nhap")
    match = _TOKEN.search(form.text)
    assert match, "no form token on the login page"
    r = await browser.post(
        "/can-bo/dang-nhap",
        data={"username": OFFICIAL, "password": PASSWORD, "csrf_token": match.group(1)},
        headers={"Origin": base_url},
    )
    if r.status_code != 200 or "dang-nhap" in str(r.url):
        raise RuntimeError(f"page login failed: {r.status_code}")
    return browser


async def _weight(http: httpx.AsyncClient, path: str) -> tuple[float, float]:
    """KB on the wire for a first visit and for a later one."""
    page = await http.get(path, headers={"Accept-Encoding": "gzip"})
    first = later = page.num_bytes_downloaded
    assets = set(_ASSETS.findall(page.text))
    for asset in sorted(assets):
        r = await http.get(asset, headers={"Accept-Encoding": "gzip"})
        first += r.num_bytes_downloaded
        if asset.startswith("/static/motcua.css"):
            # Counted although a phone with Roboto (every Android phone) uses its own.
            for font in set(_FONTS.findall(r.text)):
                first += (await http.get(urljoin(str(r.url), font))).num_bytes_downloaded
    return first / 1024, later / 1024


def _line(name: str, timing: Timing) -> str:
    return f"{name:<14} p50_ms={timing.p50_ms:.1f} p99_ms={timing.p99_ms:.1f}"


async def main(args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=args.url, timeout=60) as http:
        bench = Bench(http)
        await bench.login({"bpmc.desk_officer", OFFICIAL})
        file_ids = [
            (
                await _json(
                    await http.post(
                        "/api/v1/files",
                        files={"file": ("a.pdf", b"%PDF-1.4 bench", "application/pdf")},
                    ),
                    201,
                )
            )["file_id"]
            for _ in range(2)
        ]
        code, key = await bench.submit(file_ids)  # accepted: with kt.specialist now

        applicant = httpx.AsyncClient(base_url=args.url, timeout=60, follow_redirects=True)
        await applicant.get(f"/ho-so/{code}", params={"key": key})  # the QR link keeps the key
        official = await _page_session(args.url)
        try:
            n, c = args.requests, args.concurrency

            tracking = await timed(n, c, lambda _: _get(applicant, f"/ho-so/{code}"))
            api_dossier = await timed(
                n, c, lambda _: _get(http, f"/api/v1/dossiers/{code}", {"X-Lookup-Key": key})
            )
            applicant_calls = [f"/api/v1/dossiers/{code}", f"/api/v1/dossiers/{code}/documents"]
            api_tracking = await timed(
                n, c, lambda _: _get_all(http, applicant_calls, {"X-Lookup-Key": key})
            )
            inbox = await timed(n, c, lambda _: _get(official, "/can-bo"))
            api_tasks = await timed(
                n, c, lambda _: _get(http, "/api/v1/tasks", bench.headers[OFFICIAL])
            )
            inbox_calls = ["/api/v1/tasks", "/api/v1/alerts", "/api/v1/consultations"]
            api_inbox = await timed(
                n, c, lambda _: _get_all(http, inbox_calls, bench.headers[OFFICIAL])
            )
            print(
                f"{_line('tracking_page', tracking)}   {_line('api_dossier', api_dossier)}   "
                f"{_line('api_dossier+documents', api_tracking)}"
            )
            print(
                f"{_line('inbox_page', inbox)}   {_line('api_tasks', api_tasks)}   "
                f"{_line('api_tasks+alerts+consultations', api_inbox)}"
            )
            for path, client in (
                ("/", http),
                (f"/thu-tuc/{PROCEDURE}", http),
                (f"/thu-tuc/{PROCEDURE}/nop-ho-so", http),
                ("/tra-cuu", http),
                (f"/ho-so/{code}", applicant),
                ("/can-bo", official),
            ):
                first, later = await _weight(client, path)
                print(f"weight {path:<32} first_kb={first:.1f} later_kb={later:.1f}")
        finally:
            await applicant.aclose()
            await official.aclose()


async def _get_all(client: httpx.AsyncClient, paths: list[str], headers: dict[str, str]) -> None:
    """What a client of the API asks, one after the other, to show the same as one page."""
    for path in paths:
        await _get(client, path, headers)


async def _get(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None) -> None:
    r = await client.get(path, headers=headers)
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.url}: {r.status_code}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
