"""The zoo code's digest: a change to a network, the synthesis or the inputs invalidates what
p2o cached from them (synthetic weights, sample inputs, Paddle references)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def synthesis_code_digest() -> str:
    """SHA-256 of the zoo's code (networks, synthesis, inputs)."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
