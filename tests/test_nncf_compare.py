"""benchmarks/nncf_compare.py: NNCF stays optional; its quantizer runs on a small model.

The measured side-by-side is in docs/precision.md; here the script loads without NNCF and,
where NNCF is installed (the ``nncf`` extra), quantizes a small classifier."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import onnx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "nncf_compare.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nncf_compare", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_imports_no_nncf_until_asked() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert 'nncf' not in sys.modules and 'openvino' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_nncf_quantizes_a_small_classifier(tmp_path) -> None:
    pytest.importorskip("nncf")
    pytest.importorskip("openvino")
    from tests.converter.test_precision import small_classifier

    path = tmp_path / "fp32.onnx"
    onnx.save(small_classifier(), str(path))
    model = _load()._nncf(path, None, accuracy_control=False)
    assert "FakeQuantize" in {op.get_type_name() for op in model.get_ops()}
