"""Small static charts as inline SVG (no plotting library, opens offline in any browser).

``log_strip``: one row per item, its value as a dot on a log-scale axis, with vertical
lines at named thresholds (a tolerance, a noise floor); ``bars``: one horizontal bar per
item, linear scale. Colours follow the status (pass green, fail red, skip grey).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from p2o.core.results import Status

COLOR = {
    Status.PASSED: "#2e8b3d",
    Status.FAILED: "#c62828",
    Status.ERROR: "#c62828",
    Status.SKIPPED: "#9e9e9e",
}
LINE_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a")
WIDTH, LEFT, RIGHT, ROW, TOP = 720, 190, 30, 22, 34


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _el(tag: str, content: str = "", /, **attrs: object) -> str:
    """One SVG element; attribute names use ``_`` for ``-`` (``font_size`` → font-size)."""
    a = "".join(f" {k.rstrip('_').replace('_', '-')}='{_esc(str(v))}'" for k, v in attrs.items())
    return f"<{tag}{a}>{content}</{tag}>" if content else f"<{tag}{a}/>"


def _text(x: float, y: float, s: str, **attrs: object) -> str:
    return _el("text", _esc(s), x=f"{x:.1f}", y=f"{y:.1f}", **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, **attrs: object) -> str:
    return _el("line", x1=f"{x1:.1f}", y1=f"{y1:.1f}", x2=f"{x2:.1f}", y2=f"{y2:.1f}", **attrs)


def _dot(x: float, y: float, color: str, tip: str) -> str:
    return _el(
        "circle", f"<title>{_esc(tip)}</title>", cx=f"{x:.1f}", cy=f"{y:.1f}", r=5, fill=color
    )


def _svg(height: float, body: list[str], title: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' role='img' aria-label='{_esc(title)}' "
        "font-family='system-ui,sans-serif' font-size='12'>"
        f"<title>{_esc(title)}</title>" + "".join(body) + "</svg>"
    )


def log_strip(
    title: str,
    rows: Sequence[tuple[str, float | None, Status | None]],
    marks: Sequence[tuple[str, float]] = (),
    unit: str = "",
) -> str:
    """Each row's value on a log axis; ``marks`` are labelled vertical lines (thresholds).
    A row without a value (skipped, no comparison) is written, not drawn."""
    finite = [v for _, v, _ in rows if v is not None and math.isfinite(v) and v > 0]
    finite += [v for _, v in marks if v > 0 and math.isfinite(v)]
    lo = math.floor(math.log10(min(finite))) if finite else -8
    hi = max(math.ceil(math.log10(max(finite))) if finite else 0, lo + 1)
    top = TOP + 14 * len(marks)
    bottom = top + ROW * len(rows)

    def x(v: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (math.log10(v) - lo) / (hi - lo)

    body = [_text(LEFT, 16, title, font_weight=600)]
    for e in range(lo, hi + 1):  # one grid line per decade
        body.append(_line(x(10.0**e), top - 6, x(10.0**e), bottom, stroke="#e0e0e0"))
        body.append(_text(x(10.0**e), bottom + 14, f"1e{e}", text_anchor="middle", fill="#555"))
    if unit:
        body.append(_text(WIDTH - RIGHT, bottom + 30, unit, text_anchor="end", fill="#555"))
    for i, (name, at) in enumerate(marks):
        if at > 0 and math.isfinite(at):
            color = LINE_COLORS[i % len(LINE_COLORS)]
            dash = {"stroke": color, "stroke_width": 2, "stroke_dasharray": "5,3"}
            body.append(_line(x(at), TOP + 14 * i - 4, x(at), bottom, **dash))
            right = x(at) > (LEFT + WIDTH) / 2  # label on the side with room
            body.append(
                _text(
                    x(at) + (-4 if right else 4),
                    TOP + 14 * i,
                    f"{name} {at:.1e}",
                    fill=color,
                    text_anchor="end" if right else "start",
                )
            )
    for i, (label, value, status) in enumerate(rows):
        y = top + ROW * i + ROW / 2
        color = COLOR.get(status, "#455a64") if status is not None else "#455a64"
        body.append(_text(LEFT - 8, y + 4, label, text_anchor="end"))
        if value is None:
            body.append(_text(LEFT + 4, y + 4, "no value", fill="#777"))
        elif value == 0 or not math.isfinite(value):
            xv, word = (LEFT, "0 (exact)") if value == 0 else (WIDTH - RIGHT - 30, "inf")
            body.append(_dot(xv, y, color, f"{label}: {word}"))
            body.append(_text(xv + 8, y + 4, word, fill=color))
        else:
            body.append(
                _line(LEFT, y, x(value), y, stroke=color, stroke_opacity=0.35, stroke_width=6)
            )
            body.append(_dot(x(value), y, color, f"{label}: {value:.3g}"))
    return _svg(bottom + 40, body, title)


def bars(
    title: str,
    rows: Sequence[tuple[str, float | None]],
    unit: str,
    status: Sequence[Status | None] = (),
) -> str:
    """One horizontal bar per row, linear from 0; a row without a value is written, not drawn."""
    values = [v for _, v in rows if v is not None and math.isfinite(v)]
    most = max(values) if values and max(values) > 0 else 1.0
    span = WIDTH - LEFT - RIGHT - 60
    body = [_text(LEFT, 16, f"{title} ({unit})", font_weight=600)]
    for i, (label, value) in enumerate(rows):
        y = TOP + ROW * i
        s = status[i] if i < len(status) else None
        color = COLOR.get(s, "#1565c0") if s is not None else "#1565c0"
        body.append(_text(LEFT - 8, y + 15, label, text_anchor="end"))
        if value is None or not math.isfinite(value):
            body.append(_text(LEFT + 4, y + 15, "no value", fill="#777"))
            continue
        w = span * value / most
        body.append(_el("rect", x=LEFT, y=y + 4, width=f"{w:.1f}", height=ROW - 8, fill=color))
        body.append(_text(LEFT + w + 6, y + 15, f"{value:.3g}"))
    return _svg(TOP + ROW * len(rows) + 16, body, title)


def scatter(
    title: str,
    points: Sequence[tuple[str, float, float, Status | None]],
    x_label: str,
    y_label: str,
    floor: tuple[str, float] | None = None,
) -> str:
    """Labelled points (x, y) coloured by status, linear axes from their ranges, and an optional
    horizontal threshold (``floor``: a rule's minimum). Labels alternate above and below."""
    height, left, top = 340, 70, 48
    bottom = height - 44
    good = [p for p in points if math.isfinite(p[1]) and math.isfinite(p[2])]
    xs = [p[1] for p in good] or [0.0, 1.0]
    ys = [p[2] for p in good] + ([floor[1]] if floor else []) or [0.0, 1.0]
    x0, x1 = min(0.0, min(xs)), (max(xs) * 1.15) or 1.0
    y0, y1 = min(ys), max(ys)
    pad = max(0.1 * (y1 - y0), 1e-3)
    y0, y1 = y0 - pad, y1 + pad

    def px(v: float) -> float:
        return left + (WIDTH - left - RIGHT) * (v - x0) / (x1 - x0)

    def py(v: float) -> float:
        return bottom - (bottom - top) * (v - y0) / (y1 - y0)

    grey = {"fill": "#555"}
    body = [
        _text(left, 16, title, font_weight=600),
        _text(left, 34, f"y: {y_label}", **grey),
        _line(left, bottom, WIDTH - RIGHT, bottom, stroke="#555"),
        _line(left, top, left, bottom, stroke="#555"),
        _text(WIDTH - RIGHT, bottom + 32, f"x: {x_label}", text_anchor="end", **grey),
        _text(left, bottom + 16, f"{x0:.2g}", text_anchor="middle", **grey),
        _text(WIDTH - RIGHT, bottom + 16, f"{x1:.2g}", text_anchor="end", **grey),
        _text(left - 6, bottom, f"{y0:.4g}", text_anchor="end", **grey),
        _text(left - 6, top + 4, f"{y1:.4g}", text_anchor="end", **grey),
    ]
    if floor is not None:
        dash = {"stroke": LINE_COLORS[0], "stroke_width": 2, "stroke_dasharray": "5,3"}
        body.append(_line(left, py(floor[1]), WIDTH - RIGHT, py(floor[1]), **dash))
        body.append(_text(WIDTH - RIGHT, py(floor[1]) - 5, floor[0], text_anchor="end",
                          fill=LINE_COLORS[0]))  # fmt: skip
    for i, (label, vx, vy, status) in enumerate(sorted(good, key=lambda p: p[1])):
        color = COLOR.get(status, "#1565c0") if status is not None else "#1565c0"
        body.append(_dot(px(vx), py(vy), color, f"{label}: {vx:.3g}, {vy:.4g}"))
        dy = -9 if i % 2 == 0 else 15
        body.append(_text(px(vx), py(vy) + dy, label, font_size=11, text_anchor="middle"))
    return _svg(height, body, title)
