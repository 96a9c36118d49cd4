"""What operators and leaders see besides a dossier: the running dossiers, late ones first,
with their workflow's link; and the applicants' ratings."""

import logging
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from store.models import Dossier, Rating
from tests.client import DESK, ApiClient
from tests.conftest import Stack
from workflows import search_attributes as sa


async def test_operators_find_the_late_dossiers_of_a_department(
    api: ApiClient, stack: Stack
) -> None:
    late, on_time = (await api.submit("1.001612"))["code"], (await api.submit("1.001612"))["code"]
    for code in (late, on_time):
        await api.act(code, DESK, "accept")
    async with stack.sessionmaker.begin() as session:  # as if its appointment had passed
        await session.execute(
            update(Dossier).where(Dossier.code == late).values(due_at=datetime(2026, 1, 5, 9))
        )
    operator = await api.as_official("ops.operator")
    r = await api.http.get("/api/v1/admin/dossiers?overdue=true&department=KT", headers=operator)
    assert r.status_code == 200, r.text
    listed = {d["code"]: d for d in r.json()}
    assert late in listed and on_time not in listed
    assert listed[late]["overdue"] and listed[late]["department"] == "KT"
    assert listed[late]["temporal_url"].endswith(f"/namespaces/default/workflows/{late}")
    assert "applicant" not in listed[late]
    r = await api.http.get("/api/v1/admin/dossiers", headers=await api.as_official(DESK))
    assert r.status_code == 403


async def test_the_applicant_rates_once_the_result_is_returned(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit("1.001193")  # no fee, result online
    code, key = created["code"], created["lookup_key"]
    url, headers = f"/api/v1/dossiers/{code}/rating", {"X-Lookup-Key": key}
    assert (
        await api.http.post(url, json={"satisfaction": "satisfied"}, headers=headers)
    ).status_code == 409
    await api.act(code, DESK, "accept")
    for user in ("tpht.specialist", "ld.leader"):
        await api.act(code, user, "approve")
    await api.wait_for(code, key, "done")
    r = await api.http.post(url, json={"satisfaction": "neutral"}, headers=headers)
    assert r.status_code == 200, r.text
    r = await api.http.post(
        url, json={"satisfaction": "dissatisfied", "comment": "Chờ lâu"}, headers=headers
    )
    assert r.status_code == 200
    assert (
        await api.http.post(url, json={"satisfaction": "meh"}, headers=headers)
    ).status_code == 422
    other = {"X-Lookup-Key": "A" * 16}
    assert (
        await api.http.post(url, json={"satisfaction": "satisfied"}, headers=other)
    ).status_code == 404
    async with stack.sessionmaker() as session:
        rating = await session.get_one(Rating, code)
        dossier = await session.get_one(Dossier, code)
    assert (rating.satisfaction, rating.comment) == ("dissatisfied", "Chờ lâu")
    assert dossier.satisfaction == "dissatisfied"  # copied for the service index


def _value(metrics: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text, 0 when absent."""
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{") and all(
            f'{key}="{value}"' in line for key, value in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_move_with_the_work(api: ApiClient) -> None:
    operator = await api.as_official("ops.operator")
    before = (await api.http.get("/metrics", headers=operator)).text
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    await api.act(code, "ld.leader", "approve")  # refused: 403
    await api.status(code, key)
    after = (await api.http.get("/metrics", headers=operator)).text

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("motcua_dossiers_started_total", procedure="1.001612", channel="online") == 1
    assert grew("motcua_actions_total", action="accept", status="200") >= 1
    assert grew("motcua_actions_total", action="approve", status="403") >= 1
    answered = ("recorded", "live")
    assert sum(grew("motcua_status_lookups_total", source=s) for s in answered) >= 1
    route = "/api/v1/dossiers/{code}/actions"
    assert grew("motcua_http_requests_total", method="POST", route=route, status="200") >= 1
    assert code not in after  # routes by template: no dossier code in any label


async def test_one_grep_follows_a_dossier_across_api_and_worker(
    api: ApiClient, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The API's line for a request and the worker's line for the transition it caused carry
    the same dossier code and request id."""
    caplog.set_level(logging.INFO)
    code = (await api.submit("1.001612"))["code"]
    headers = {**await api.as_official(DESK), "X-Request-Id": f"trace-{code}"}
    r = await api.http.post(f"/api/v1/dossiers/{code}/actions", json={"action": "accept"},
                            headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-Id"] == f"trace-{code}"

    def lines(event: str) -> list[dict[str, Any]]:
        return [
            record.msg
            for record in caplog.records
            if isinstance(record.msg, dict)
            and record.msg.get("event") == event
            and record.msg.get("dossier_code") == code
        ]

    [request] = [line for line in lines("request") if line["method"] == "POST"
                 and line["path"].endswith("/actions")]  # fmt: skip
    assert request["request_id"] == f"trace-{code}"
    by_request = [line for line in lines("dossier transition")
                  if line["request_id"] == f"trace-{code}"]  # fmt: skip
    # Accepted, routed, and the first review step started: what the request caused.
    assert [(t["stage"], t["actions"]) for t in by_request] == [
        ("routing", ["accept", "routed"]),
        ("review", ["step_started"]),
    ]
    submitted = [line for line in lines("dossier transition") if line["seq"] == 1]
    assert submitted and submitted[0]["request_id"] not in (None, f"trace-{code}")


async def test_stage_since_tells_how_long_a_dossier_has_waited(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit("1.001612")
    code = created["code"]
    handle = stack.client.get_workflow_handle(code)
    at_intake = (await handle.describe()).typed_search_attributes.get(sa.STAGE_SINCE)
    assert at_intake == datetime.fromisoformat(created["received_at"])
    await api.act(code, DESK, "accept")
    in_review = (await handle.describe()).typed_search_attributes.get(sa.STAGE_SINCE)
    assert in_review is not None and in_review > at_intake
    await api.act(code, "kt.specialist", "approve")  # same stage: still waiting since then
    assert (await handle.describe()).typed_search_attributes.get(sa.STAGE_SINCE) == in_review
