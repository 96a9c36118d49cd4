"""The leaders' dashboard (/can-bo/thong-ke) over a hand-built October 2024 (no other test's
dossiers fall in it), checked against the JSON API for the same filter.

Procedure, count, channel; received → due; end of processing; department:
- 1.001612 (household business) ×4, online; 1/10 9:00 → 10/10 17:00; result 3/10 (on time),
  one with two supplement requests (late); KT.
- 1.001193 (birth registration) ×3, at the counter; 2/10 9:00 → 2/10 17:00; result 4/10
  (late); TPHT.
- 1.009994 (building permit) ×3, two online, one at the counter; 7/10 9:00 → 5/11 17:00;
  still open (on time); KTHT.
- 1.012778 (land, the other agency) ×2, online; 15/10 9:00 → 20/10 17:00; result 18/10 (on
  time); VPDK.
The agency 000.00.15.H39 thus received 10 (online 6, on time 6); every agency, 12 (8, 8).
The nightly snapshot kept 5/10, 10/10 and 20/10.
"""

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from html import unescape
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from api.pages.charts import Bar, Series, bar_chart, line_chart, number, percent
from api.statistics import FIGURES
from domain.calendar import VN_TZ
from motcua.settings import Settings
from store.db import Sessionmaker
from tests.browser import assert_accessible, screenshot
from tests.client import ApiClient
from tests.conftest import Stack
from tests.stats_data import counted_dossier
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)

PAGE = "/can-bo/thong-ke"
OCTOBER = "from=2024-10-01&to=2024-10-31"
MY_YEN = "000.00.15.H39"
LAND = "000.00.20.H39"
NIGHTS = ("2024-10-05", "2024-10-10", "2024-10-20")
NAMES = {
    "1.001612": "Đăng ký thành lập hộ kinh doanh",
    "1.001193": "Đăng ký khai sinh",
    "1.009994": "Cấp giấy phép xây dựng nhà ở riêng lẻ",
}


def _at(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
async def october(sessionmaker: Sessionmaker, settings: Settings, stack: Stack) -> None:
    async def many(n: int, **spec: Any) -> None:
        for _ in range(n):
            await counted_dossier(sessionmaker, settings, **spec)

    business = {"procedure": "1.001612", "channel": "online", "kind": "individual",
                "received": _at(1, 9), "due": _at(10, 17), "status": 10, "issued": _at(3, 10),
                "finished": _at(3, 10), "department": "KT"}  # fmt: skip
    await many(3, **business)
    await many(1, **business, supplements=2)
    await many(3, procedure="1.001193", channel="counter", kind="individual",
               received=_at(2, 9), due=_at(2, 17), status=10, issued=_at(4, 9),
               finished=_at(4, 9), delivery="counter", department="TPHT")  # fmt: skip
    permit = {"procedure": "1.009994", "kind": "organization", "received": _at(7, 9),
              "due": _at(5, 17, month=11), "department": "KTHT"}  # fmt: skip
    await many(2, channel="online", **permit)
    await many(1, channel="counter", **permit)
    await many(2, procedure="1.012778", channel="online", kind="individual",
               received=_at(15, 9), due=_at(20, 17), status=10, issued=_at(18, 9),
               finished=_at(18, 9), department="VPDK")  # fmt: skip
    for night in NIGHTS:
        await stack.client.execute_workflow(
            ServiceIndexSnapshotWorkflow.run,
            ServiceIndexSnapshotInput(night),
            id=f"test-dashboard-snapshot-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )


Login = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="module")
async def log_in(stack: Stack, demo_password: str) -> AsyncIterator[Login]:
    """A browser-like client per official, logged in through the back office's login form."""
    clients: list[httpx.AsyncClient] = []

    async def logged_in(username: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=stack.base_url, timeout=30)
        clients.append(client)
        form = await client.get("/can-bo/dang-nhap")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        r = await client.post(
            "/can-bo/dang-nhap",
            data={"username": username, "password": demo_password, "csrf_token": token[1]},
        )
        assert r.status_code == 303, r.text
        return client

    yield logged_in
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="module")
async def leader(log_in: Login) -> httpx.AsyncClient:
    return await log_in("ld.leader")


