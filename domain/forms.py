"""A procedure's declaration form (tờ khai) as data: its fields, and the check of what an
applicant filled in. The API answers the problems as a 422 naming the field; the submission
page shows them next to the field, in Vietnamese. One check, both surfaces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.calendar import VN_TZ

FieldType = Literal["text", "textarea", "number", "date", "choice", "address"]

# Longest text each type takes, unless the field says otherwise.
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 2000, "address": 500, "number": 40, "date": 10}
TEXT_TYPES = ("text", "textarea", "address")
# Numbers beyond this are typing mistakes, and would lose digits in a JSON reader.
_LARGEST = Decimal(10) ** 15


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
    # A number's bounds, inclusive, and whether it counts things (no fraction; then "100.000"
    # is a hundred thousand, as a Vietnamese writes it).
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    # A date that has happened (a birth, the start of a land use): not after today.
    not_future: bool = False

    @model_validator(mode="after")
    def _attributes_fit_the_type(self) -> FormField:
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"field {self.name}: a choice field, and only one, lists choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"field {self.name}: choices must be unique")
        numeric = self.minimum is not None or self.maximum is not None or self.integer
        if numeric and self.type != "number":
            raise ValueError(f"field {self.name}: only a number has bounds or is an integer")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.name}: minimum is above maximum")
        if self.not_future and self.type != "date":
            raise ValueError(f"field {self.name}: only a date can be not_future")
        if self.max_length is not None and self.type not in TEXT_TYPES:
            raise ValueError(f"field {self.name}: only text has a max_length")
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
    NOT_AN_INTEGER = "not_an_integer"
    OUT_OF_RANGE = "out_of_range"
    NOT_A_DATE = "not_a_date"
    IN_THE_FUTURE = "in_the_future"
    NOT_A_CHOICE = "not_a_choice"


@dataclass(frozen=True)
class FormProblem:
    field: str
    kind: FormProblemKind
    message: str  # in English, for the API; the pages have their own words per kind


def check_form(
    fields: list[FormField], values: dict[str, Any], today: date | None = None
) -> list[FormProblem]:
    """What is wrong with `values` as the form of `fields`: empty when nothing is. A number may
    come as a number or as text from a web form ("1,5", "500.000.000"); a date as
    `yyyy-mm-dd` or `dd/mm/yyyy`. `today` is Vietnam's today unless given."""
    problems: list[FormProblem] = []
    declared = {f.name for f in fields}
    for name in sorted(set(values) - declared):
        problems.append(
            FormProblem(name, FormProblemKind.UNKNOWN, f"{name} is not a field of this form")
        )
    today = today or datetime.now(VN_TZ).date()
    for f in fields:
        value = values.get(f.name)
        if _empty(value):
            if f.required:
                problems.append(
                    FormProblem(f.name, FormProblemKind.REQUIRED, f"{f.label}: required")
                )
            continue
        problem = _check_value(f, value, today)
        if problem is not None:
            problems.append(FormProblem(f.name, problem[0], f"{f.label}: {problem[1]}"))
    return problems


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_value(f: FormField, value: Any, today: date) -> tuple[FormProblemKind, str] | None:
    if f.type == "number":
        return _check_number(f, value)
    if not isinstance(value, str):
        return FormProblemKind.NOT_TEXT, "must be text"
    text = value.strip()
    if len(text) > f.longest:
        return FormProblemKind.TOO_LONG, f"{f.longest} characters at most"
    if f.type == "date":
        day = parse_date(text)
        if day is None:
            return FormProblemKind.NOT_A_DATE, "must be a date (yyyy-mm-dd or dd/mm/yyyy)"
        if f.not_future and day > today:
            return FormProblemKind.IN_THE_FUTURE, "must not be after today"
    if f.type == "choice" and text not in f.choices:
        return FormProblemKind.NOT_A_CHOICE, f"must be one of {f.choices}"
    return None


def _check_number(f: FormField, value: Any) -> tuple[FormProblemKind, str] | None:
    number = parse_number(value, f.integer)
    if number is None:
        return FormProblemKind.NOT_A_NUMBER, "must be a number"
    if f.integer and number != number.to_integral_value():
        return FormProblemKind.NOT_AN_INTEGER, "must be a whole number"
    low = Decimal(str(f.minimum)) if f.minimum is not None else -_LARGEST
    high = Decimal(str(f.maximum)) if f.maximum is not None else _LARGEST
    if not low <= number <= high:
        return FormProblemKind.OUT_OF_RANGE, f"must be between {_shown(low)} and {_shown(high)}"
    return None


def _shown(bound: Decimal) -> str:
    return str(int(bound)) if bound == bound.to_integral_value() else str(bound.normalize())


_PLAIN = re.compile(r"^-?[0-9]+(?:[.,][0-9]+)?$")
# Thousands grouped with dots or spaces and a decimal comma (Vietnamese: 1.234.567,5), or with
# commas and a decimal point (1,234,567.5).
_GROUPED_VI = re.compile(
    r"^-?[0-9]{1,3}(?P<sep>[. \u00a0\u202f])[0-9]{3}(?:(?P=sep)[0-9]{3})*(,[0-9]+)?$"
)
_GROUPED_EN = re.compile(r"^-?[0-9]{1,3}(?:,[0-9]{3})+(\.[0-9]+)?$")


def parse_number(value: Any, integer: bool = False) -> Decimal | None:
    """The number a form value means, or None. One separator alone is the decimal one
    ("1,5" and "1.5" are one and a half) — unless the field counts things, where a separator
    before exactly three digits groups thousands ("100.000" is a hundred thousand)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        return _parse_text(value.strip(), integer)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _parse_text(text: str, integer: bool) -> Decimal | None:
    if len(text) > DEFAULT_MAX_LENGTH["number"]:
        return None
    grouped = _GROUPED_VI.match(text) or _GROUPED_EN.match(text)
    plain = _PLAIN.match(text)
    if grouped and (integer or not plain):
        decimal_sep = "," if grouped.re is _GROUPED_VI else "."
        whole, _, fraction = text.partition(decimal_sep)
        digits = re.sub(r"[^0-9-]", "", whole) + (f".{fraction}" if fraction else "")
    elif plain:
        digits = text.replace(",", ".")
    else:
        return None
    return Decimal(digits)


_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_VN_DATE = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$")


def parse_date(text: str) -> date | None:
    """A day written `yyyy-mm-dd` (what a date input sends) or `dd/mm/yyyy` (what a
    Vietnamese writes), or None."""
    text = text.strip()
    if iso := _ISO_DATE.match(text):
        year, month, day = (int(g) for g in iso.groups())
    elif vn := _VN_DATE.match(text):
        day, month, year = (int(g) for g in vn.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def cleaned(fields: list[FormField], values: dict[str, Any]) -> dict[str, Any]:
    """The values kept for a checked form: text stripped, numbers as numbers, dates as
    `yyyy-mm-dd`, empty optional fields left out."""
    kept: dict[str, Any] = {}
    for f in fields:
        value: Any = values.get(f.name)
        if _empty(value):
            continue
        if f.type == "number":
            number = parse_number(value, f.integer)
            assert number is not None, "cleaned() takes a checked form"
            integral = number == number.to_integral_value()
            kept[f.name] = int(number) if integral else float(number)
        elif f.type == "date":
            day = parse_date(value)
            assert day is not None, "cleaned() takes a checked form"
            kept[f.name] = day.isoformat()
        else:
            kept[f.name] = value.strip()
    return kept
