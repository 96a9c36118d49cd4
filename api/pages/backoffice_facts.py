"""What an official's pages state about a dossier, in words rather than codes: what the step
asks of its holder, the declaration (tờ khai) as the applicant filled it in under the pinned
procedure's labels, the files submitted (one link each, with type and size), and the
processing control slip with steps, departments and officials by name."""

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pages.render import day
from api.pages.texts import VI, text
from api.schemas import HistoryEntry
from domain.catalog import LoadedCatalog, Procedure
from domain.dossier import (
    APPLICANT_ROLE,
    DESK_STEP_NAMES,
    SUPPLEMENT_STEP,
    SUPPLEMENT_STEP_NAME,
    SYSTEM_ACTOR,
    Action,
    SlipAction,
    Stage,
)
from domain.forms import FormField, parse_date
from store.models import Dossier, StoredFile
from store.officials import full_names

# ---- what a step asks of its holder ---------------------------------------------------------


def need(step_key: str, role: str) -> str:
    """What the holder of a step is to do, in a few words ("kiểm tra, tiếp nhận"): the desk's
    steps say it themselves; the review steps by the role that holds them."""
    for key in (f"officials.need.{step_key}", f"officials.need.role.{role}"):
        if key in VI:
            return text(key)
    return text("officials.need.other")


def role_name(role: str) -> str:
    key = f"officials.role.{role}"
    return text(key) if key in VI else text("officials.role.other")


def first_lower(words: str) -> str:
    return words[:1].lower() + words[1:]


# ---- the declaration ------------------------------------------------------------------------


def number_text(value: int | float | Decimal) -> str:
    """1.234.567 and 1.234,5: dots group thousands, the comma marks decimals."""
    grouped = f"{value:,}"
    return grouped.replace(",", " ").replace(".", ",").replace(" ", ".")


def answer_text(field: FormField, value: Any) -> str:
    """A declaration's value as the applicant would write it."""
    if value is None or value == "":
        return text("officials.dossier.not_declared")
    if field.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    if field.type == "date" and isinstance(value, str) and (parsed := parse_date(value)):
        return day(parsed)
    return str(value)


def declaration(procedure: Procedure, form: dict[str, Any]) -> list[tuple[str, str]]:
    """Each field of the procedure's form, with what was declared."""
    return [(f.label, answer_text(f, form.get(f.name))) for f in procedure.form]


# ---- the files submitted ----------------------------------------------------------------------

KINDS = {"application/pdf": "PDF", "image/jpeg": "ảnh JPG", "image/png": "ảnh PNG"}


def size_text(size: int) -> str:
    """120 KB; 1,5 MB."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


async def submitted_files(
    session: AsyncSession, dossier: Dossier, procedure: Procedure, href: str
) -> list[dict[str, str]]:
    """One link per file the applicant submitted (with the dossier, then each supplement),
    its type and size read in one query."""
    ids = [uuid.UUID(d["file_id"]) for d in dossier.documents if d.get("file_id")]
    stored = {
        f.id: f
        for f in await session.scalars(select(StoredFile).where(StoredFile.id.in_(ids)))
    } if ids else {}  # fmt: skip
    names = {c.code: c.name for c in procedure.components}
    links = []
    for document in dossier.documents:
        file = stored.get(uuid.UUID(document["file_id"])) if document.get("file_id") else None
        if file is None:
            continue
        label = text(
            "officials.dossier.file",
            name=names.get(document["component"], document["component"]),
            kind=KINDS.get(file.content_type, text("officials.dossier.file_other")),
            size=size_text(file.size),
        )
        if document.get("supplement"):
            label += text("officials.dossier.file_supplement", round=document["supplement"])
        links.append({"href": f"{href}/tep/{file.id}", "label": label})
    return links


# ---- the control slip -----------------------------------------------------------------------


def step_names(catalog: LoadedCatalog, dossier: Dossier) -> dict[str, str]:
    names = {str(key): name for key, name in DESK_STEP_NAMES.items()}
    names[SUPPLEMENT_STEP] = SUPPLEMENT_STEP_NAME
    names[Stage.ROUTING] = text("officials.slip.routing_step")
    names.update({s.key: s.name for s in catalog.procedures[dossier.procedure_code].steps})
    return names


TIMELINESS_TAG = {"early": "green", "on_time": "green", "late": "red"}
# Who besides officials writes to the slip.
OTHER_ACTORS = {SYSTEM_ACTOR: "system", APPLICANT_ROLE: "applicant", "gateway": "gateway"}


class Slip:
    """The slip's entries in words: the workflow writes codes (steps, departments, officials'
    usernames, the channel) that the page names."""

    def __init__(
        self, steps: dict[str, str], departments: dict[str, str], officials: dict[str, str]
    ) -> None:
        self.steps, self.departments, self.officials = steps, departments, officials

    def actor(self, actor: str) -> str:
        if actor in OTHER_ACTORS:
            return text(f"officials.slip.{OTHER_ACTORS[actor]}")
        return self.officials.get(actor, actor)

    def action(self, action: str) -> str:
        for key in (f"officials.slip.{action}", f"action.{action}"):
            if key in VI:
                return text(key)
        return action

    def note(self, e: HistoryEntry) -> str:
        note = e.note or ""
        if e.action == SlipAction.SUBMITTED and note.startswith("channel="):
            channel = note.removeprefix("channel=")
            key = f"channel.{channel}"
            return text(
                "officials.slip.channel", channel=first_lower(text(key)) if key in VI else channel
            )
        if e.action == SlipAction.ROUTED:
            return " → ".join(self._routed_step(part) for part in note.split(" → "))
        if e.action in (SlipAction.CONSULTATION_ANSWERED, SlipAction.CONSULTATION_UNANSWERED):
            department, _, opinion = note.partition(": ")
            name = self.departments.get(department, department)
            if e.action == SlipAction.CONSULTATION_UNANSWERED:
                return text("officials.slip.no_opinion", department=name)
            return f"{name}: {opinion}"
        if e.action == Action.REASSIGN:
            return text("officials.slip.assigned_to", name=self.officials.get(note, note))
        if e.action in (SlipAction.PAYMENT_REQUESTED, SlipAction.PAID) and note:
            return text("officials.slip.payment_id", id=note)
        return note

    def _routed_step(self, part: str) -> str:
        step, _, department = part.partition("@")
        name = self.steps.get(step, step)
        return f"{name} ({self.departments.get(department, department)})" if department else name

    def entries(self, history: list[HistoryEntry]) -> list[dict[str, Any]]:
        return [
            {
                "at": e.at,
                "where": " · ".join(
                    part
                    for part in (
                        self.steps.get(e.step, e.step),
                        self.departments.get(e.department, e.department),
                    )
                    if part
                ),
                "action": self.action(e.action),
                "actor": self.actor(e.actor),
                "timeliness": (
                    text(f"timeliness.{e.timeliness}"),
                    TIMELINESS_TAG.get(e.timeliness, "grey"),
                )
                if e.timeliness
                else None,
                "note": self.note(e),
            }
            for e in history
        ]


async def officials_named(
    session: AsyncSession, history: list[HistoryEntry], *more: str | None
) -> dict[str, str]:
    """The full names of the officials the slip mentions (acting, or handed a step), in one
    query."""
    usernames = {e.actor for e in history if e.actor not in OTHER_ACTORS}
    usernames |= {e.note for e in history if e.action == Action.REASSIGN and e.note}
    usernames |= {m for m in more if m}
    return await full_names(session, usernames)
