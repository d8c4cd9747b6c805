"""Small inline SVG charts for the history page: no script, no external file, every label escaped
(values such as a FHIR version come from the servers scanned, so they are hostile text).

`line_chart` draws one line per series over the runs, with a legend; `bars` draws one bar per run.
Colours come from a fixed palette; each series also gets its own dash pattern, so the chart reads
without colour. Every chart has a <title> and role="img" with an aria-label summarising it.
"""

from __future__ import annotations

import html

from ehrcheck.inert import html_text

PALETTE = ("#1f5fa8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e", "#a16207", "#334155")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4", "12 2 2 2")
W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 190, 12, 34


def escape(text: str) -> str:
    """HTML-escaped, with control characters spelled out (labels are run labels and vendor names)."""
    return html.escape(html_text(text))


def _x(i: int, n: int) -> float:
    return LEFT + ((W - LEFT - RIGHT) * (i / (n - 1)) if n > 1 else (W - LEFT - RIGHT) / 2)


def _y(v: float, top: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - (v / top if top else 0))


def _axes(labels: list[str], top: float) -> list[str]:
    out = [
        f'<line x1="{LEFT}" y1="{_y(0, top):.1f}" x2="{W - RIGHT}" y2="{_y(0, top):.1f}" stroke="#64748b"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{_y(0, top):.1f}" stroke="#64748b"/>',
    ]
    for frac in (0, 0.5, 1):
        v = top * frac
        out.append(f'<text x="{LEFT - 6}" y="{_y(v, top) + 4:.1f}" text-anchor="end" font-size="11">{escape(f"{v:.0f}")}</text>')
    n = len(labels)
    step = max(1, n // 6)
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            out.append(
                f'<text x="{_x(i, n):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="11">{escape(label[:16])}</text>'
            )
    return out


def _open_svg() -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '


def line_chart(title: str, labels: list[str], series: dict[str, list[int]], limit: int = 8) -> str:
    """One line per series (the `limit` largest), x = runs in order, y = endpoints."""
    shown = list(series.items())[:limit]
    top = max([max(v) for _, v in shown if v] + [1])
    n = len(labels)
    parts = [
        _open_svg()
        + f'aria-label="{escape(title)}: {escape(", ".join(f"{k} {v[-1]}" for k, v in shown if v))} in the last run">',
        f"<title>{escape(title)}</title>",
        *_axes(labels, top),
    ]
    for k, (name, values) in enumerate(shown):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        points = " ".join(f"{_x(i, n):.1f},{_y(v, top):.1f}" for i, v in enumerate(values))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} points="{points}"/>')
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{_x(i, n):.1f}" cy="{_y(v, top):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)}: {v} in {escape(labels[i])}</title></circle>"
            )
        ly = TOP + 14 + 16 * k
        parts.append(
            f'<line x1="{W - RIGHT + 10}" y1="{ly - 4}" x2="{W - RIGHT + 30}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        parts.append(f'<text x="{W - RIGHT + 34}" y="{ly}" font-size="11">{escape(name[:24])} ({values[-1]})</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, labels: list[str], values: list[float], unit: str = "%") -> str:
    """One bar per run (e.g. the share of endpoints that answered)."""
    top = max(values + [1.0]) if unit != "%" else 100.0
    n = len(labels)
    width = max(4.0, (W - LEFT - RIGHT) / max(n, 1) * 0.6)
    parts = [
        _open_svg()
        + f'aria-label="{escape(title)}: {escape(f"{values[-1]:.0f}{unit}" if values else "no runs")} in the last run">',
        f"<title>{escape(title)}</title>",
        *_axes(labels, top),
    ]
    for i, v in enumerate(values):
        y = _y(v, top)
        parts.append(
            f'<rect x="{_x(i, n) - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" height="{_y(0, top) - y:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(labels[i])}: {v:.0f}{escape(unit)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)
