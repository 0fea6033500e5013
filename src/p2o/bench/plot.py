"""Latency plots of ``p2o bench`` results (matplotlib, Agg backend, PNG).

One row of panels per model, one panel per batch size (each with its own latency axis, so
a batch of 1 stays readable beside a batch of 8). In a panel: one bar per runtime, the
p50 latency, with the p90 (a bar) and p99 (a triangle) marked above it; a runtime that was
skipped or failed keeps its slot, labelled so. The title gives the threads and the CPU.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2o.core.errors import EnvironmentProblem, UsageError

if TYPE_CHECKING:
    from p2o.core.results import BenchResult

CHARS_PER_INCH = 9.5  # of an 11-point title
LEGEND_INCHES = 1.25  # one legend entry, swatch and label
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def _quiet_matplotlib() -> None:
    """matplotlib's log records (its font cache being built, a temporary config directory) go
    where the application's logging sends them, and nowhere when it set none up: a handler on
    its logger keeps Python's last-resort handler from printing them on stderr."""
    log = logging.getLogger("matplotlib")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


def check_plot_path(path: str | Path) -> None:
    """UsageError unless ``path`` names a PNG; EnvironmentProblem without matplotlib."""
    if Path(path).suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: the name must end in .png")
    _quiet_matplotlib()
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise EnvironmentProblem(f"--plot needs matplotlib ({exc})") from exc


def _label(ax: Any, x: int, p50: float, p99: float, tallest: float) -> None:
    """The p50 in ms on its bar, white inside; above the p99 mark when the bar is too short."""
    text = f"{p50:.0f}" if p50 >= 100 else f"{p50:.3g}"
    if p50 >= 0.12 * tallest:
        ax.text(
            x, p50 / 2, text, ha="center", va="center", fontsize=8, color="white", fontweight="bold"
        )
    else:
        ax.text(x, p99 + 0.02 * tallest, text, ha="center", va="bottom", fontsize=8)


def plot_latency(results: Sequence[BenchResult], path: str | Path) -> Path:
    """Write the PNG of ``results`` (one or more models) to ``path``; returns the path."""
    check_plot_path(path)
    if not results:
        raise UsageError("nothing to plot")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    runtimes = list(dict.fromkeys(r for res in results for r in res.runtimes))
    color = {r: COLORS[i % len(COLORS)] for i, r in enumerate(runtimes)}
    measured = [
        r
        for r in runtimes
        if any(t.runtime == r and t.latency for res in results for t in res.timings)
    ]
    ncols = max(len(res.batches) for res in results)
    nrows = len(results)
    width, height = 1.2 + 3.6 * ncols, 1.4 + 3.4 * nrows  # inches
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    for row, res in enumerate(results):
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(res.batches):
                ax.axis("off")
                continue
            batch = res.batches[col]
            top = 0.0
            for x, name in enumerate(res.runtimes):
                t = res.get(name, batch)
                s = None if t is None else t.latency
                if s is None:
                    status = "missing" if t is None else t.status
                    ax.text(x, 0, status, ha="center", va="bottom", fontsize=8, color="#777")
                    continue
                ax.bar(x, s.p50_ms, color=color[name], width=0.7)
                ax.plot([x], [s.p90_ms], marker="_", markersize=22, mew=2, color="black")
                ax.plot([x], [s.p99_ms], marker="v", markersize=6, color="black")
                top = max(top, s.p99_ms)
            for x, name in enumerate(res.runtimes):  # once the tallest bar is known
                t = res.get(name, batch)
                if t is not None and t.latency is not None:
                    _label(ax, x, t.latency.p50_ms, t.latency.p99_ms, top)
            ax.set_xlim(-0.6, len(res.runtimes) - 0.4)
            ax.set_xticks(range(len(res.runtimes)))
            ax.set_xticklabels(res.runtimes, rotation=20, ha="right", fontsize=9)
            ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)
            ax.set_title(f"{res.model}, batch {batch}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if col == 0:
                ax.set_ylabel("latency per batch (ms)")
    first = results[0]
    cpus = sorted({res.cpu_label for res in results})
    threads = sorted({res.threads for res in results})
    title = [  # wrapped to the figure's width: one batch size is under 5 inches wide
        f"p2o bench: inference latency (p50 bars, p90/p99 marks), {first.precision}",
        f"threads {','.join(map(str, threads))} per CPU engine on {'; '.join(cpus)}",
    ]
    lines = [w for line in title for w in textwrap.wrap(line, int(width * CHARS_PER_INCH))]
    fig.suptitle("\n".join(lines), fontsize=11)
    handles = [Patch(color=color[r], label=r) for r in measured] + [
        Line2D([], [], marker="_", markersize=14, mew=2, color="black", ls="", label="p90"),
        Line2D([], [], marker="v", markersize=6, color="black", ls="", label="p99"),
    ]
    ncol = max(1, min(len(handles), int(width / LEGEND_INCHES)))
    rows = -(-len(handles) // ncol)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.22 * rows / height + 0.02, 1, 0.98))  # it makes room for the title
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)
    return out
