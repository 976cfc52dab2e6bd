"""Hand-written SVG charts, rendered on the server (no JavaScript, no dependency)."""

from __future__ import annotations

import datetime as dt

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def daily_bars(
    days: list[dt.date],
    series: list[tuple[str, str, list[int]]],
    title: str,
    width: int = 560,
    height: int = 150,
) -> SafeString:
    """Grouped bars per day. `series` is [(label, css class, values per day)]."""
    left, bottom, top = 28, 20, 8
    plot_w, plot_h = width - left - 4, height - bottom - top
    peak = max([1, *(v for _, _, values in series for v in values)])
    scale = _nice(peak)
    slot = plot_w / max(len(days), 1)
    bar_w = max(2.0, (slot - 4) / max(len(series), 1))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">'
            f"{compact(round(scale * i / 4))}</text>"
        )
    for d_index, day in enumerate(days):
        x0 = left + d_index * slot + 2
        for s_index, (label, css, values) in enumerate(series):
            value = values[d_index]
            h = plot_h * value / scale
            x = x0 + s_index * bar_w
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" rx="1">'
                f"<title>{escape(label)} on {day:%b %-d}: {value}</title></rect>"
            )
        if d_index % 2 == 0 or len(days) <= 8:
            parts.append(
                f'<text class="axis" x="{x0 + slot / 2 - 2:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{day:%-d/%-m}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def hbars(rows: list[tuple[str, int]], title: str, width: int = 560) -> SafeString:
    """Horizontal bars (label, value), e.g. clicks per link."""
    if not rows:
        return mark_safe("")
    row_h, label_w = 26, 200
    height = row_h * len(rows) + 6
    peak = max(v for _, v in rows) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = 3 + i * row_h
        w = (width - label_w - 50) * value / peak
        # 11px glyphs average about 6.2px: 30 characters fit the 194px left of the bars.
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="end" style="font-size:11px">{}'
                "</text>",
                label_w - 6,
                y + 16,
                short,
            )
        )
        parts.append(
            f'<rect class="s-brand" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" '
            f'height="{row_h - 9}" rx="2"/>'
            f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 16}" style="font-size:11px">'
            f"{compact(value)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def compact(value: int) -> str:
    """A count short enough for an axis label: 9999, 12k, 2.5M, 10M (the exact figures are in
    the tables and the bars' tooltips)."""
    size = abs(value)
    if size >= 999_500:
        if size >= 9_950_000:
            return f"{round(value / 1_000_000)}M"
        return f"{value / 1_000_000:.1f}".removesuffix(".0") + "M"
    if size >= 10_000:
        return f"{round(value / 1_000)}k"
    return str(value)


def _nice(peak: int) -> int:
    """A round axis maximum at or above `peak`, divisible by 4."""
    for step in (4, 8, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000, 20000, 40000, 100000):
        if peak <= step:
            return step
    return ((peak // 100000) + 1) * 100000


def interval_bars(
    rows: list[tuple[str, float | None, float | None, float | None, str]],
    title: str,
    width: int = 560,
) -> SafeString:
    """Horizontal bars of rates (0-1) with their interval as a whisker, one row per
    (label, rate, low, high, css class); a row without a rate shows "no data"."""
    if not rows:
        return mark_safe("")
    row_h, label_w, right = 34, 130, 110
    top, bottom = 6, 22
    height = top + row_h * len(rows) + bottom
    peak = max([0.01, *(r[3] or r[1] or 0 for r in rows)])
    scale = next((s for s in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8) if peak <= s), 1.0)
    plot_w = width - label_w - right

    def x(value: float) -> float:
        return label_w + plot_w * min(value, scale) / scale

    parts = [
        f'<svg class="chart interval-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        gx = x(scale * i / 4)
        parts.append(
            f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="{top}" '
            f'y2="{height - bottom}"/><text class="axis" x="{gx:.1f}" y="{height - 7}" '
            f'text-anchor="middle">{round(100 * scale * i / 4)}%</text>'
        )
    for i, (label, rate, low, high, css) in enumerate(rows):
        y = top + i * row_h
        short = label if len(label) <= 20 else label[:19] + "…"
        parts.append(
            format_html(
                '<text class="axis label" x="{}" y="{}" text-anchor="end">{}</text>',
                label_w - 8,
                y + row_h / 2 + 4,
                short,
            )
        )
        if rate is None:
            parts.append(
                f'<text class="axis" x="{label_w + 4}" y="{y + row_h / 2 + 4:.1f}">no data</text>'
            )
            continue
        parts.append(
            f'<rect class="{css}" x="{label_w}" y="{y + 8}" width="{max(x(rate) - label_w, 1):.1f}"'
            f' height="{row_h - 16}" rx="2"><title>{escape(label)}: {100 * rate:.1f}%</title>'
            "</rect>"
        )
        if low is not None and high is not None:
            mid = y + row_h / 2
            parts.append(
                f'<path class="whisker" d="M{x(low):.1f} {mid:.1f}H{x(high):.1f}'
                f"M{x(low):.1f} {mid - 6:.1f}V{mid + 6:.1f}M{x(high):.1f} {mid - 6:.1f}"
                f'V{mid + 6:.1f}"><title>95 % interval {100 * low:.1f}–{100 * high:.1f}%'
                "</title></path>"
            )
        text = f"{100 * rate:.1f}%"
        if low is not None and high is not None:
            text += f" ({100 * low:.0f}–{100 * high:.0f})"
        parts.append(
            f'<text class="axis value" x="{width - right + 8}" y="{y + row_h / 2 + 4:.1f}">'
            f"{text}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
