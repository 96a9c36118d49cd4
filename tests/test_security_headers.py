"""Security headers on every answer: the pages' policy on the pages, and on the API's JSON a
policy that loads and runs nothing, and no caching (answers hold personal data)."""

import httpx

from api.pages.guard import API_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY
from tests.client import DESK, ApiClient

EVERYWHERE = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
              "Referrer-Policy": "same-origin"}  # fmt: skip


def _has(response: httpx.Response, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        assert response.headers.get(name) == value, (response.request.url, name)


async def test_the_api_and_the_pages_each_have_their_headers(api: ApiClient) -> None:
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    json_answers = [
        await api.http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": key}),
        await api.http.get(f"/api/v1/dossiers/{code}"),  # refused: 401 in JSON
        await api.http.get("/api/v1/tasks", headers=await api.as_official(DESK)),
    ]
    for r in json_answers:
        _has(r, EVERYWHERE | {"Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
                              "Cache-Control": "no-store"})  # fmt: skip

    page = await api.http.get("/tra-cuu")
    _has(page, EVERYWHERE | {"Content-Security-Policy": CONTENT_SECURITY_POLICY})
    # A stylesheet stays cacheable; the interactive documentation keeps its CDN scripts.
    static = await api.http.get("/static/" + page.text.split('href="/static/')[1].split('"')[0])
    assert static.status_code == 200 and "immutable" in static.headers["Cache-Control"]
    docs = await api.http.get("/docs")
    _has(docs, EVERYWHERE)
    assert "Content-Security-Policy" not in docs.headers