@pytest.fixture(scope="module")
async def api(http: httpx.AsyncClient, demo_password: str) -> tuple[ApiClient, dict[str, str]]:
    client = ApiClient(http, demo_password)
    return client, await client.as_official("ld.leader")


# ---- reading the page -------------------------------------------------------------------


def _plain(html: str) -> str:
    """The text, its spaces (the no-break one before % too) as one plain space each."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _pct(rate: float | None) -> str:
    return " ".join(percent(rate).split())


def _element(html: str, tag: str, element_id: str) -> str:
    found = re.search(rf'<{tag}[^>]* id="{element_id}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert found, f"no <{tag} id={element_id}>"
    return found[1]


def _bars(html: str, chart_id: str) -> list[tuple[str, str, bool]]:
    """A bar chart's bars, top to bottom: label, value, drawn as low."""
    svg = _element(html, "svg", chart_id)
    rows = re.findall(r'<g class="chart__row">(.*?)</g>', svg, re.S)
    return [(_text(row, "chart__label"), _text(row, "chart__value"), "bar--low" in row)
            for row in rows]  # fmt: skip


def _text(svg: str, css: str) -> str:
    found = re.search(rf'<text class="{css}[^"]*"[^>]*>([^<]*)</text>', svg)
    assert found, css
    return _plain(found[1])


def _table(html: str, table_id: str) -> list[list[str]]:
    body = _element(html, "table", table_id)
    assert "<caption" in body and 'scope="col"' in body and 'scope="row"' in body
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    return [
        [_plain(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)] for row in rows
    ]


def _ratio(figure: dict[str, Any]) -> str:
    return f"{number(figure['numerator'])}/{number(figure['denominator'])}"


async def _page(client: httpx.AsyncClient, query: str) -> str:
    r = await client.get(f"{PAGE}?{query}")
    assert r.status_code == 200, r.text
    return r.text


# ---- the figures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    ["", f"&agency={MY_YEN}", "&department=KT", "&procedure=1.009994"],
)
async def test_each_figure_shows_the_json_apis_numerator_and_denominator(
    october: None, leader: httpx.AsyncClient, api: tuple[ApiClient, dict[str, str]], scope: str
) -> None:
    client, headers = api
    index = (await client.http.get(f"/api/v1/stats?{OCTOBER}{scope}", headers=headers)).json()
    html = await _page(leader, OCTOBER + scope)
    assert index["received"]["total"] > 0
    for name in FIGURES:
        shown = _plain(_element(html, "li", f"figure-{name}"))
        assert f"({_ratio(index[name])})" in shown, (name, shown)
        if name != "average_processing_days":
            assert _pct(index[name]["rate"]) in shown, (name, shown)


async def test_the_figures_as_a_leader_reads_them(october: None, leader: httpx.AsyncClient) -> None:
    html = await _page(leader, f"{OCTOBER}&agency={MY_YEN}")
    assert "Từ 01/10/2024 đến 31/10/2024" in html
    assert "[dashboard." not in html  # every text is in the catalog
    assert "Giải quyết đúng hạn 60,0 % (6/10)" in _plain(_element(html, "li", "figure-on_time"))
    assert "Tiếp nhận trực tuyến 60,0 % (6/10)" in _plain(_element(html, "li", "figure-online"))
    # Days to the result: 4 × 2 1/24 (household business) + 3 × 2 (birth) = 14 1/6 over 7.
    days = _plain(_element(html, "li", "figure-average_processing_days"))
    assert "2,0 ngày (14,2/7)" in days


# ---- the bars ---------------------------------------------------------------------------


