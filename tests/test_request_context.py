"""The request middleware, on a route that fails: the client gets a 500 that names the request
(and no trace of the error), the response carries its id, and the request is logged once
with its route's template and status."""

import logging

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from api.metrics import REQUESTS
from motcua.settings import Settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The API (its logging configured before pytest captures the test's records), with a
    route that fails."""
    app = create_app(settings)

    async def broken() -> None:
        raise RuntimeError("a secret detail")

    app.add_api_route("/api/v1/broken/{code}", broken)
    return app


async def test_an_unhandled_error_is_a_500_naming_the_request(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    before = REQUESTS.labels("GET", "/api/v1/broken/{code}", 500)._value.get()
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.get("/api/v1/broken/X-1", headers={"X-Request-Id": "trace-broken"})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": "trace-broken"}
    assert r.headers["X-Request-Id"] == "trace-broken"
    assert "secret" not in r.text
    assert REQUESTS.labels("GET", "/api/v1/broken/{code}", 500)._value.get() == before + 1
    [line] = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "request"
    ]
    assert (line["status"], line["dossier_code"]) == (500, "X-1")
    assert line["request_id"] == "trace-broken"


async def test_every_answer_names_its_request(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        given = await http.get("/healthz", headers={"X-Request-Id": "x" * 100})
        made_up = await http.get("/healthz")
    assert given.headers["X-Request-Id"] == "x" * 64  # cut to a bounded length
    assert len(made_up.headers["X-Request-Id"]) == 32
