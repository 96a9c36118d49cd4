"""The leaders' dashboard (`/can-bo/thong-ke`): the Decision 766 figures for a chosen period,
agency, procedure or department, each with its numerator and denominator; the online and
on-time rates per procedure and per department as bars, lowest first; the trend over the
nightly snapshots as a line; a table under each chart; and the figures as CSV.

The figures are api/statistics.py's, as the JSON API's are; so is the rule of who may see
them (leaders their own agency's, operators every agency's)."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import statistics
from api.deps import ContextDep, SessionDep
from api.pages.charts import Bar, Series, bar_chart, line_chart, number, percent
from api.pages.dashboard_form import Choice, form_values, read_choice
from api.pages.guard import PageOfficialDep
from api.pages.officer import NavDep
from api.pages.render import day, no_store, page
from api.pages.texts import text
from api.security import TokenClaims
from api.statistics import FIGURES, DaySnapshot, GroupIndex, ServiceIndex
from domain.calendar import VN_TZ
from domain.catalog import LoadedCatalog

router = APIRouter(prefix="/can-bo/thong-ke", include_in_schema=False, dependencies=[NavDep])

Param = Annotated[str | None, Query()]
By = Literal["procedure", "department"]


def _choice(
    ctx: ContextDep,
    period_from: Annotated[str | None, Query(alias="from")] = None,
    period_to: Annotated[str | None, Query(alias="to")] = None,
    agency: Param = None,
    procedure: Param = None,
    department: Param = None,
) -> Choice:
    today = datetime.now(VN_TZ).date()
    return read_choice(ctx.catalog, period_from, period_to, agency, procedure, department, today)


ChoiceDep = Annotated[Choice, Depends(_choice)]


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: PageOfficialDep,
    choice: ChoiceDep,
) -> HTMLResponse:
    refused = _refusal(request, ctx.catalog, official, choice)
    if refused is not None:
        return refused
    index = await _index(session, choice)
    values = {
        "form": form_values(
            ctx.catalog, choice, statistics.viewable_agencies(ctx.catalog, official)
        ),
        "period": _period_text(ctx.catalog, choice),
        "csv_url": f"/can-bo/thong-ke/chi-so.csv?{choice.query()}",
        "empty": index.received.total == 0,
        "figures": figures(index),
        "received": _received_rows(index),
        "sections": [
            await _section(session, ctx.catalog, choice, index, by)
            for by in ("procedure", "department")
        ],
        "trend": await _trend(session, ctx.catalog, choice),
    }
    return page(request, "thong_ke/dashboard.html", values)


@router.get("/chi-so.csv", response_class=Response)
async def figures_csv(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: PageOfficialDep,
    choice: ChoiceDep,
) -> Response:
    """The figures as the JSON API's CSV (`/api/v1/stats?format=csv`) writes them."""
    refused = _refusal(request, ctx.catalog, official, choice)
    if refused is not None:
        return refused
    index = await _index(session, choice)
    name = f"chi-so-phuc-vu_{choice.period_from}_{choice.period_to}.csv"
    response = Response(
        statistics.csv_text(index),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    no_store(response)
    return response


def _refusal(
    request: Request, catalog: LoadedCatalog, official: TokenClaims, choice: Choice
) -> HTMLResponse | None:
    """The page instead of the figures, if any: refused (not a leader nor an operator, or a
    leader asking for another agency's), or the form with its problems. A leader's choice is
    then their own agency's (api/statistics.py's rule, the JSON API's)."""
    if not statistics.may_see(official):
        return page(request, "thong_ke/refused.html", status_code=403)
    if choice.errors:
        values = {
            "form": form_values(catalog, choice, statistics.viewable_agencies(catalog, official)),
            "errors": choice.errors,
        }
        return page(request, "thong_ke/dashboard.html", values, status_code=422)
    try:
        scope = choice.procedure, choice.department
        choice.agency = statistics.scope(catalog, official, choice.agency, *scope)
    except statistics.OutOfScope as exc:
        own = [_name(catalog.agencies, code) for code in sorted(exc.own)]
        values = {"own_agencies": own}
        return page(request, "thong_ke/refused.html", values, status_code=403)
    return None


async def _index(session: AsyncSession, choice: Choice) -> ServiceIndex:
    return await statistics.index(
        session,
        choice.period_from,
        choice.period_to,
        choice.agency,
        choice.procedure,
        choice.department,
    )


# ---- what the page shows ----------------------------------------------------------------


def _period_text(catalog: LoadedCatalog, choice: Choice) -> str:
    period = text("dashboard.period", start=day(choice.period_from), end=day(choice.period_to))
    names = [
        _name(catalog.agencies, choice.agency),
        _name(catalog.procedures, choice.procedure),
        _name(catalog.departments, choice.department),
    ]
    return " · ".join([period, *(n for n in names if n)])


def _name(known: dict[str, Any], code: str | None) -> str:
    """The catalog's name for a code (a code it no longer has shows as itself)."""
    if not code:
        return ""
    item = known.get(code)
    return str(item.name) if item is not None else code


def figures(index: ServiceIndex) -> list[dict[str, str]]:
    """Each figure: its value, and the numerator and denominator behind it."""
    rows = []
    for name in FIGURES:
        f: statistics.Figure = getattr(index, name)
        if name == "average_processing_days":
            value = "—" if f.rate is None else text("dashboard.days", value=number(f.rate))
        else:
            value = percent(f.rate)
        rows.append(
            {
                "id": f"figure-{name}",
                "label": text(f"dashboard.figure.{name}"),
                "value": value,
                "ratio": f"{number(f.numerator)}/{number(f.denominator)}",
                "meaning": text(f"dashboard.figure.{name}.ratio"),
            }
        )
    return rows


def _received_rows(index: ServiceIndex) -> list[tuple[str, str]]:
    r = index.received
    counts = {k: number(v) for k, v in r.model_dump().items()}
    progress = {"finished": number(index.finished), "in_process": number(index.in_process)}
    return [
        (text("dashboard.received.total"), counts["total"]),
        (text("dashboard.received.channels"), text("dashboard.received.channels.value", **counts)),
        (
            text("dashboard.received.applicants"),
            text("dashboard.received.applicants.value", **counts),
        ),
        (
            text("dashboard.received.progress"),
            text("dashboard.received.progress.value", **progress),
        ),
    ]


async def _section(
    session: AsyncSession, catalog: LoadedCatalog, choice: Choice, index: ServiceIndex, by: By
) -> dict[str, Any]:
    """Two bar charts (online rate, on-time rate) per procedure or per department."""
    args = (choice.period_from, choice.period_to, choice.agency, choice.procedure)
    groups = await statistics.breakdown(session, by, *args, choice.department)
    known: dict[str, Any] = catalog.procedures if by == "procedure" else catalog.departments
    names = {g.key: _name(known, g.key) for g in groups}
    return {
        "heading": text(f"dashboard.by.{by}"),
        "hint": text("dashboard.by.department.hint") if by == "department" else None,
        "charts": [
            rate_chart(by, rate, groups, names, getattr(index, rate))
            for rate in ("online", "on_time")
        ],
    }


def rate_chart(
    by: By,
    rate: Literal["online", "on_time"],
    groups: list[GroupIndex],
    names: dict[str, str],
    overall: statistics.Figure,
) -> dict[str, Any]:
    """One rate per group as bars, lowest first (ties by name), the lower than overall in the
    warning colour; the same rows for the table under it."""
    ranked = sorted(groups, key=lambda g: (getattr(g, rate).rate or 0.0, names[g.key]))
    title = text(
        "dashboard.chart.bars",
        rate=text(f"dashboard.rate.{rate}"),
        by=text(f"dashboard.by.{by}.short"),
    )
    chart_id = f"chart-{by}-{rate}".replace("_", "-")
    rows, bars = [], []
    for g in ranked:
        f: statistics.Figure = getattr(g, rate)
        low = overall.rate is not None and f.rate is not None and f.rate < overall.rate
        bars.append(Bar(names[g.key], f.rate, percent(f.rate), low))
        rows.append(
            (names[g.key], percent(f.rate), f"{number(f.numerator)}/{number(f.denominator)}")
        )
    return {
        "id": chart_id,
        "title": title,
        "svg": bar_chart(chart_id, title, bars),
        "note": text("dashboard.chart.low", overall=percent(overall.rate)),
        "columns": [
            text(f"dashboard.col.{by}"),
            text("dashboard.col.rate"),
            text("dashboard.col.count"),
        ],
        "rows": rows,
    }


async def _trend(
    session: AsyncSession, catalog: LoadedCatalog, choice: Choice
) -> dict[str, Any] | None:
    """The nightly snapshots of the narrowest scope chosen (a department, a procedure, an
    agency), or of every agency added up; None when no night was kept in the period."""
    span = (choice.period_from, choice.period_to)
    if choice.department:
        scope = _name(catalog.departments, choice.department)
        days = await statistics.trend(session, "department", choice.department, *span)
    elif choice.procedure:
        scope = _name(catalog.procedures, choice.procedure)
        days = await statistics.trend(session, "procedure", choice.procedure, *span)
    elif choice.agency:
        scope = _name(catalog.agencies, choice.agency)
        days = await statistics.trend(session, "agency", choice.agency, *span)
    else:
        scope = text("dashboard.scope_all")
        days = await statistics.trend_of_all(session, catalog.agencies, scope, *span)
    if not any(d.index.received.total for d in days):
        return None
    return trend_chart(days, choice.period_from, choice.period_to, scope)


def trend_chart(
    days: list[DaySnapshot], period_from: date, period_to: date, scope: str
) -> dict[str, Any]:
    """The on-time and online rates night by night, placed along the period."""
    span = max((period_to - period_from).days, 1)

    def points(rate: Literal["on_time", "online"]) -> list[tuple[float, float | None]]:
        return [((d.day - period_from).days / span, getattr(d.index, rate).rate) for d in days]

    series = [
        Series(text("dashboard.rate.on_time"), points("on_time")),
        Series(text("dashboard.rate.online"), points("online"), second=True),
    ]
    title = text("dashboard.trend.chart", scope=scope)
    ends = (day(period_from), day(period_to))

    def cell(f: statistics.Figure) -> str:
        return f"{percent(f.rate)} ({number(f.numerator)}/{number(f.denominator)})"

    return {
        "id": "chart-trend",
        "title": title,
        "hint": text("dashboard.trend.hint", scope=scope),
        "svg": line_chart("chart-trend", title, series, ends),
        "columns": [
            text("dashboard.col.day"),
            text("dashboard.rate.on_time"),
            text("dashboard.rate.online"),
            text("dashboard.col.received"),
        ],
        "rows": [
            (
                day(d.day),
                cell(d.index.on_time),
                cell(d.index.online),
                number(d.index.received.total),
            )
            for d in days
        ],
    }
