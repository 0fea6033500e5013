from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def byom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The "bring your own model" nets exported once: NAME/ (PIR) and mobile_legacy/."""
    from tests.converter import byom_nets

    root = tmp_path_factory.mktemp("byom")
    for name in byom_nets.SHAPES:
        byom_nets.export(name, root / name)
    byom_nets.export_legacy("mobile", root / "mobile_legacy")
    return root
