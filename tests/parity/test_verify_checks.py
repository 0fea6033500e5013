"""verify's own checks: precision per runtime, the reference computed once, strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.converter.export import export_static
from p2o.core.errors import UsageError
from p2o.parity.verify import VerifyOptions, verify
from p2o.runtimes.paddle import PaddleRunner
from p2o.zoo import create_model

NAME = "RegNetX_200MF"


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(ConvertOptions(NAME, out_dir=tmp_path_factory.mktemp("c") / NAME)).onnx_path


@pytest.fixture(scope="module")
def paddle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pd")
    export_static(create_model(NAME), d)
    return d


@pytest.mark.slow
def test_unsupported_precision_is_skipped_with_the_reason(
    onnx_path: Path, paddle_dir: Path
) -> None:
    res = verify(
        VerifyOptions(
            onnx_file=onnx_path,
            paddle_model=paddle_dir,
            runtimes=["ort-cpu", "paddle-plain"],
            batches=[1],
            precision="tf32",
        )
    )
    statuses = {r.runtime: r.status for r in res.report.results}
    # e051b5f: ort-cpu "error" and paddle-plain "passed" (fp32, labelled tf32)
    assert statuses == {"ort-cpu": "skipped", "paddle-plain": "skipped"}, res.report.reason
    assert all(f"{r.runtime} has no tf32" in r.reason for r in res.report.results)
    with pytest.raises(UsageError, match="precision 'fp16' not supported"):
        PaddleRunner(paddle_dir, precision="fp16")


@pytest.mark.slow
def test_the_paddle_reference_runs_once_per_sample(
    onnx_path: Path, paddle_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))  # cold: other tests filled theirs
    seen: list[int] = []
    real = PaddleRunner._run

    floor: list[int] = []  # the noise floor's oneDNN run: one batch, cached like the reference

    def counting(self, feed):  # type: ignore[no-untyped-def]
        (floor if self.onednn else seen).append(len(next(iter(feed.values()))))
        return real(self, feed)

    from p2o.core import cache

    monkeypatch.setattr(PaddleRunner, "_run", counting)
    cache.set_enabled(False)
    try:
        res = verify(
            VerifyOptions(onnx_file=onnx_path, paddle_model=paddle_dir, runtimes=["ort-cpu"])
        )
    finally:
        cache.set_enabled(None)
    assert res.exit_code == 0 and res.batches == [1, 4]
    assert sum(seen) == 8, seen  # 8 photographs; e051b5f ran them once per batch size (16)
    assert floor == [4]  # one batch of the largest size
    seen.clear()
    first = verify(
        VerifyOptions(onnx_file=onnx_path, paddle_model=paddle_dir, runtimes=["ort-cpu"])
    )
    again = verify(
        VerifyOptions(onnx_file=onnx_path, paddle_model=paddle_dir, runtimes=["ort-cpu"])
    )
    assert first.exit_code == again.exit_code == 0
    assert sum(seen) == 8  # the second verify read Paddle's outputs from the cache
    seen.clear()
    for _ in range(2):  # a zoo network is exported afresh each time: still one Paddle run
        assert (
            verify(
                VerifyOptions(NAME, onnx_file=onnx_path, runtimes=["ort-cpu"], batches=[1])
            ).exit_code
            == 0
        )
    assert sum(seen) == 8


def _infinite(path: Path, out: Path) -> Path:
    m = onnx.load(str(path))
    name = m.graph.output[0].name
    for node in m.graph.node:
        node.output[:] = [f"{o}.pre" if o == name else o for o in node.output]
    m.graph.initializer.append(onnx.numpy_helper.from_array(np.float32(np.inf), "big"))
    m.graph.node.append(onnx.helper.make_node("Mul", [f"{name}.pre", "big"], [name]))
    del m.metadata_props[:]
    onnx.save(m, str(out))
    return out


def _reject(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")


def test_json_is_strict_and_a_failed_row_shows_its_numbers(
    onnx_path: Path, paddle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _infinite(onnx_path, tmp_path / "inf.onnx")
    args = ["verify", "--onnx", str(bad), "--paddle-model", str(paddle_dir)]
    args += ["--runtimes", "ort-cpu", "--batch", "1"]
    assert main([*args, "--json"]) == 1
    data = json.loads(capsys.readouterr().out, parse_constant=_reject)  # e051b5f: Infinity
    out = data["results"][0]["outputs"][0]
    assert out["min_tolerance"] is None and out["nonfinite"]["min_tolerance"] == "inf"
    bigger = tmp_path / "scaled.onnx"
    m = onnx.load(str(onnx_path))
    for init in m.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and len(init.dims) == 1:
            arr = onnx.numpy_helper.to_array(init) * np.float32(1.05)
            init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
            break
    del m.metadata_props[:]
    onnx.save(m, str(bigger))
    assert main(["verify", "--onnx", str(bigger), "--paddle-model", str(paddle_dir),
                 "--runtimes", "ort-cpu", "--batch", "1"]) == 1  # fmt: skip
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if "ort-cpu" in line and "failed" in line)
    assert row.count(" - ") < 2, row  # e051b5f printed "-" for max abs, cosine and top-1
