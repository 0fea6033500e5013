"""Look at a page as a person would: headless Chromium renders it to a PNG that is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def looks_drawn(page: Path, png: Path) -> bool:
    """Screenshot ``page``; False (nothing checked) without Chromium, else assert not blank."""
    browser = chromium()
    if browser is None:
        return False
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
         "--window-size=1000,1400", page.resolve().as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert png.is_file(), "chromium wrote no screenshot"
    size = png.stat().st_size
    assert size > 20_000, f"a blank page compresses to almost nothing ({size} bytes)"
    return True
