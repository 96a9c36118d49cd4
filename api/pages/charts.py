"""Charts drawn on the server as SVG: horizontal bars (a rate per procedure or department) and
a line (a rate night after night). Pure functions: plain values in, markup out.

The SVG has no viewBox: its width follows the page (x as percentages) and its height is in
pixels, so the text keeps its size on a phone and on a desktop alike. Every label is escaped;
colours and strokes come from classes (the Content-Security-Policy forbids style attributes).
A chart is an image to assistive technology (role="img", its title); the page puts the same
numbers in a table under it."""

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

# ---- numbers, the Vietnamese way -------------------------------------------------------


_SEPARATORS = str.maketrans(",.", ".,")


def number(value: float, decimals: int = 1) -> str:
    """12.345 (a dot groups thousands), 92,5 (a comma marks decimals)."""
    text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.{decimals}f}"
    return text.translate(_SEPARATORS)


def percent(rate: float | None) -> str:
    """92,3 % (a no-break space before the sign) — or a dash when there was nothing to count."""
    if rate is None:
        return "—"
    return f"{rate * 100:.1f}\u00a0%".replace(".", ",")


def truncated(label: str, limit: int = 48) -> str:
    """A label that fits one line of a phone (the table under the chart has it whole)."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


# ---- bars ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    rate: float | None  # 0..1; None draws no bar
    value: str  # written at the bar's end, e.g. "66,7 %"
    low: bool = False  # drawn in the warning colour


_ROW = 52  # px per bar: the label's line, then the bar
_BAR = 20
# Past this share of the width the value is written inside the bar's end, not after it.
_INSIDE_FROM = 0.7


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, in the order given (callers put the lowest first), each on a track
    showing the whole (100 %)."""
    height = _ROW * len(bars) + 4
    parts = [_open(chart_id, title, height, "chart chart--bars")]
    for i, bar in enumerate(bars):
        parts.append(_bar(i * _ROW, bar))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _bar(top: int, bar: Bar) -> Markup:
    share = min(max(bar.rate or 0.0, 0.0), 1.0)
    width = f"{share * 100:.2f}%"
    y = top + 24
    kind = "bar bar--low" if bar.low else "bar"
    inside = share >= _INSIDE_FROM
    value = Markup(
        '<text class="chart__value{}" x="{}" dx="{}" y="{}" text-anchor="{}">{}</text>'
    ).format(
        " chart__value--inside" if inside else "",
        width,
        -6 if inside else 6,
        y + 15,
        "end" if inside else "start",
        bar.value,
    )
    return Markup(
        '<g class="chart__row"><title>{label}: {value}</title>'
        '<text class="chart__label" x="0" y="{text_y}">{short}</text>'
        '<rect class="bar-track" x="0" y="{y}" width="100%" height="{h}"></rect>'
        '<rect class="{kind}" x="0" y="{y}" width="{width}" height="{h}"></rect>'
        "{value_text}</g>"
    ).format(
        label=bar.label,
        value=bar.value,
        text_y=top + 17,
        short=truncated(bar.label),
        y=y,
        h=_BAR,
        kind=kind,
        width=width if bar.rate is not None else "0",
        value_text=value,
    )


# ---- lines -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    name: str
    # (where along the period, 0..1; the rate, 0..1, or None for a night with nothing to count)
    points: Sequence[tuple[float, float | None]]
    second: bool = False  # dashed, square dots: told apart without colour


_TOP, _BOTTOM, _HEIGHT = 24, 184, 214  # the plot's 100 % and 0 % lines, the SVG's height
_MARGIN = 3.0  # % of the width kept clear at each side, for the dots


def line_chart(
    chart_id: str, title: str, series: Sequence[Series], ends: tuple[str, str]
) -> Markup:
    """Rates from 0 to 100 % along a period, one line per series; `ends` names the period's
    first and last day under the axis. A legend follows the SVG."""
    parts = [_open(chart_id, title, _HEIGHT, "chart chart--line")]
    for rate in (1.0, 0.5, 0.0):
        y = _y(rate)
        parts.append(
            Markup(
                '<line class="{}" x1="0" y1="{y}" x2="100%" y2="{y}"></line>'
                '<text class="chart__tick" x="0" y="{ty}">{label}</text>'
            ).format("axis" if rate == 0 else "grid", y=y, ty=y - 5, label=f"{rate * 100:.0f} %")
        )
    for s in series:
        parts.append(_line(s))
    parts.append(
        Markup(
            '<text class="chart__tick" x="0" y="{y}">{first}</text>'
            '<text class="chart__tick" x="100%" y="{y}" text-anchor="end">{last}</text></svg>'
        ).format(y=_HEIGHT - 6, first=ends[0], last=ends[1])
    )
    parts.append(_legend(series))
    return Markup("").join(parts)


def _x(position: float) -> str:
    return f"{_MARGIN + min(max(position, 0.0), 1.0) * (100 - 2 * _MARGIN):.2f}%"


def _y(rate: float) -> int:
    return round(_BOTTOM - min(max(rate, 0.0), 1.0) * (_BOTTOM - _TOP))


def _line(s: Series) -> Markup:
    kept = [(x, rate) for x, rate in s.points if rate is not None]
    line_class = "line line--second" if s.second else "line"
    parts = [Markup('<g class="chart__series"><title>{}</title>').format(s.name)]
    for (x1, r1), (x2, r2) in zip(kept, kept[1:], strict=False):
        parts.append(
            Markup('<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}"></line>').format(
                line_class, _x(x1), _y(r1), _x(x2), _y(r2)
            )
        )
    for x, rate in kept:
        if s.second:  # a square, centred on the point
            dot = (
                '<rect class="dot dot--second" x="{}" y="{}" width="9" height="9"'
                ' transform="translate(-4.5 -4.5)"></rect>'
            )
        else:
            dot = '<circle class="dot" cx="{}" cy="{}" r="5"></circle>'
        parts.append(Markup(dot).format(_x(x), _y(rate)))
    parts.append(Markup("</g>"))
    return Markup("").join(parts)


def _legend(series: Sequence[Series]) -> Markup:
    items = [
        Markup('<li><span class="legend__key{}"></span>{}</li>').format(
            " legend__key--second" if s.second else "", s.name
        )
        for s in series
    ]
    return Markup('<ul class="legend">{}</ul>').format(Markup("").join(items))


def _open(chart_id: str, title: str, height: int, css: str) -> Markup:
    return Markup(
        '<svg class="{css}" id="{id}" width="100%" height="{h}" role="img" '
        'aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title>'
    ).format(css=css, id=chart_id, h=height, title=title)
