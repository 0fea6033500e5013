"""The release's scheduling: twins that share synthetic weights do not build them at once."""

from __future__ import annotations

from p2o.release.executor import _next

TWIN = "Res2Net50_vd_26w_4s"


def test_a_twin_waits_while_its_weights_are_being_built() -> None:
    pending = [(f"{TWIN}_ssld", None), ("RegNetX_200MF", None)]
    assert _next(pending, running=[TWIN]) == 1
    assert _next(pending, running=["ReXNet_1_0"]) == 0


def test_only_twins_left_or_own_weights_start_in_order() -> None:
    assert _next([(f"{TWIN}_ssld", None)], running=[TWIN]) == 0  # nothing else to start
    assert _next([(f"{TWIN}_ssld", "w.pdparams")], running=[TWIN]) == 0  # its own weights