async def test_the_bars_are_lowest_first_and_their_tables_say_the_same(
    october: None, leader: httpx.AsyncClient, api: tuple[ApiClient, dict[str, str]]
) -> None:
    html = await _page(leader, f"{OCTOBER}&agency={MY_YEN}")
    online = _bars(html, "chart-procedure-online")
    on_time = _bars(html, "chart-procedure-on-time")
    # Birth 0/3, permit 2/3, business 4/4 online; birth 0/3, business 3/4, permit 3/3 on time.
    assert [(label, value) for label, value, _ in online] == [
        (NAMES["1.001193"], "0,0 %"),
        (NAMES["1.009994"], "66,7 %"),
        (NAMES["1.001612"], "100,0 %"),
    ]
    assert [label for label, _, _ in on_time] == [
        NAMES["1.001193"],
        NAMES["1.001612"],
        NAMES["1.009994"],
    ]
    # Below the agency's 60 %: the birth registration alone.
    assert [low for _, _, low in online] == [True, False, False]

    client, headers = api
    url = f"/api/v1/stats/breakdown?{OCTOBER}&agency={MY_YEN}"
    for by in ("procedure", "department"):
        groups = (await client.http.get(f"{url}&by={by}", headers=headers)).json()
        for rate in ("online", "on_time"):
            chart_id = f"chart-{by}-{rate}".replace("_", "-")
            bars = _bars(html, chart_id)
            table = _table(html, f"{chart_id}-table")
            assert [[label, value] for label, value, _ in bars] == [row[:2] for row in table]
            values = [float(value.rstrip(" %").replace(",", ".")) for _, value, _ in bars]
            assert values == sorted(values), chart_id
            expected = sorted(_ratio(g[rate]) for g in groups)
            assert sorted(row[2] for row in table) == expected, chart_id


# ---- the trend --------------------------------------------------------------------------


async def test_the_trend_is_the_nightly_snapshots(
    october: None, leader: httpx.AsyncClient, api: tuple[ApiClient, dict[str, str]], log_in: Login
) -> None:
    client, headers = api
    url = f"/api/v1/stats/snapshots?{OCTOBER}&scope=agency&key={MY_YEN}"
    kept = (await client.http.get(url, headers=headers)).json()
    html = await _page(leader, f"{OCTOBER}&agency={MY_YEN}")
    assert re.search(r'<svg [^>]*id="chart-trend"[^>]*role="img"', html)
    rows = _table(html, "chart-trend-table")
    assert [row[0] for row in rows] == ["05/10/2024", "10/10/2024", "20/10/2024"]
    for row, night in zip(rows, kept, strict=True):
        index = night["index"]
        on_time = f"{_pct(index['on_time']['rate'])} ({_ratio(index['on_time'])})"
        online = f"{_pct(index['online']['rate'])} ({_ratio(index['online'])})"
        assert row[1:] == [on_time, online, str(index["received"]["total"])]
    assert rows[0][1] == "42,9 % (3/7)"  # the 5th: business 3 of 4 on time, birth none
    svg = _element(html, "svg", "chart-trend")
    assert svg.count('<circle class="dot"') == 3 and svg.count("dot--second") == 3

    # Every agency, as an operator sees it: the nights of both added up (the land office's
    # two came on the 15th).
    everyone = _table(await _page(await log_in("ops.operator"), OCTOBER), "chart-trend-table")
    assert [row[3] for row in everyone] == ["7", "10", "12"]
    assert everyone[2][1] == "66,7 % (8/12)"


# ---- the CSV, who may see, what may go wrong --------------------------------------------


async def test_the_csv_is_the_json_apis(
    october: None, leader: httpx.AsyncClient, api: tuple[ApiClient, dict[str, str]]
) -> None:
    html = await _page(leader, f"{OCTOBER}&department=KT")
    link = re.search(r'<a href="([^"]+\.csv[^"]*)"', html)
    assert link
    r = await leader.get(unescape(link[1]))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="chi-so-phuc-vu_2024-10-01_2024-10-31.csv"'
    )
    client, headers = api
    expected = await client.http.get(f"/api/v1/stats?{OCTOBER}&department=KT&format=csv",
                                     headers=headers)  # fmt: skip
    assert r.text == expected.text
    assert "on_time,3,4,0.75" in r.text.splitlines()


async def test_only_leaders_and_operators_see_it(october: None, log_in: Login) -> None:
    specialist = await log_in("kt.specialist")
    for path in (f"{PAGE}?{OCTOBER}", f"{PAGE}/chi-so.csv?{OCTOBER}"):
        r = await specialist.get(path)
        assert r.status_code == 403
        assert "chỉ dành cho lãnh đạo" in r.text and "6/10" not in r.text
        assert path.endswith(".csv") or "<h1>Trang dành cho lãnh đạo</h1>" in r.text
    operator = await log_in("ops.operator")
    assert (await operator.get(f"{PAGE}?{OCTOBER}")).status_code == 200
    async with httpx.AsyncClient(base_url=str(specialist.base_url)) as nobody:
        r = await nobody.get(f"{PAGE}?{OCTOBER}")
        assert r.status_code == 303 and r.headers["location"].startswith("/can-bo/dang-nhap")


