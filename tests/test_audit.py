"""The audit trail: every action and every official's read lands in it, chained by hashes;
`motcua audit verify` passes on a busy trail and names the row altered behind its back."""

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from motcua.cli import main
from motcua.settings import Settings, get_settings
from store.audit import AuditEntry, append, first_broken_row
from store.db import Sessionmaker
from store.models import AuditRow
from tests.client import DESK, ApiClient


async def _trail(sessionmaker: Sessionmaker, code: str) -> list[tuple[str, str, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.dossier_code == code).order_by(AuditRow.id)
        )
        return [(r.actor, r.role, r.action) for r in rows]


async def test_actions_and_officials_reads_are_audited(
    api: ApiClient, sessionmaker: Sessionmaker
) -> None:
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    await api.status(code, key)  # the applicant's own read: not audited
    headers = await api.as_official("kt.specialist")
    await api.http.get(f"/api/v1/dossiers/{code}", headers=headers)
    await api.act(code, DESK, "accept")
    assert (await api.act(code, "ld.leader", "approve")).status_code == 403  # refused, kept

    trail = await _trail(sessionmaker, code)
    assert trail == [
        ("applicant", "applicant", "submit"),
        ("kt.specialist", "specialist", "view_dossier"),
        ("bpmc.desk_officer", "desk_officer", "accept"),
        ("ld.leader", "leader", "approve"),
    ]
    async with sessionmaker() as session:
        refused = await session.scalar(
            select(AuditRow).where(AuditRow.dossier_code == code, AuditRow.action == "approve")
        )
    assert refused is not None and refused.detail["refused"] == 403
    assert refused.client == "127.0.0.1"


async def test_the_trail_refuses_changes(sessionmaker: Sessionmaker) -> None:
    await append(sessionmaker, AuditEntry("tester", "operator", "probe"))
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessionmaker.begin() as session:
                await session.execute(text(statement))


async def test_verify_passes_on_a_busy_trail_and_names_an_altered_row(
    settings: Settings,
    sessionmaker: Sessionmaker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)  # for the `motcua` command
    get_settings.cache_clear()
    # Many writers at once: each row still chains to the one before it.
    await asyncio.gather(
        *(append(sessionmaker, AuditEntry(f"o{i}", "specialist", "read")) for i in range(40))
    )
    async with sessionmaker() as session:
        checked, broken = await first_broken_row(session)
    assert broken is None and checked >= 40
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    assert "audit trail intact" in capsys.readouterr().out

    # Someone with the power to disable the trigger edits a row behind its back.
    async with sessionmaker.begin() as session:
        victim = await session.scalar(
            select(AuditRow.id).where(AuditRow.actor == "o7").order_by(AuditRow.id)
        )
        await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        await session.execute(
            text("UPDATE audit_log SET action = 'nothing to see' WHERE id = :id"), {"id": victim}
        )
        await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    async with sessionmaker() as session:
        _, broken = await first_broken_row(session)
    assert broken == victim
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    assert f"BROKEN at row {victim}" in capsys.readouterr().out
    get_settings.cache_clear()


async def test_saving_an_official_from_the_command_line_is_audited(
    settings: Settings, sessionmaker: Sessionmaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    command = ["official", "add", "kt.newcomer", "--department", "KT", "--role", "specialist"]
    assert await asyncio.to_thread(main, [*command, "--password", "a-long-password"]) == 0
    get_settings.cache_clear()
    async with sessionmaker() as session:
        saved = await session.scalar(
            select(AuditRow).where(AuditRow.action == "official_saved").order_by(AuditRow.id.desc())
        )
    assert saved is not None and saved.detail["username"] == "kt.newcomer"
    assert "a-long-password" not in str(saved.detail)
