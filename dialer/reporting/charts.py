"""The day report's charts as SVG, drawn on the server: pure functions data -> SVG text.

No JavaScript and no chart library: the page stays readable with scripts off, prints,
and can be saved as a file. Each chart is an ``<svg role="img">`` with a ``<title>`` and
a ``<desc>`` (what a screen reader announces), every bar carries its own ``<title>``
(the exact figure on hover), axes are labelled and a legend names every colour in use.
Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); the tables under each chart carry the same figures as text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from dialer.reporting.data import (
    BAND_LABELS,
    OUTCOME_LABELS,
    AgentRow,
    Band,
    FunnelStep,
    HourRow,
    Outcome,
    TalkSummary,
)

OUTCOME_COLOURS: dict[Outcome, str] = {
    Outcome.SUCCESS: "#009E73",
    Outcome.PROGRESS: "#56B4E9",
    Outcome.OTHER_TALK: "#0072B2",
    Outcome.REFUSED: "#D55E00",
    Outcome.UNDISPOSED: "#CC79A7",
    Outcome.BUSY: "#E69F00",
    Outcome.NO_ANSWER: "#C8C8C8",
    Outcome.MACHINE: "#F0E442",
    Outcome.ABANDONED: "#000000",
    Outcome.FAILED: "#882255",
    Outcome.DIALER: "#4D4D4D",
}
BAND_COLOURS: dict[Band, str] = {
    Band.SHORT: "#56B4E9",
    Band.WITHIN: "#009E73",
    Band.LONG: "#E69F00",
    Band.CUT: "#D55E00",
}
NOT_REACHED_COLOUR = "#C8C8C8"
BAND_SHADE = "#009E73"
FUNNEL_COLOUR = "#0072B2"
# What each funnel step is a share of. Meetings and contracts are both results of
# conversations (a contract is not a later stage of a meeting the same day), so both
# are measured against the clients reached.
FUNNEL_BASE = {"dialed": "planned", "reached": "dialed", "meetings": "reached", "contracts": "reached"}

WIDTH = 560
FONT = 12


@dataclass(frozen=True)
class _Series:
    key: str
    label: str
    colour: str


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros (smaller, stable SVG)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least `top` (1, 2, 5 x 10^n steps)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1.0)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def _open(chart_id: str, title: str, desc: str, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" height="{_n(height)}" '
        f'aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc" font-size="{FONT}">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>',
    ]


def _legend(series: Sequence[_Series], x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """Legend swatches flowing left to right; returns the parts and the height used."""
    parts = ['<g class="legend">']
    x, y = x0, y0
    for s in series:
        w = 18 + len(s.label) * 6.6 + 14
        if x + w > x0 + width and x > x0:
            x, y = x0, y + 18
        parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" rx="2" fill="{s.colour}"/>')
        parts.append(f'<text x="{_n(x + 17)}" y="{_n(y + 10.5)}">{_e(s.label)}</text>')
        x += w
    parts.append("</g>")
    return parts, y - y0 + 22


def _empty(chart_id: str, title: str, message: str) -> str:
    parts = _open(chart_id, title, message, 80)
    parts.append(f'<text x="{WIDTH / 2}" y="45" text-anchor="middle" class="empty">{_e(message)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _stacked_columns(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    stacks: Sequence[Sequence[tuple[_Series, int]]],
    series: Sequence[_Series],
    *,
    y_label: str,
    x_label: str,
    tip_prefix: Sequence[str],
    shade: tuple[float, float, str] | None = None,
    marker: tuple[float, str] | None = None,
    label_every: int = 1,
) -> str:
    """Vertical stacked columns, one per label. `shade` (from, to, text) in column
    units shades a range behind the columns; `marker` (at, text) draws a dashed line."""
    legend, legend_h = _legend([s for s in series if any(n for st in stacks for t, n in st if t == s)], 52, 8, 500)
    top_pad = 8 + legend_h + (14 if shade or marker else 0)
    left, right, bottom, plot_h = 52.0, 12.0, 46.0, 220.0
    height = top_pad + plot_h + bottom
    plot_w = WIDTH - left - right
    totals = [sum(n for _, n in st) for st in stacks]
    ticks = nice_ticks(max(totals, default=0))
    scale = plot_h / ticks[-1]
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, slot * 0.72)
    y_base = top_pad + plot_h
    parts = _open(chart_id, title, desc, height)
    parts += legend
    if shade is not None:
        a, b, text = shade
        parts.append(
            f'<rect class="band" x="{_n(left + a * slot)}" y="{_n(top_pad - 4)}" width="{_n((b - a) * slot)}" '
            f'height="{_n(plot_h + 4)}" fill="{BAND_SHADE}" fill-opacity="0.12"/>'
        )
        parts.append(
            f'<text x="{_n(left + (a + b) / 2 * slot)}" y="{_n(top_pad - 7)}" text-anchor="middle" '
            f'class="note">{_e(text)}</text>'
        )
    for t in ticks:
        y = y_base - t * scale
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{_n(y)}" y2="{_n(y)}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" class="tick">{t:g}</text>')
    for i, (label, stack) in enumerate(zip(labels, stacks, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y = y_base
        for s, n in stack:
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(
                f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(bar_w)}" height="{_n(h)}" fill="{s.colour}">'
                f"<title>{_e(tip_prefix[i])}: {_e(s.label)} {n}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{_n(x + bar_w / 2)}" y="{_n(y_base + 15)}" text-anchor="middle" class="tick">'
                f"{_e(label)}</text>"
            )
    if marker is not None:
        at, text = marker
        mx = left + at * slot
        parts.append(
            f'<line x1="{_n(mx)}" x2="{_n(mx)}" y1="{_n(top_pad - 4)}" y2="{_n(y_base)}" class="marker" '
            f'stroke="{BAND_COLOURS[Band.CUT]}" stroke-dasharray="4 3" stroke-width="1.5"/>'
        )
        # the label sits on the side of the line with room for it
        near_end = mx > left + plot_w * 0.7
        anchor = 'text-anchor="end" ' if near_end else ""
        tx = mx - 4 if near_end else mx + 4
        parts.append(f'<text x="{_n(tx)}" y="{_n(top_pad + 8)}" {anchor}class="note cut">{_e(text)}</text>')
    parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y_base}" y2="{y_base}" class="axis"/>')
    parts.append(
        f'<text x="{_n(left + plot_w / 2)}" y="{_n(height - 8)}" text-anchor="middle" class="axis-label">'
        f"{_e(x_label)}</text>"
    )
    parts.append(
        f'<text transform="translate(14 {_n(top_pad + plot_h / 2)}) rotate(-90)" text-anchor="middle" '
        f'class="axis-label">{_e(y_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def hourly_chart(hours: Sequence[HourRow], center_tz: str, chart_id: str = "chart-hours") -> str:
    """Calls per hour of the center's day, stacked by outcome."""
    title = "Calls per hour by outcome"
    total = sum(h.total for h in hours)
    if not total:
        return _empty(chart_id, title, "No calls on this day.")
    busiest = max(hours, key=lambda h: h.total)
    desc = (
        f"{total} calls between {hours[0].hour:02d}:00 and {hours[-1].hour + 1:02d}:00 ({center_tz}); "
        f"the busiest hour {busiest.hour:02d}:00 had {busiest.total}."
    )
    series = [_Series(o.value, OUTCOME_LABELS[o], OUTCOME_COLOURS[o]) for o in Outcome]
    stacks = [[(s, h.counts[Outcome(s.key)]) for s in series] for h in hours]
    return _stacked_columns(
        chart_id,
        title,
        desc,
        [f"{h.hour:02d}" for h in hours],
        stacks,
        series,
        y_label="calls",
        x_label=f"hour the call started, center time ({center_tz})",
        tip_prefix=[f"{h.hour:02d}:00-{h.hour + 1:02d}:00" for h in hours],
    )


