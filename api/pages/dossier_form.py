"""The dossier form, shared by the online portal and the desk's counter registration: what was
posted (applicant, declaration form, one file per component, delivery) read into a draft,
checked by the same rules as the API (`ApplicantIn`, `DeliveryIn`, `check_form`, the upload
checks), and turned into the `DossierCreate` that `api.operations.submit` takes — or into
Vietnamese messages, each naming the input it is about.

Nothing is kept on the server between pages: the draft travels in the form itself (typed
values as posted, uploaded files as their ids), so a reload, a "Sửa" or a second tab cannot
mix two people's answers."""

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import HTTPException, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from api import operations
from api.context import AppContext
from api.pages.carried_files import UUID_TEXT, Upload, parse_uuid, uploaded
from api.pages.carried_files import carried as carried_file
from api.pages.errors import refusal_message
from api.pages.guard import session_official
from api.pages.texts import text
from api.schemas import ApplicantIn, DeliveryIn, DocumentRef, DossierCreate
from domain.catalog import Procedure
from domain.dossier import Channel, DeliveryMethod
from domain.forms import FormField, FormProblem, check_form, cleaned
from store.models import StoredFile

APPLICANT_FIELDS = ("kind", "full_name", "id_number", "phone", "email", "address")
APPLICANT_KINDS = ("individual", "organization")
REQUEST_KEY = "request_key"


# ---- names of the inputs (the ids are the same: an error links to its input) -------------


def applicant_input(name: str) -> str:
    return f"applicant-{name}"


def form_input(name: str) -> str:
    return f"form-{name}"


def file_input(component: str) -> str:
    return f"file-{component}"


def file_id_input(component: str) -> str:
    return f"file_id-{component}"


def file_name_input(component: str) -> str:
    return f"file_name-{component}"


def file_signature_input(component: str) -> str:
    return f"file_sig-{component}"


DELIVERY_METHOD = "delivery-method"
DELIVERY_ADDRESS = "delivery-address"


# ---- the draft ------------------------------------------------------------------------------


@dataclass
class Draft:
    """What the person typed and uploaded so far."""

    applicant: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    delivery_method: str = ""
    delivery_address: str = ""
    request_key: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Problem:
    """What is wrong, and the id of the input it is about."""

    field: str
    message: str


@dataclass
class Checked:
    draft: Draft
    problems: list[Problem]
    body: DossierCreate | None  # when there is no problem


def delivery_methods(procedure: Procedure) -> list[DeliveryMethod]:
    """What the procedure's level allows: a result comes online only when fully online."""
    return [m for m in DeliveryMethod if m != DeliveryMethod.ONLINE or procedure.level == "full"]


