"""The procedure catalog: agencies, departments and procedures with their internal process.

Procedures are data, never code. The catalog file is validated on load; its version is the
declared version plus a digest of the content, and each dossier pins the version (and a snapshot
of its procedure) it was submitted under.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.calendar import HOURS_PER_WORKING_DAY
from domain.codes import AGENCY_CODE_PATTERN
from domain.dossier import ConsultSpec, ProcedureSnapshot, StepSpec
from domain.forms import FormField

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(_Strict):
    code: str = Field(pattern=f"^{AGENCY_CODE_PATTERN}$")
    name: str
    desk_department: str = Code
    # Roles are data: the desk's role name is the agency's to choose.
    desk_role: str = Field(default="desk_officer", min_length=1, max_length=64)
    intake_hours: float = Field(default=8, gt=0)


class Department(_Strict):
    code: str = Code
    name: str


class Component(_Strict):
    code: str = Code
    name: str
    required: bool = True
    # What the component is, for the applicant preparing it (e.g. "bản sao có chứng thực").
    help: str | None = None


class Consult(_Strict):
    """A department a step may ask for its opinion (liên thông), and its time to answer."""

    department: str = Code
    role: str = Code
    hours: float = Field(gt=0)


class Step(_Strict):
    key: str = Code
    name: str
    department: str = Code
    role: str = Code
    hours: float = Field(gt=0)
    consults: list[Consult] = Field(default_factory=list)


class Procedure(_Strict):
    code: str = Code
    name: str
    agency: str
    level: Literal["partial", "full"]
    fee_vnd: int = Field(ge=0)
    processing_days: float = Field(gt=0)
    components: list[Component] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)
    # Who the procedure is for, in a sentence the portal shows.
    audience: str | None = None
    # The declaration form (tờ khai): the fields the applicant fills in at submission.
    form: list[FormField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_process(self) -> Procedure:
        keys = [step.key for step in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError(f"procedure {self.code}: step keys must be unique")
        for step in self.steps:
            consulted = [c.department for c in step.consults]
            if len(set(consulted)) != len(consulted) or step.department in consulted:
                raise ValueError(
                    f"procedure {self.code}, step {step.key}: consult each other department once"
                )
        names = [f.name for f in self.form]
        if len(set(names)) != len(names):
            raise ValueError(f"procedure {self.code}: form field names must be unique")
        components = [c.code for c in self.components]
        if len(set(components)) != len(components):
            raise ValueError(f"procedure {self.code}: component codes must be unique")
        allotted = sum(step.hours for step in self.steps)
        if allotted > self.processing_days * HOURS_PER_WORKING_DAY:
            raise ValueError(
                f"procedure {self.code}: steps allot {allotted} working hours, more than the "
                f"{self.processing_days} working days of the procedure"
            )
        return self


class Catalog(_Strict):
    version: str = Field(min_length=1)
    agencies: list[Agency] = Field(min_length=1)
    departments: list[Department] = Field(min_length=1)
    procedures: list[Procedure] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_references(self) -> Catalog:
        departments = {d.code for d in self.departments}
        agencies = {a.code: a for a in self.agencies}
        for agency in self.agencies:
            if agency.desk_department not in departments:
                raise ValueError(f"agency {agency.code}: unknown desk department")
        seen: set[str] = set()
        for procedure in self.procedures:
            if procedure.code in seen:
                raise ValueError(f"procedure {procedure.code} is listed twice")
            seen.add(procedure.code)
            if procedure.agency not in agencies:
                raise ValueError(f"procedure {procedure.code}: unknown agency {procedure.agency}")
            for step in procedure.steps:
                for department in [step.department, *(c.department for c in step.consults)]:
                    if department not in departments:
                        raise ValueError(
                            f"procedure {procedure.code}, step {step.key}: "
                            f"unknown department {department}"
                        )
        return self


def vnd(amount: int) -> str:
    """A sum of money as Vietnamese write it: 100.000 đ (the dot groups thousands; a comma
    would be the decimal mark)."""
    return f"{amount:,}".replace(",", ".") + " đ"


class CatalogError(ValueError):
    """The catalog file cannot be used; the message says where it is wrong."""


class LoadedCatalog:
    """A validated catalog with lookups and its pinned version string."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        canonical = json.dumps(catalog.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        self.content = catalog.model_dump(mode="json")
        self.version = f"{catalog.version}+{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
        self.procedures = {p.code: p for p in catalog.procedures}
        self.agencies = {a.code: a for a in catalog.agencies}
        self.departments = {d.code: d for d in catalog.departments}

    def snapshot(self, procedure_code: str) -> ProcedureSnapshot:
        """What a dossier pins: the procedure as it stands in this catalog version."""
        procedure = self.procedures[procedure_code]
        agency = self.agencies[procedure.agency]
        return ProcedureSnapshot(
            code=procedure.code,
            name=procedure.name,
            agency_code=agency.code,
            desk_department=agency.desk_department,
            desk_role=agency.desk_role,
            intake_hours=agency.intake_hours,
            level=procedure.level,
            fee_vnd=procedure.fee_vnd,
            processing_days=procedure.processing_days,
            catalog_version=self.version,
            steps=[
                StepSpec(
                    key=s.key,
                    name=s.name,
                    department=s.department,
                    role=s.role,
                    hours=s.hours,
                    consults=[ConsultSpec(c.department, c.role, c.hours) for c in s.consults],
                )
                for s in procedure.steps
            ],
        )


def load_catalog(path: Path) -> LoadedCatalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    try:
        return LoadedCatalog(Catalog.model_validate(raw))
    except ValidationError as exc:
        raise CatalogError(f"invalid catalog {path}:\n{exc}") from exc