def _mmss(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def talk_chart(talk: TalkSummary, chart_id: str = "chart-talk") -> str:
    """How long the conversations lasted (30 s bins), coloured by each call's own
    band, with the guideline's band shaded when every campaign in view shares it."""
    title = "Talk time against the guideline"
    if not talk.conversations:
        return _empty(chart_id, title, "No conversations on this day.")
    share = talk.within_share or 0.0
    desc = (
        f"{talk.conversations} conversations, median {_mmss(talk.median_s or 0)}; "
        f"{talk.counts[Band.WITHIN]} ({share:.0%}) in band, {talk.counts[Band.SHORT]} short, "
        f"{talk.counts[Band.LONG]} long, {talk.counts[Band.CUT]} cut at the hard limit."
    )
    series = [_Series(b.value, BAND_LABELS[b], BAND_COLOURS[b]) for b in Band]
    bins = talk.bins
    width_s = bins[0].end_s or 30.0
    labels = [f"{int(b.start_s // 60)}m" if b.end_s is not None else f"≥{int(b.start_s // 60)}m" for b in bins]
    tips = [f"{_mmss(b.start_s)}-{_mmss(b.end_s)}" if b.end_s else f"{_mmss(b.start_s)} and longer" for b in bins]
    stacks = [[(s, b.counts[Band(s.key)]) for s in series] for b in bins]
    band = talk.common_band
    hard = talk.common_hard_limit
    shade = None
    marker = None
    if band is not None:
        low, high = band
        shade = (low / width_s, high / width_s, f"target {_mmss(low)}-{_mmss(high)}")
    if hard is not None and hard / width_s <= len(bins):
        marker = (hard / width_s, f"hard limit {_mmss(hard)}")
    per_minute = max(1, int(round(60 / width_s)))
    return _stacked_columns(
        chart_id,
        title,
        desc + ("" if band else " Campaigns in view have different targets: each bar is coloured by its own."),
        labels,
        stacks,
        series,
        y_label="conversations",
        x_label="talk time (minutes)",
        tip_prefix=tips,
        shade=shade,
        marker=marker,
        label_every=per_minute,
    )


def _hbars(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[tuple[str, Sequence[tuple[_Series, int]], str]],
    series: Sequence[_Series] | None,
    *,
    label_w: float,
    text_w: float = 150,
    row_h: float = 26,
) -> str:
    """Horizontal stacked bars, one per (label, stack, text at the bar's end)."""
    legend: list[str] = []
    legend_h = 0.0
    if series is not None:
        used = [s for s in series if any(n for _, st, _ in rows for t, n in st if t == s)]
        legend, legend_h = _legend(used, label_w, 8, WIDTH - label_w - 10)
    top = 8 + legend_h
    bar_h = round(row_h * 0.7)
    height = top + len(rows) * row_h + 10
    plot_w = WIDTH - label_w - text_w
    peak = max((sum(n for _, n in st) for _, st, _ in rows), default=0) or 1
    parts = _open(chart_id, title, desc, height)
    parts += legend
    for i, (label, stack, text) in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{_n(label_w - 8)}" y="{_n(y + bar_h / 2 + 4)}" text-anchor="end" class="tick">{_e(label)}</text>'
        )
        x = label_w
        for s, n in stack:
            if not n:
                continue
            w = n / peak * plot_w
            parts.append(
                f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{bar_h}" fill="{s.colour}">'
                f"<title>{_e(label)}: {_e(s.label)} {n}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{_n(x + 6)}" y="{_n(y + bar_h / 2 + 4)}" class="value">{_e(text)}</text>')
    parts.append(f'<line x1="{label_w}" x2="{label_w}" y1="{_n(top - 4)}" y2="{_n(height - 8)}" class="axis"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def funnel_chart(funnel: Sequence[FunnelStep], chart_id: str = "chart-funnel") -> str:
    """Planned -> dialed -> reached -> meetings -> contracts, in clients, each step with
    its share of the step before."""
    title = "The day's funnel: planned, dialed, reached, meetings, contracts"
    if not any(s.value for s in funnel):
        return _empty(chart_id, title, "No plan and no calls on this day.")
    desc = ", ".join(f"{s.label.lower()} {s.value}" for s in funnel) + " (clients; meetings and contracts: calls)."
    bar = _Series("funnel", "clients", FUNNEL_COLOUR)
    rows: list[tuple[str, Sequence[tuple[_Series, int]], str]] = []
    values = {s.key: s.value for s in funnel}
    for s in funnel:
        text = str(s.value)
        base = FUNNEL_BASE.get(s.key)
        if base is not None and values.get(base):
            text += f"  ({s.value / values[base]:.0%} of {base})"
        rows.append((s.label, [(bar, s.value)], text))
    return _hbars(chart_id, title, desc, rows, None, label_w=90, text_w=180, row_h=40)


def agents_chart(agents: Sequence[AgentRow], chart_id: str = "chart-agents") -> str:
    """Per agent: calls, the conversations split by band, the rest not reached."""
    title = "Calls per agent: conversations by talk time, and not reached"
    if not agents:
        return _empty(chart_id, title, "No calls on this day.")
    series = [_Series(b.value, BAND_LABELS[b], BAND_COLOURS[b]) for b in Band]
    not_reached = _Series("not_reached", "Not reached", NOT_REACHED_COLOUR)
    rows: list[tuple[str, Sequence[tuple[_Series, int]], str]] = []
    several = len({a.campaign for a in agents}) > 1
    for a in agents:
        label = f"{a.agent} · {a.campaign}" if several else a.agent
        stack = [(s, a.bands[Band(s.key)]) for s in series]
        stack.append((not_reached, a.row.dialed - a.conversations))
        share = a.within_share
        text = f"{a.row.dialed} calls" + (f", {share:.0%} in band" if share is not None else "")
        rows.append((label, stack, text))
    best = max(agents, key=lambda a: a.within_share or 0)
    desc = f"{len(agents)} agents, {sum(a.row.dialed for a in agents)} calls; " + (
        f"highest in-band share: {best.agent} {best.within_share:.0%}." if best.within_share is not None else ""
    )
    label_w = min(200.0, 16 + max(len(r[0]) for r in rows) * 6.6)
    return _hbars(chart_id, title, desc, rows, [*series, not_reached], label_w=label_w)