def _typed(form: FormData, name: str) -> str:
    """A text input's value: printable characters (and line breaks), as a person typed them."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable() or c in "\n\t")[:5000]


def _request_key(form: FormData) -> str:
    key = _typed(form, REQUEST_KEY)
    return key if UUID_TEXT.fullmatch(key) else str(uuid.uuid4())


async def read_draft(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    procedure: Procedure,
    channel: Channel,
    upload: bool,
) -> Checked:
    """The posted draft, checked. With `upload`, the files chosen are stored first (each
    through the API's own upload checks); without, only files already stored are used."""
    form = await request.form()
    draft = Draft(
        applicant={name: _typed(form, applicant_input(name)) for name in APPLICANT_FIELDS},
        form={f.name: _typed(form, form_input(f.name)) for f in procedure.form},
        delivery_method=_typed(form, DELIVERY_METHOD),
        delivery_address=_typed(form, DELIVERY_ADDRESS),
        request_key=_request_key(form),
    )
    problems = await _carried_files(ctx, session, procedure, form, draft)
    if upload:
        problems += await _uploads(ctx, session, request, procedure, form, draft)
    applicant, applicant_problems = _applicant(draft)
    form_values, form_problems = _declaration(procedure, draft)
    delivery, delivery_problems = _delivery(procedure, draft)
    problems = (
        applicant_problems
        + form_problems
        + _in_page_order(procedure, problems + _missing_components(procedure, draft, problems))
        + delivery_problems
    )
    if problems or applicant is None or delivery is None:
        return Checked(draft, problems, None)
    documents = [DocumentRef(component=code, file_id=f.file_id) for code, f in draft.files.items()]
    try:
        body = DossierCreate(
            procedure_code=procedure.code,
            channel=channel,
            applicant=applicant,
            form=form_values,
            documents=documents,
            delivery=delivery,
        )
    except ValidationError:  # e.g. a form too large as a whole
        return Checked(draft, [Problem("", text("form.error.rejected"))], None)
    return Checked(draft, [], body)


def _in_page_order(procedure: Procedure, problems: list[Problem]) -> list[Problem]:
    order = {file_input(c.code): i for i, c in enumerate(procedure.components)}
    return sorted(problems, key=lambda p: order.get(p.field, len(order)))


# ---- files ----------------------------------------------------------------------------------


async def _carried_files(
    ctx: AppContext, session: AsyncSession, procedure: Procedure, form: FormData, draft: Draft
) -> list[Problem]:
    """Files uploaded on an earlier page, carried as their ids: each must still be stored.
    The name shown is the one carried with the id when the server signed the two; otherwise
    (an id typed in by hand) only the file's kind and size: whoever posts an id must not learn
    the name of a file someone else uploaded."""
    problems = []
    for component in procedure.components:
        carried = _typed(form, file_id_input(component.code))
        if not carried:
            continue
        file_id = parse_uuid(carried)
        stored = await session.get(StoredFile, file_id) if file_id is not None else None
        if stored is None:
            problems.append(
                Problem(
                    file_input(component.code), text("form.error.file_lost", name=component.name)
                )
            )
            continue
        name = _typed(form, file_name_input(component.code))
        signature = _typed(form, file_signature_input(component.code))
        draft.files[component.code] = carried_file(ctx, stored, name, signature)
    return problems


def _chosen(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if not isinstance(value, StarletteUpload) or (not value.filename and not value.size):
        return None
    # The form parser's file, which the upload reads as FastAPI's own (a subclass adding
    # nothing it uses).
    return cast(UploadFile, value)


async def _uploads(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    procedure: Procedure,
    form: FormData,
    draft: Draft,
) -> list[Problem]:
    """The files chosen on this page, stored; a refused one keeps the file uploaded before."""
    problems = []
    for component in procedure.components:
        chosen = _chosen(form, file_input(component.code))
        if chosen is None:
            continue
        shown = "".join(c for c in chosen.filename or "" if c.isprintable())[:120]
        try:
            # The desk's official at the counter (the session cookie is the back office's
            # only), or anyone on the portal.
            official = await session_official(request)
            stored = await operations.upload(ctx, session, request, chosen, official)
        except HTTPException as exc:
            reason = _upload_refusal(ctx, exc, shown or component.name)
            problems.append(Problem(file_input(component.code), reason))
            continue
        draft.files[component.code] = uploaded(
            ctx, stored.file_id, shown or text("form.file.unnamed")
        )
    return problems


def _upload_refusal(ctx: AppContext, exc: HTTPException, name: str) -> str:
    if exc.status_code == 415:
        return text("form.error.file_type", name=name)
    if exc.status_code == 413:
        return text("form.error.file_size", name=name, mb=max_megabytes(ctx))
    if exc.status_code == 422:
        return text("form.error.file_empty", name=name)
    if exc.status_code == 429:
        wait = int((exc.headers or {}).get("Retry-After", "3600"))
        return text("form.error.file_throttled", name=name, minutes=max(wait // 60, 1))
    return refusal_message(exc)


def max_megabytes(ctx: AppContext) -> str:
    return f"{ctx.settings.max_upload_bytes / 1024 / 1024:g}".replace(".", ",")


def _missing_components(
    procedure: Procedure, draft: Draft, file_problems: list[Problem]
) -> list[Problem]:
    """A required component without a file (unless its file was just refused, which says
    more)."""
    refused = {p.field for p in file_problems}
    return [
        Problem(file_input(c.code), text("form.error.file_required", name=c.name))
        for c in procedure.components
        if c.required and c.code not in draft.files and file_input(c.code) not in refused
    ]


# ---- the applicant --------------------------------------------------------------------------


def _applicant_values(draft: Draft) -> dict[str, Any]:
    """As the schema takes them: spaces and dots people put in numbers left out, an empty
    e-mail address as none."""
    values: dict[str, Any] = dict(draft.applicant)
    values["phone"] = re.sub(r"[\s.\-()]", "", values["phone"])
    values["id_number"] = re.sub(r"\s", "", values["id_number"])
    for name in ("full_name", "address", "email"):
        values[name] = values[name].strip()
    values["email"] = values["email"] or None
    if not values["kind"]:
        del values["kind"]
    return values


def _applicant(draft: Draft) -> tuple[ApplicantIn | None, list[Problem]]:
    values = _applicant_values(draft)
    try:
        return ApplicantIn.model_validate(values), []
    except ValidationError as exc:
        wrong: dict[str, Any] = {
            str(e["loc"][0]) if e["loc"] else "id_number": e for e in exc.errors()
        }
    if not values["id_number"]:
        # The schema takes any string here (the kind decides what is valid), and checks it
        # only once every other field is valid: an empty number is said with the rest.
        wrong["id_number"] = {"type": "missing"}
    elif "id_number" not in wrong and "kind" not in wrong:
        # Likewise the number against the kind: a person is told everything at once.
        wrong.update(_id_number_problem(values))
    return None, [
        Problem(applicant_input(name), _applicant_message(name, values, wrong[name]))
        for name in APPLICANT_FIELDS
        if name in wrong
    ]


def _id_number_problem(values: dict[str, Any]) -> dict[str, Any]:
    """The schema's own check of the id number for the kind, with the other fields valid."""
    probe = {"full_name": "-", "phone": "0900000000", "address": "-"}
    try:
        ApplicantIn.model_validate(
            {**probe, "kind": values["kind"], "id_number": values["id_number"]}
        )
    except ValidationError as exc:
        return {"id_number": exc.errors()[0]}
    return {}


def _applicant_message(name: str, values: dict[str, Any], error: Any) -> str:
    if not values.get(name):
        return text(f"form.error.{name}.required")
    if error["type"] == "string_too_long":
        return text("form.error.too_long", max=error["ctx"]["max_length"])
    if name == "id_number":
        return text(f"form.error.id_number.{values.get('kind', 'individual')}")
    return text(f"form.error.{name}.invalid")


# ---- the declaration form -------------------------------------------------------------------


def _declaration(procedure: Procedure, draft: Draft) -> tuple[dict[str, Any], list[Problem]]:
    problems = check_form(procedure.form, draft.form)
    if problems:
        fields = {f.name: f for f in procedure.form}
        return {}, [
            Problem(form_input(p.field), form_message(fields[p.field], p))
            for p in problems
            if p.field in fields
        ]
    return cleaned(procedure.form, draft.form), []


def _label_in_sentence(label: str) -> str:
    """ "Tên hộ kinh doanh" as it reads after "Nhập": "tên hộ kinh doanh" (an acronym or a
    proper name keeps its capital)."""
    if len(label) > 1 and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def vietnamese_number(value: float | None) -> str:
    """1234567.5 as a Vietnamese writes it: 1.234.567,5."""
    if value is None:
        return ""
    shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    return shown.replace(",", "_").replace(".", ",").replace("_", ".")


def form_message(f: FormField, problem: FormProblem) -> str:
    """A declaration form problem in Vietnamese, with the field's label."""
    kind = str(problem.kind)
    if kind == "required" and f.type == "choice":
        kind = "required_choice"
    if kind == "out_of_range":
        kind += "".join(
            ("_min" if f.minimum is not None else "", "_max" if f.maximum is not None else "")
        )
    return text(
        f"form.error.form.{kind}",
        label=f.label,
        label_lower=_label_in_sentence(f.label),
        max=f.longest,
        minimum=vietnamese_number(f.minimum),
        maximum=vietnamese_number(f.maximum),
    )


# ---- delivery -------------------------------------------------------------------------------


def _delivery(procedure: Procedure, draft: Draft) -> tuple[DeliveryIn | None, list[Problem]]:
    allowed = [str(m) for m in delivery_methods(procedure)]
    if draft.delivery_method not in allowed:
        return None, [Problem(DELIVERY_METHOD, text("form.error.delivery.required"))]
    address = draft.delivery_address.strip()
    if draft.delivery_method == DeliveryMethod.POST and not address:
        return None, [Problem(DELIVERY_ADDRESS, text("form.error.delivery.address"))]
    try:
        return DeliveryIn(method=DeliveryMethod(draft.delivery_method), address=address or None), []
    except ValidationError:
        return None, [Problem(DELIVERY_ADDRESS, text("form.error.too_long", max=500))]


# ---- the submission's own refusals ----------------------------------------------------------


def submission_problem(exc: HTTPException) -> Problem:
    """What the shared submission refused (a rule of the procedure, a key reused for other
    answers, the engine away), on the field it names when it names one."""
    detail = exc.detail
    if exc.status_code == 422 and isinstance(detail, list) and detail:
        loc = [str(part) for part in detail[0].get("loc", [])]
        if loc[:1] == ["header"]:
            return Problem("", text("form.error.already_sent"))
        if "delivery" in loc:
            return Problem(DELIVERY_METHOD, text("form.error.delivery.required"))
        if "documents" in loc:
            return Problem("", text("form.error.files_lost"))
        return Problem("", text("form.error.rejected"))
    return Problem("", refusal_message(exc))
