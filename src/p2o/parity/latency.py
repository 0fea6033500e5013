"""Moved: the bench stage is ``p2o.bench`` (this name stays for old imports)."""

from p2o.bench import *  # noqa: F403
from p2o.bench import __all__ as __all__