async def test_a_leader_sees_their_own_agencys_figures(
    october: None, leader: httpx.AsyncClient, api: tuple[ApiClient, dict[str, str]], log_in: Login
) -> None:
    """The leader of Mỹ Yên's people's committee: their agency's figures when they name none,
    and no other agency's, on the page, in its CSV and from the JSON API alike."""
    html = await _page(leader, OCTOBER)
    assert "(6/10)" in _plain(_element(html, "li", "figure-on_time"))  # not every agency's 8/12
    assert f'<option value="{MY_YEN}" selected>' in html and LAND not in html
    assert NAMES["1.001612"] in html and "1.012778" not in html  # only its procedures offered
    client, headers = api
    for query in (f"&agency={LAND}", "&procedure=1.012778", "&department=VPDK"):
        for path in (PAGE, f"{PAGE}/chi-so.csv"):
            r = await leader.get(f"{path}?{OCTOBER}{query}")
            assert r.status_code == 403, (path, query)
            assert "chỉ xem được số liệu của cơ quan mình" in r.text and "UBND xã Mỹ Yên" in r.text
            if path == PAGE:  # to a leader, not "a page for leaders"
                assert "<h1>Không xem được số liệu của cơ quan khác</h1>" in r.text
            assert "figure-on_time" not in r.text
        r = await client.http.get(f"/api/v1/stats?{OCTOBER}{query}", headers=headers)
        assert r.status_code == 403 and MY_YEN in r.json()["detail"]
    r = await client.http.get(
        f"/api/v1/stats/breakdown?{OCTOBER}&by=procedure&agency={LAND}", headers=headers
    )
    assert r.status_code == 403
    mine = (await client.http.get(f"/api/v1/stats/breakdown?{OCTOBER}&by=procedure",
                                  headers=headers)).json()  # fmt: skip
    assert {g["key"] for g in mine} == set(NAMES)
    snapshots = f"/api/v1/stats/snapshots?{OCTOBER}"
    for scope, key in (("agency", LAND), ("procedure", "1.012778"), ("department", "VPDK")):
        r = await client.http.get(f"{snapshots}&scope={scope}&key={key}", headers=headers)
        assert r.status_code == 403, scope
    r = await client.http.get(f"{snapshots}&scope=department&key=KT", headers=headers)
    assert r.status_code == 200 and r.json()
    # The land office's leader sees theirs; an operator, every agency's.
    land = await log_in("vpdk_ld.leader")
    assert "(2/2)" in _plain(_element(await _page(land, OCTOBER), "li", "figure-on_time"))
    assert (await land.get(f"{PAGE}?{OCTOBER}&agency={MY_YEN}")).status_code == 403
    operator = await log_in("ops.operator")
    assert "(8/12)" in _plain(_element(await _page(operator, OCTOBER), "li", "figure-on_time"))
    assert "(2/2)" in _plain(
        _element(await _page(operator, f"{OCTOBER}&agency={LAND}"), "li", "figure-on_time")
    )
    operator_api = await client.as_official("ops.operator")
    r = await client.http.get(f"/api/v1/stats?{OCTOBER}&agency={LAND}", headers=operator_api)
    assert r.status_code == 200 and r.json()["received"]["total"] == 2


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2024-10-31&to=2024-10-01", "period-to", "Đến ngày phải bằng hoặc sau Từ ngày"),
        ("from=2024-02-30&to=2024-10-01", "period-from", "Từ ngày phải là một ngày có thật"),
        ("from=31/10/2024&to=hôm qua", "period-to", "Đến ngày phải là một ngày có thật"),
        ("from=1999-12-31&to=2024-10-01", "period-from", "trong khoảng từ 01/01/2000"),
        ("from=9999-12-01&to=9999-12-31", "period-from", "đến 31/12/2099"),
        ("from=2000-01-01&to=2099-12-31", "period-to", "không được dài quá 10 năm"),
        (f"{OCTOBER}&agency=<b>x</b>", "filter-agency", "Chọn cơ quan trong danh sách"),
    ],
)
async def test_a_bad_period_is_said_on_the_page(
    leader: httpx.AsyncClient, query: str, field: str, message: str
) -> None:
    r = await leader.get(f"{PAGE}?{query}")
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S)
    assert summary and f'href="#{field}"' in summary[0], r.text
    assert message in _plain(summary[0])
    assert f'id="{field}"' in r.text and f'id="{field}-error"' in r.text
    assert "<b>x</b>" not in r.text and "<svg" not in r.text
    # The form, folded away when all is well, is open to correct it.
    assert '<details class="dashboard-filters" open>' in r.text


