"""Who may see and do what, endpoint by endpoint: applicant A against B, the desk, the step's
department and role, its head, a step still to come, another department, another agency, an
operator, and no, expired or forged credentials."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.security import TokenClaims, issue_token
from motcua.settings import Settings
from tests.client import DESK, ApiClient

NO_ONE, EXPIRED, FORGED = "no credentials", "expired token", "forged token"
APPLICANT_A, APPLICANT_B = "applicant A", "applicant B"
# The dossier waits at its first review step, the economic office's specialist's.
CALLERS = [
    NO_ONE,
    EXPIRED,
    FORGED,
    APPLICANT_A,
    APPLICANT_B,
    DESK,
    "kt.specialist",  # the current step
    "kt.head",  # its department's head
    "ld.leader",  # a step still to come
    "tpht.specialist",  # a department with no step in this procedure
    "vpdk.specialist",  # another agency
    "ops.operator",
]
OFFICIALS_WHO_SEE = {DESK, "kt.specialist", "kt.head"}


@pytest.fixture(scope="module")
async def world(http: httpx.AsyncClient, demo_password: str, settings: Settings) -> dict[str, Any]:
    api = ApiClient(http, demo_password)
    a, b = await api.submit("1.001612"), await api.submit("1.001612")
    assert (await api.act(a["code"], DESK, "accept")).status_code == 200
    secret = settings.jwt_secret.get_secret_value()
    claims = TokenClaims("kt.specialist", "KT", "specialist", 1)
    headers: dict[str, dict[str, str]] = {
        NO_ONE: {},
        EXPIRED: {"Authorization": f"Bearer {issue_token(claims, secret, timedelta(-1))}"},
        FORGED: {
            "Authorization": "Bearer "
            + issue_token(claims, "not-the-secret-" * 3, timedelta(minutes=5))
        },
        APPLICANT_A: {"X-Lookup-Key": a["lookup_key"]},
        APPLICANT_B: {"X-Lookup-Key": b["lookup_key"]},
    }
    for caller in CALLERS[5:]:
        headers[caller] = await api.as_official(caller)
    return {"api": api, "code": a["code"], "headers": headers}


def _expected_read(caller: str) -> int:
    if caller in (NO_ONE,):
        return 401
    if caller in (EXPIRED, FORGED):
        return 401
    if caller == APPLICANT_A or caller in OFFICIALS_WHO_SEE:
        return 200
    if caller == APPLICANT_B:
        return 404  # a wrong key looks like no dossier at all
    return 403


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("what", ["", "/documents"])
async def test_reading_a_dossier(world: dict[str, Any], caller: str, what: str) -> None:
    url = f"/api/v1/dossiers/{world['code']}{what}"
    r = await world["api"].http.get(url, headers=world["headers"][caller])
    assert r.status_code == _expected_read(caller), r.text
    if what == "" and r.status_code == 200:
        id_number = r.json()["applicant"]["id_number"]
        # Whole for the desk, which took the papers in; masked for everyone else.
        assert ("*" not in id_number) == (caller == DESK)


@pytest.mark.parametrize("caller", CALLERS)
async def test_acting_on_a_dossier(world: dict[str, Any], caller: str) -> None:
    """A reject without a reason: the step's own official gets as far as the 422 (nothing is
    written); everyone else is stopped before."""
    body = {"action": "reject", "step_key": "tham_dinh"}
    url = f"/api/v1/dossiers/{world['code']}/actions"
    r = await world["api"].http.post(url, json=body, headers=world["headers"][caller])
    expected = {NO_ONE: 401, EXPIRED: 401, FORGED: 401, APPLICANT_A: 401, APPLICANT_B: 401}
    expected |= {"kt.specialist": 422}
    assert r.status_code == expected.get(caller, 403), r.text


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/alerts", "/api/v1/consultations"])
async def test_officials_lists(world: dict[str, Any], caller: str, path: str) -> None:
    r = await world["api"].http.get(path, headers=world["headers"][caller])
    is_official = caller not in (NO_ONE, EXPIRED, FORGED, APPLICANT_A, APPLICANT_B)
    assert r.status_code == (200 if is_official else 401), r.text


PERIOD = "from=2026-11-01&to=2026-11-30"
LEADERS_VIEWS = [
    f"/api/v1/stats?{PERIOD}",
    f"/api/v1/stats?{PERIOD}&format=csv",
    f"/api/v1/stats/breakdown?by=department&{PERIOD}",
    f"/api/v1/stats/snapshots?scope=agency&key=000.00.15.H39&{PERIOD}",
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", [*LEADERS_VIEWS, "/api/v1/admin/dossiers"])
async def test_the_service_index_is_for_leaders_and_the_running_list_for_operators(
    world: dict[str, Any], caller: str, path: str
) -> None:
    r = await world["api"].http.get(path, headers=world["headers"][caller])
    allowed = {"ops.operator", "ld.leader"} if path in LEADERS_VIEWS else {"ops.operator"}
    is_official = caller not in (NO_ONE, EXPIRED, FORGED, APPLICANT_A, APPLICANT_B)
    expected = 200 if caller in allowed else 403 if is_official else 401
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_the_payload_codec_is_for_operators(world: dict[str, Any], caller: str) -> None:
    r = await world["api"].http.post(
        "/codec/decode", json={"payloads": []}, headers=world["headers"][caller]
    )
    is_official = caller not in (NO_ONE, EXPIRED, FORGED, APPLICANT_A, APPLICANT_B)
    expected = 200 if caller == "ops.operator" else 403 if is_official else 401
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_withdrawing_someone_elses_dossier(world: dict[str, Any], caller: str) -> None:
    """Only the applicant's own key withdraws (not tried here: it would stop the dossier)."""
    if caller == APPLICANT_A:
        pytest.skip("the applicant's own withdrawal is tested in test_dossier_paths")
    url = f"/api/v1/dossiers/{world['code']}/withdraw"
    r = await world["api"].http.post(url, json={}, headers=world["headers"][caller])
    assert r.status_code == (404 if caller == APPLICANT_B else 401), r.text


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("what", ["/result", "/payment", "/documents/{document}"])
async def test_reading_what_a_dossier_was_issued(
    world: dict[str, Any], caller: str, what: str
) -> None:
    """The receipt exists already; the result and the payment do not yet (404 for those who
    may look)."""
    api: ApiClient = world["api"]
    code, headers = world["code"], world["headers"]
    if "{document}" in what:
        listed = await api.http.get(f"/api/v1/dossiers/{code}/documents", headers=headers[DESK])
        what = what.format(document=listed.json()[0]["id"])
    r = await api.http.get(f"/api/v1/dossiers/{code}{what}", headers=headers[caller])
    expected = _expected_read(caller)
    if what == "/payment":  # the applicant's alone: officials see the fee in their own screens
        expected = {APPLICANT_A: 404, APPLICANT_B: 404}.get(caller, 401)
    elif what == "/result" and expected == 200:
        expected = 404  # not issued yet
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_supplementing_someone_elses_dossier(world: dict[str, Any], caller: str) -> None:
    """Only the applicant's key supplements, and only when asked (A: 409, nothing asked)."""
    api: ApiClient = world["api"]
    body = {"documents": [{"component": "HDTN", "file_id": await api.upload()}]}
    url = f"/api/v1/dossiers/{world['code']}/supplement"
    r = await api.http.post(url, json=body, headers=world["headers"][caller])
    expected = {APPLICANT_A: 409, APPLICANT_B: 404}.get(caller, 401)
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_answering_a_consultation(
    world: dict[str, Any], caller: str, land_consultation: str
) -> None:
    """Only the consulted department and role answer (tnmt.specialist here, not listed: the
    answer would close the consultation); no one else gets past 401/403/404."""
    url = f"/api/v1/consultations/{land_consultation}/answer"
    r = await world["api"].http.post(url, json={"opinion": "x"}, headers=world["headers"][caller])
    is_official = caller not in (NO_ONE, EXPIRED, FORGED, APPLICANT_A, APPLICANT_B)
    assert r.status_code == (403 if is_official else 401), r.text


@pytest.fixture(scope="module")
async def land_consultation(world: dict[str, Any]) -> str:
    api: ApiClient = world["api"]
    created = await api.submit("1.012778")
    await api.act(created["code"], "vpdk_mc.desk_officer", "accept")
    await api.act(created["code"], "vpdk.specialist", "consult", departments=["TNMT"])
    headers = await api.as_official("tnmt.specialist")
    asked = (await api.http.get("/api/v1/consultations", headers=headers)).json()
    return str([c["id"] for c in asked if c["dossier_code"] == created["code"]][0])


async def test_each_inbox_is_its_own_department_and_role(world: dict[str, Any]) -> None:
    api: ApiClient = world["api"]

    async def inbox(user: str) -> set[str]:
        r = await api.http.get("/api/v1/tasks?limit=200", headers=world["headers"][user])
        return {task["code"] for task in r.json()}

    assert world["code"] in await inbox("kt.specialist")
    for other in ("kt.head", "ld.leader", "tpht.specialist", DESK):
        assert world["code"] not in await inbox(other)
