"""Schemathesis against the running API's OpenAPI schema: every check, every phase (the
coverage phase's edge values included), positive and negative data; no 500 anywhere, every
answer fits the schema, every body the schema refuses is refused, and every body it allows
is taken (positive_data_acceptance), the schema saying exactly what the API accepts.

Except where no schema can say it, told to schemathesis here and tested elsewhere:
- a submission, an action and a supplement are checked against the procedure in the catalog
  and the dossier's state (a procedure code, its components, its form, a later appointment):
  422 too;
- an upload's type is judged by its content (PDF, JPEG, PNG or TIFF): 415 too;
- the service index's period: dates from 2000 to 2099 (JSON Schema bounds no date), `to` on
  or after `from` and within ten years: 422 too;
- the payload codec's body is Temporal's Payloads in protobuf's JSON (its names, its
  base64), read by protobuf: 400 too;
- text PostgreSQL cannot store (NUL, lone surrogates) is refused in any body, anywhere in it,
  form answers included (tests/test_dossier_paths.py): none is generated."""

import asyncio
import subprocess
from pathlib import Path

import httpx

from motcua import embedded
from tests.client import DESK, ApiClient
from tests.conftest import Stack

# The statuses schemathesis expects for schema-valid requests (its default), and the one more
# each operation whose acceptance the catalog, the dossier or the content decides may answer.
_ACCEPTED = '"2xx", "3xx", "401", "403", "404", "409", "429", "5xx"'
_BEYOND_THE_SCHEMA = {
    "POST /api/v1/dossiers": 422,
    "POST /api/v1/dossiers/{code}/actions": 422,
    "POST /api/v1/dossiers/{code}/supplement": 422,
    "POST /api/v1/files": 415,
    "GET /api/v1/stats": 422,
    "GET /api/v1/stats/breakdown": 422,
    "GET /api/v1/stats/snapshots": 422,
    "POST /codec/decode": 400,
}
# Operators' routes get an operator's token; every other route the desk officer's.
_OPERATORS_ROUTES = "^/(api/v1/(admin|stats)|codec)"


def _config(code: str, document_id: str, lookup_key: str, desk: str, operator: str) -> str:
    lines = [
        f'headers = {{ Authorization = "Bearer {desk}", X-Lookup-Key = "{lookup_key}" }}',
        "[generation]",
        "allow-x00 = false",
        'codec = "utf-8"',
        "[parameters]",
        f'"path.code" = "{code}"',
        f'"path.document_id" = "{document_id}"',
        "[[operations]]",
        f'include-path-regex = "{_OPERATORS_ROUTES}"',
        f'headers = {{ Authorization = "Bearer {operator}" }}',
    ]
    for name, status in _BEYOND_THE_SCHEMA.items():
        lines += [
            "[[operations]]",
            f'include-name = "{name}"',
            "[operations.checks.positive_data_acceptance]",
            f'expected-statuses = [{_ACCEPTED}, "{status}"]',
        ]
    return "\n".join(lines) + "\n"


async def test_the_api_answers_every_generated_request_within_its_schema(
    stack: Stack, http: httpx.AsyncClient, demo_password: str, tmp_path: Path
) -> None:
    api = ApiClient(http, demo_password)
    # A real dossier (accepted, so it has its receipt) for the path parameters: generated
    # codes alone would only ever meet 404s, and the dossier logic would go untested.
    created = await api.submit("1.001612")
    code = created["code"]
    await api.act(code, DESK, "accept")
    r = await http.get(
        f"/api/v1/dossiers/{code}/documents", headers={"X-Lookup-Key": created["lookup_key"]}
    )
    config = tmp_path / "schemathesis.toml"
    desk, operator = await api.token(DESK), await api.token("ops.operator")
    config.write_text(_config(code, r.json()[0]["id"], created["lookup_key"], desk, operator))
    command = [
        str(Path(embedded.venv_binary("temporal")).parent / "schemathesis"),
        "--config-file", str(config),
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--mode", "all",
        "--max-examples", "30",
        "--seed", "766",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    # Run in a directory of its own: schemathesis keeps a cache of past failures in its
    # working directory, which would leak from one run into the next.
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
