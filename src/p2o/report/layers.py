"""The per-layer error table of a reduced artifact (``p2o verify --precision-debug``)."""

from __future__ import annotations

from p2o.core.results import LayerErrorReport, VerifyResult
from p2o.report.table import Row, Table

COLUMNS = ("rank", "node", "op", "added error", "cosine", "min cosine", "range error", "kept")
SHOWN = 25


def layer_error_table(report: LayerErrorReport, limit: int = SHOWN) -> Table:
    """The ``limit`` nodes adding the most error, largest first; the rest in the JSON."""
    rows = [
        Row(
            {
                "rank": str(i + 1),
                "node": e.node,
                "op": e.op_type,
                "added error": f"{e.added:.3g}",
                "cosine": f"{e.cosine:.5f}",
                "min cosine": f"{e.min_cosine:.5f}",
                "range error": f"{e.range_error:.3g}",
                "kept": "float" if e.kept_float else report.precision,
            }
        )
        for i, e in enumerate(report.layers[:limit])
    ]
    notes = [
        f"added error: 1 - cosine of the node's output minus 1 - cosine of its inputs, "
        f"against {report.reference} on {report.inputs}; {report.reduced_nodes} nodes compute "
        f"in {report.precision}"
    ]
    if len(report.layers) > limit:
        notes.append(f"{len(report.layers) - limit} more nodes in the JSON (layer_errors)")
    return Table(
        title=f"per-layer error ({report.precision}), largest first",
        columns=list(COLUMNS),
        rows=rows,
        notes=notes,
        reason_column=False,
    )


def layer_error_tables(result: VerifyResult) -> list[Table]:
    """The table when verify was asked for it (``--precision-debug``), else none."""
    layers = getattr(result, "layer_errors", None)
    return [] if layers is None else [layer_error_table(layers)]
