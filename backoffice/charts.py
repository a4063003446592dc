"""Server-rendered SVG charts: no JavaScript library, no CDN, readable without scripts."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#417690", "#79aec8", "#f5a623", "#7b61ff", "#2e9e5b", "#d9534f", "#8a8a8a"]


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every label below goes through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def horizontal_bars(
    rows: list[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    links: list[str] | None = None,
) -> SafeString:
    """One bar per (label, value), longest first as given; `links[i]` makes row i's label a link."""
    bar_h, gap, label_w, width = 18, 6, 150, 600
    height = max(1, len(rows)) * (bar_h + gap) + gap
    top = max_value if max_value is not None else max((v for _, v in rows), default=0) or 1
    body = []
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = 0 if not top else (width - label_w - 70) * value / top
        shown = f"{value:.0f}{unit}" if float(value).is_integer() else f"{value:.1f}{unit}"
        text = f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
        if links and links[i]:
            text = f'<a href="{escape(links[i])}">{text}</a>'
        body.append(
            text + f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(shown)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 13}">{escape(shown)}</text>'
        )
    if not rows:
        body.append('<text x="10" y="16">No data</text>')
    return _svg(width, height, body, title)


def stacked_columns(
    categories: list[str], series: dict[str, list[int]], *, title: str
) -> SafeString:
    """Columns per category (a day), stacked by series (a channel), with a legend."""
    width, height, left, bottom, top_pad = 640, 260, 40, 40, 24
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    peak = max(totals, default=0) or 1
    col_w = plot_w / max(1, len(categories))
    body = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 10}" y2="{top_pad + plot_h}" '
        'stroke="currentColor" stroke-opacity=".3"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    for i, category in enumerate(categories):
        x = left + i * col_w + 2
        y: float = top_pad + plot_h
        for s_index, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / peak
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w - 4:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s_index % len(PALETTE)]}"><title>{escape(category)} '
                f"{escape(name)}: {values[i]}</title></rect>"
            )
        if i % max(1, len(categories) // 7) == 0:
            body.append(
                f'<text x="{x + col_w / 2:.1f}" y="{top_pad + plot_h + 14}" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
    lx, ly = left, height - 14
    for s_index, name in enumerate(series):
        item_w = 24 + 7 * len(name)
        if lx + item_w > width:
            lx, ly = left, ly + 14
        body.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="10" '
            f'fill="{PALETTE[s_index % len(PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="{ly + 9}">{escape(name)}</text>'
        )
        lx += item_w
    height = max(height, ly + 16)
    if not categories:
        body.append('<text x="50" y="50">No data</text>')
    return _svg(width, height, body, title)


def paired_bars(
    rows: list[tuple[str, float, float]],
    *,
    title: str,
    series: tuple[str, str] = ("Simulated", "Actual"),
) -> SafeString:
    """Two bars per (label, first, second) on one scale, with a legend: a figure before and
    after a change (the what-if's shipments per site, simulated against actual)."""
    bar_h, gap, label_w, width, legend_h = 12, 10, 150, 600, 22
    top = max((max(a, b) for _, a, b in rows), default=0) or 1
    body = []
    for s_index, name in enumerate(series):
        x = label_w + s_index * 120
        body.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[s_index]}"/>'
            f'<text x="{x + 14}" y="13">{escape(name)}</text>'
        )
    for i, (label, *values) in enumerate(rows):
        y = legend_h + i * (2 * bar_h + gap)
        body.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 4}" text-anchor="end">{escape(label)}</text>'
        )
        for s_index, value in enumerate(values):
            w = (width - label_w - 70) * value / top
            shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
            by = y + s_index * bar_h
            body.append(
                f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar_h - 1}" rx="2" '
                f'fill="{PALETTE[s_index]}"><title>{escape(label)} '
                f"{escape(series[s_index])}: {escape(shown)}</title></rect>"
                f'<text x="{label_w + w + 6:.1f}" y="{by + bar_h - 2}">{escape(shown)}</text>'
            )
    height = legend_h + max(1, len(rows)) * (2 * bar_h + gap)
    if not rows:
        body.append(f'<text x="10" y="{legend_h + 14}">No data</text>')
    return _svg(width, height, body, title)
