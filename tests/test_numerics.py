import numpy as np
import pytest

from tests.numerics import assert_parity


def test_assert_parity_passes_rounding_noise_and_fails_a_real_difference():
    r = np.random.default_rng(0).standard_normal((2, 10)).astype(np.float32) * 5
    assert_parity(r * (1 + 1e-6), r, 1e-5)
    with pytest.raises(AssertionError, match="smallest passing tolerance"):
        assert_parity(r * 1.01, r, 1e-4)
    with pytest.raises(AssertionError):
        assert_parity(np.full_like(r, np.nan), np.full_like(r, np.nan))  # NaN never passes
    with pytest.raises(AssertionError):
        assert_parity(r[:1], r)
