"""``core.provenance``: what produced a result, gathered once and rendered everywhere."""

from __future__ import annotations

import json

import p2o
from p2o.core import provenance
from p2o.core.results import Provenance
from p2o.core.versions import tool_versions


def test_p2o_s_own_version_is_recorded_whatever_its_distribution_is_called() -> None:
    # the distribution is p2o-proof (PyPI's p2o is another project): not "not installed"
    assert tool_versions()["p2o"] == p2o.__version__


def test_collect_records_time_command_tools_machine_and_identity() -> None:
    got = provenance.collect(threads=2, onnx_sha256="a" * 64, reference="zoo X", producer="p2o 0")
    assert got.utc.endswith("+00:00") and got.p2o == p2o.__version__
    assert {"onnx", "onnxruntime", "openvino", "numpy", "python"} <= set(got.versions)
    assert got.cpu and got.logical_cpus >= 1 and got.threads == 2
    assert set(got.cpu_flags) <= set(provenance.KERNEL_FLAGS)
    facts = got.facts()
    assert facts["ONNX SHA-256"] == "a" * 64 and facts["ONNX producer"] == "p2o 0"
    assert "weights SHA-256" not in facts  # empty facts are left out, not shown as blanks
    back = Provenance.from_dict(json.loads(json.dumps(got.to_dict())))
    assert back == got