async def test_a_period_without_dossiers_says_so(leader: httpx.AsyncClient) -> None:
    html = await _page(leader, "from=2001-01-01&to=2001-01-31")
    assert "Không có hồ sơ nào được tiếp nhận" in html
    assert '<details class="dashboard-filters">' in html  # folded: nothing to correct
    assert "<svg" not in html and 'id="figure-on_time"' not in html


async def test_the_period_is_the_month_to_date_unless_chosen(leader: httpx.AsyncClient) -> None:
    today = datetime.now(VN_TZ).date()  # (the page's own clock: around midnight, the next day)
    html = await _page(leader, "")
    assert f'value="{today.replace(day=1).isoformat()}"' in html
    assert f'value="{today.isoformat()}"' in html


# ---- the charts, alone ------------------------------------------------------------------


def test_charts_escape_their_labels_and_carry_no_style() -> None:
    label = '<script>alert("x")</script> & co'
    bars = bar_chart("c", f"Tỷ lệ {label}", [Bar(label, 0.25, "25,0 %", low=True)])
    line = line_chart("l", label, [Series(label, [(0.0, 0.5), (1.0, None)])], ("a", "<b>"))
    for svg in (bars, line):
        assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
        assert "style=" not in svg
        assert 'role="img"' in svg and 'aria-labelledby="' in svg
    assert 'width="25.00%"' in bars and "bar--low" in bars
    assert "&lt;b&gt;" in line


def test_numbers_are_written_the_vietnamese_way() -> None:
    assert (percent(0.923), percent(1.0), percent(None)) == ("92,3\u00a0%", "100,0\u00a0%", "—")
    assert (number(12345), number(92.5), number(4.2045)) == ("12.345", "92,5", "4,2")


# ---- on a phone -------------------------------------------------------------------------


async def test_a_leader_reads_the_dashboard_on_a_phone(
    october: None, phone: Page, demo_password: str
) -> None:
    await phone.goto(PAGE)
    await phone.get_by_label("Tên đăng nhập").fill("ld.leader")
    await phone.get_by_label("Mật khẩu").fill(demo_password)
    await phone.get_by_role("button", name="Đăng nhập").click()
    await phone.wait_for_url(f"**{PAGE}")
    await assert_accessible(phone)
    # The period and the figures first; the form to change them folded under the period.
    await expect(phone.get_by_label("Từ ngày")).to_be_hidden()
    await phone.get_by_text("Đổi khoảng thời gian, phạm vi").click()
    await phone.get_by_label("Từ ngày").fill("2024-10-01")
    await phone.get_by_label("Đến ngày").fill("2024-10-31")
    await phone.get_by_label("Cơ quan").select_option(MY_YEN)
    await phone.get_by_role("button", name="Xem thống kê").click()
    await phone.wait_for_url(f"**agency={MY_YEN}*")
    await phone.get_by_text("Từ 01/10/2024 đến 31/10/2024").wait_for()
    await assert_accessible(phone)
    # The README's picture: the period, then the first figures.
    await phone.evaluate("document.getElementById('period').scrollIntoView()")
    await screenshot(phone, "dashboard")
    await phone.goto(f"{PAGE}?from=2024-10-31&to=2024-10-01")
    await phone.get_by_role("link", name="Đến ngày phải bằng hoặc sau Từ ngày").click()
    assert await phone.evaluate("document.activeElement.id") == "period-to"
    await assert_accessible(phone)
