"""One dossier of each catalog procedure through the whole lifecycle, over HTTP, against the
real servers: intake → routing → review → payment → delivery."""

from typing import Any

import pytest

from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import Sessionmaker
from store.dossiers import recent_notifications
from store.models import Dossier
from tests.client import ApiClient, pdf_text, username

CATALOG = load_catalog(Settings().catalog_path)


@pytest.mark.parametrize("procedure_code", sorted(CATALOG.procedures))
async def test_each_procedure_through_to_delivery(
    api: ApiClient, sessionmaker: Sessionmaker, procedure_code: str
) -> None:
    procedure = await api.procedure(procedure_code)
    agency = CATALOG.agencies[procedure["agency"]]
    desk = username(agency.desk_department, agency.desk_role)
    created = await api.submit(procedure_code)
    code, key = created["code"], created["lookup_key"]
    assert created["status_code"] == 1
    assert code.startswith(procedure["agency"] + "-")

    state = await api.status(code, key)
    assert (state["stage"], state["status_code"]) == ("intake", 1)
    assert state["source"] in ("recorded", "live")
    assert state["current_step"]["department"] == agency.desk_department

    r = await api.act(code, desk, "accept")
    assert r.status_code == 200, r.text
    for step in procedure["steps"]:
        body = r.json()
        assert (body["stage"], body["status_code"]) == ("review", 4)
        assert body["current_step"]["key"] == step["key"]
        assert body["current_step"]["department"] == step["department"]
        r = await api.act(code, username(step["department"], step["role"]), "approve")
        assert r.status_code == 200, r.text

    if procedure["fee_vnd"] > 0:
        assert (r.json()["stage"], r.json()["status_code"]) == ("payment", 6)
        if procedure["level"] == "full":
            await _pay_online(api, code, key, procedure["fee_vnd"])
        else:
            r = await api.act(code, desk, "confirm_payment")
            assert r.status_code == 200, r.text

    if procedure["level"] == "full":
        state = await api.wait_for(code, key, "done")
    else:
        state = await api.wait_for(code, key, "delivery")
        assert state["status_code"] == 9
        r = await api.act(code, desk, "deliver")
        assert r.status_code == 200, r.text
        state = await api.status(code, key)

    assert (state["stage"], state["status_code"], state["outcome"]) == ("done", 10, "approved")
    assert state["source"] == "final"
    assert state["current_step"] is None
    actions = [entry["action"] for entry in state["history"]]
    assert actions[0] == "submitted"
    assert actions.count("approve") == len(procedure["steps"])
    assert "result_issued" in actions

    result = await api.http.get(f"/api/v1/dossiers/{code}/result", headers={"X-Lookup-Key": key})
    assert result.status_code == 200
    text = pdf_text(result.content)
    assert code in text and "Nguyễn Văn An" in text

    # The applicant was told of every status, by e-mail and SMS, once each.
    async with sessionmaker() as session:
        sent = await recent_notifications(session, code, 100)
        row = await session.get_one(Dossier, code)
    # The end of processing, for the service index: the result issued, then returned.
    assert row.processed_at is not None and row.finished_at is not None
    assert row.processed_at <= row.finished_at
    statuses = [1, 2, 4] + ([6] if procedure["fee_vnd"] > 0 else []) + [9, 10]
    assert sorted((n.status_code, n.channel) for n in sent) == sorted(
        (status, channel) for status in statuses for channel in ("email", "sms")
    )


async def _pay_online(api: ApiClient, code: str, key: str, fee: int) -> None:
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    assert r.status_code == 200, r.text
    payment: dict[str, Any] = r.json()
    assert payment["amount_vnd"] == fee and payment["status"] == "pending"
    page = await api.http.get(payment["pay_url"])
    assert page.status_code == 200 and "Thanh toán" in page.text
    paid = await api.http.post(payment["pay_url"])
    assert paid.status_code == 200 and paid.json()["callback_status"] == 200, paid.text
    await api.wait_for(code, key, "done")
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    assert r.json()["status"] == "paid"
