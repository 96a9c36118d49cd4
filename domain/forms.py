"""A procedure's declaration form (tờ khai) as data: its fields, and the check of what an
applicant filled in. The API answers the problems as a 422 naming the field; the submission
page shows them next to the field, in Vietnamese. One check, both surfaces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["text", "textarea", "number", "date", "choice", "address"]

# Longest text each type takes, unless the field says otherwise.
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 2000, "address": 500, "number": 20, "date": 10}


class FormField(BaseModel):
    """One field of a declaration form, as the catalog declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    type: FieldType = "text"
    required: bool = True
    choices: list[str] = Field(default_factory=list)
    help: str | None = None
    max_length: int | None = Field(default=None, gt=0, le=5000)
    # A number's bounds, inclusive.
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _choices_fit_the_type(self) -> FormField:
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"field {self.name}: a choice field, and only one, lists choices")
        return self

    @property
    def longest(self) -> int:
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.type, 200)


class FormProblemKind(StrEnum):
    REQUIRED = "required"
    UNKNOWN = "unknown"
    NOT_TEXT = "not_text"
    TOO_LONG = "too_long"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    NOT_A_DATE = "not_a_date"
    NOT_A_CHOICE = "not_a_choice"


@dataclass(frozen=True)
class FormProblem:
    field: str
    kind: FormProblemKind
    message: str  # in English, for the API; the pages have their own words per kind


_NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")


def check_form(fields: list[FormField], values: dict[str, Any]) -> list[FormProblem]:
    """What is wrong with `values` as the form of `fields`: empty when nothing is. A number may
    come as a number or as text (from a web form); a date as `yyyy-mm-dd`."""
    problems: list[FormProblem] = []
    declared = {f.name for f in fields}
    for name in sorted(set(values) - declared):
        problems.append(
            FormProblem(name, FormProblemKind.UNKNOWN, f"{name} is not a field of this form")
        )
    for f in fields:
        value = values.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if f.required:
                problems.append(
                    FormProblem(f.name, FormProblemKind.REQUIRED, f"{f.label}: required")
                )
            continue
        problem = _check_value(f, value)
        if problem is not None:
            problems.append(FormProblem(f.name, problem[0], f"{f.label}: {problem[1]}"))
    return problems


def _check_value(f: FormField, value: Any) -> tuple[FormProblemKind, str] | None:
    if f.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return FormProblemKind.NOT_A_NUMBER, "must be a number"
        if isinstance(value, str) and not _NUMBER.match(value.strip()):
            return FormProblemKind.NOT_A_NUMBER, "must be a number"
        number = float(str(value).strip().replace(",", "."))
        if (f.minimum is not None and number < f.minimum) or (
            f.maximum is not None and number > f.maximum
        ):
            return FormProblemKind.OUT_OF_RANGE, f"must be between {f.minimum} and {f.maximum}"
        return None
    if not isinstance(value, str):
        return FormProblemKind.NOT_TEXT, "must be text"
    if len(value) > f.longest:
        return FormProblemKind.TOO_LONG, f"{f.longest} characters at most"
    if f.type == "date":
        try:
            date.fromisoformat(value.strip())
        except ValueError:
            return FormProblemKind.NOT_A_DATE, "must be a date (yyyy-mm-dd)"
    if f.type == "choice" and value not in f.choices:
        return FormProblemKind.NOT_A_CHOICE, f"must be one of {f.choices}"
    return None


def cleaned(fields: list[FormField], values: dict[str, Any]) -> dict[str, Any]:
    """The values kept for a checked form: text stripped, numbers as numbers, empty optional
    fields left out."""
    kept: dict[str, Any] = {}
    for f in fields:
        value = values.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if f.type == "number":
            number = float(str(value).strip().replace(",", "."))
            kept[f.name] = int(number) if number.is_integer() else number
        else:
            kept[f.name] = value.strip()
    return kept
