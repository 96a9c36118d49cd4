"""Who may register a dossier on which channel, and who may open the files it was submitted
with — the API's rules, which the pages share (api/access.py, api/operations.py)."""

import pytest

from tests.client import DESK, ApiClient

BIRTH = "1.001193"  # agency 000.00.15.H39, desk BPMC
LAND = "1.012778"  # agency 000.00.20.H39, desk VPDK_MC


@pytest.mark.parametrize("channel", ["counter", "post"])
async def test_only_the_agencys_desk_registers_paper_dossiers(api: ApiClient, channel: str) -> None:
    body = await api.submission(BIRTH, channel=channel, delivery="counter")
    r = await api.http.post("/api/v1/dossiers", json=body)
    assert r.status_code == 401, r.text  # an applicant submits online, not "at the counter"
    for other in ("kt.specialist", "vpdk_mc.desk_officer"):  # another department, agency
        r = await api.http.post("/api/v1/dossiers", json=body, headers=await api.as_official(other))
        assert r.status_code == 403, (other, r.text)
    r = await api.http.post("/api/v1/dossiers", json=body, headers=await api.as_official(DESK))
    assert r.status_code == 201, r.text
    created = r.json()
    status = await api.http.get(
        f"/api/v1/dossiers/{created['code']}", headers={"X-Lookup-Key": created["lookup_key"]}
    )
    assert status.status_code == 200


async def test_submitted_files_open_for_those_who_may_see_the_dossier(api: ApiClient) -> None:
    content = b"%PDF-1.4 the applicant's own scan\n"
    body = await api.submission(BIRTH)
    body["documents"][0]["file_id"] = file_id = await api.upload(content)
    r = await api.http.post("/api/v1/dossiers", json=body)
    assert r.status_code == 201, r.text
    code, key = r.json()["code"], r.json()["lookup_key"]
    other = await api.submit(BIRTH)
    path = f"/api/v1/dossiers/{code}/files/{file_id}"

    r = await api.http.get(path, headers={"X-Lookup-Key": key})
    assert (r.status_code, r.content) == (200, content)
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="{code}-' in r.headers["content-disposition"]
    r = await api.http.get(path, headers=await api.as_official(DESK))
    assert (r.status_code, r.content) == (200, content)
    # Another dossier's key, another dossier's path, a department with no part: refused.
    r = await api.http.get(path, headers={"X-Lookup-Key": other["lookup_key"]})
    assert r.status_code == 404
    r = await api.http.get(
        f"/api/v1/dossiers/{other['code']}/files/{file_id}",
        headers={"X-Lookup-Key": other["lookup_key"]},
    )
    assert r.status_code == 404
    r = await api.http.get(path, headers=await api.as_official("vpdk.specialist"))
    assert r.status_code == 403
