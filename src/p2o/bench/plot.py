"""Latency plots of ``p2o bench`` results (matplotlib, Agg backend, PNG).

One row of panels per model, one panel per batch size (each with its own latency axis, so
a batch of 1 stays readable beside a batch of 8). In a panel: one bar per runtime, the
p50 latency, with the p90 (a bar) and p99 (a triangle) marked above it; a runtime that was
skipped or failed keeps its slot, labelled so. The title gives the threads and the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from p2o.core.errors import EnvironmentProblem, UsageError

if TYPE_CHECKING:
    from p2o.core.results import BenchResult

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
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.2 + 3.6 * ncols, 1.4 + 3.4 * nrows), squeeze=False
    )
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
                ax.text(
                    x,
                    s.p50_ms / 2,
                    f"{s.p50_ms:.3g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                    fontweight="bold",
                )
                top = max(top, s.p99_ms)
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
    fig.suptitle(
        f"p2o bench: inference latency (p50 bars, p90/p99 marks), {first.precision}\n"
        f"threads {','.join(map(str, threads))} per CPU engine on {'; '.join(cpus)}",
        fontsize=11,
    )
    handles = [Patch(color=color[r], label=r) for r in measured] + [
        Line2D([], [], marker="_", markersize=14, mew=2, color="black", ls="", label="p90"),
        Line2D([], [], marker="v", markersize=6, color="black", ls="", label="p99"),
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=9, frameon=False
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.98))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)
    return out
