"""How the tests compare numbers: the project's tolerance rule, nothing hand-rolled.

Every test that compares two computations (an export with its network, an ONNX graph with a
numpy reference, one batch size with another) calls :func:`assert_parity`, which applies
``p2o.core.tolerance``'s rule (relative error against ``max(|r|, 0.1 max|r|)``, all finite,
same shape). Whole networks are compared on trained-like synthetic weights (``p2o.zoo``) and
the bundled photographs (:func:`photos`), never on a naively initialised network or an
unseeded input: those amplify rounding differences between CPUs (AVX2 against AVX-512/AMX
kernels) until a correct export looks wrong on one machine and right on another.
"""

from __future__ import annotations

import numpy as np

from p2o.core.tolerance import compare_outputs

NETWORK_TOLERANCE = 1e-4  # p2o verify's default: two correct fp32 engines on a whole network
OP_TOLERANCE = 1e-5  # one op or block against a float64 numpy reference


def assert_parity(actual, reference, tolerance: float = NETWORK_TOLERANCE, name="output"):
    """Fail unless ``actual`` matches ``reference`` under the project's tolerance rule."""
    c = compare_outputs(np.asarray(reference), np.asarray(actual), tolerance, name=name)
    assert c.passed, (
        f"{name}: {c.reason} (smallest passing tolerance {c.min_tolerance}, max abs error "
        f"{c.max_abs_error}, at {c.worst_index})"
    )
    return c


def photos(count: int = 2) -> np.ndarray:
    """``count`` preprocessed photographs from scikit-image's bundled data, [N, 3, 224, 224]."""
    from p2o.zoo.inputs import sample_batch

    return sample_batch(count)
