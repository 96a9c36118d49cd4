"""The leaders' dashboard's form: the period (month to date unless chosen; ISO dates from the
date inputs, or dd/mm/yyyy typed where a browser has no date picker) and the agency, procedure
or department, each problem named by its field for the error summary."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from api import statistics
from api.pages.render import day
from api.pages.texts import text
from domain.catalog import LoadedCatalog


@dataclass
class Choice:
    """What the leader asked for, read from the form; `errors` for the error summary."""

    period_from: date
    period_to: date
    agency: str | None = None
    procedure: str | None = None
    department: str | None = None
    raw: dict[str, str] = field(default_factory=dict)  # as typed, to show back
    errors: list[dict[str, str]] = field(default_factory=list)

    def query(self) -> str:
        values = {
            "from": self.period_from.isoformat(),
            "to": self.period_to.isoformat(),
            "agency": self.agency,
            "procedure": self.procedure,
            "department": self.department,
        }
        return urlencode({k: v for k, v in values.items() if v})


def read_choice(
    catalog: LoadedCatalog,
    raw_from: str | None,
    raw_to: str | None,
    agency: str | None,
    procedure: str | None,
    department: str | None,
    today: date,
) -> Choice:
    """The period (month to date unless chosen) and the scope; every problem named by field."""
    default_from, default_to = statistics.month_to_date(today)
    errors: list[dict[str, str]] = []
    period_from = _read_day(raw_from, default_from, "period-from", "dashboard.form.from", errors)
    period_to = _read_day(raw_to, default_to, "period-to", "dashboard.form.to", errors)
    if not errors and period_to < period_from:
        errors.append(_error("period-to", "dashboard.error.order"))
    elif not errors and not statistics.period_is_valid(period_from, period_to):
        errors.append(_error("period-to", "dashboard.error.too_long"))
    scope = {
        "agency": _read_code(agency, catalog.agencies, "agency", errors),
        "procedure": _read_code(procedure, catalog.procedures, "procedure", errors),
        "department": _read_code(department, catalog.departments, "department", errors),
    }
    # Shown back as typed (a few characters: enough for any date, not for a page of text).
    raw = {"from": (raw_from or default_from.isoformat())[:20],
           "to": (raw_to or default_to.isoformat())[:20]}  # fmt: skip
    return Choice(period_from, period_to, **scope, raw=raw, errors=errors)


def _read_day(
    raw: str | None, default: date, field_id: str, label: str, errors: list[dict[str, str]]
) -> date:
    """A date input's ISO value, or dd/mm/yyyy typed where the browser has no date picker."""
    raw = (raw or "").strip()
    if not raw:
        return default
    try:
        value = datetime.strptime(raw, "%d/%m/%Y" if "/" in raw else "%Y-%m-%d").date()
    except ValueError:
        errors.append(_error(field_id, "dashboard.error.day", field=text(label)))
        return default
    if not statistics.FIRST_DAY <= value <= statistics.LAST_DAY:
        first, last = day(statistics.FIRST_DAY), day(statistics.LAST_DAY)
        errors.append(
            _error(field_id, "dashboard.error.range", field=text(label), first=first, last=last)
        )
        return default
    return value


def _read_code(
    raw: str | None, known: dict[str, Any], name: str, errors: list[dict[str, str]]
) -> str | None:
    if not raw:
        return None
    if raw not in known:
        label = text(f"dashboard.form.{name}").lower()
        errors.append(_error(f"filter-{name}", "dashboard.error.choice", field=label))
        return None
    return raw


def _error(field_id: str, key: str, **values: str) -> dict[str, str]:
    return {"field": field_id, "message": text(key, **values)}


def form_values(
    catalog: LoadedCatalog, choice: Choice, agencies: frozenset[str] | None
) -> dict[str, Any]:
    """What the form shows: the dates as asked, the selects with their options (of `agencies`
    only, those the official may see; None: all) and errors."""
    c = catalog.catalog
    if agencies is None:
        within: tuple[list[Any], ...] = (c.agencies, c.procedures, c.departments)
    else:
        within = (
            [a for a in c.agencies if a.code in agencies],
            [p for p in c.procedures if p.agency in agencies],
            [d for d in c.departments
             if statistics.department_agencies(catalog, d.code) & agencies],
        )  # fmt: skip
    by_field = {e["field"]: e["message"] for e in choice.errors}
    return {
        "from": choice.raw.get("from", ""),
        "to": choice.raw.get("to", ""),
        "first_day": statistics.FIRST_DAY.isoformat(),
        "last_day": statistics.LAST_DAY.isoformat(),
        "selects": [
            {
                "name": name,
                "id": f"filter-{name}",
                "label": text(f"dashboard.form.{name}"),
                "options": [(item.code, item.name) for item in items],
                "value": getattr(choice, name),
                "error": by_field.get(f"filter-{name}"),
            }
            for name, items in zip(("agency", "procedure", "department"), within, strict=True)
        ],
        "errors": by_field,
        # Folded under the figures; open when something in it needs correcting.
        "open": bool(choice.errors),
    }
