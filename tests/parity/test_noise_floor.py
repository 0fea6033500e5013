"""The noise floor beside every verdict (``p2o.parity.noise``): an error within the reference's
own disagreement is called noise, a conversion broken on purpose is called N× the floor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from p2o.cli import main
from p2o.converter import ConvertOptions, convert
from p2o.core.results import NoiseFloor, VerifyResult
from p2o.parity import noise
from p2o.parity.verify import VerifyOptions, verify
from p2o.runtimes.paddle import PaddleRunner
from tests.support.break_onnx import scale_conv_weight
from tests.tiny import export_tiny_net

SHAPE = (3, 16, 16)


def test_judge_words_and_ratio() -> None:
    floor = NoiseFloor(5e-3, "paddle-kernels", "d")
    assert floor.judge(1.5e-2) == (
        "1.5e-02 — within the model's own float noise (Paddle's kernels differ by 5.0e-03)"
    )
    broken = NoiseFloor(3e-6, "onnx-optimizations", "d")
    assert broken.judge(3.1e-2) == "3.1e-02 — 10,333× the float noise (3.0e-06): a conversion error"
    assert "within --tolerance" in broken.judge(3e-4, passed=True)
    # a floor of 0 (engines identical on that batch) is taken as float32's epsilon, not 0
    assert NoiseFloor(0.0, "paddle-kernels", "d").ratio(1e-6) == pytest.approx(1e-6 / 2**-23)
    assert not NoiseFloor(math.nan, "paddle-kernels", "d").within(1.0)


def test_auto_tolerance_is_bounded() -> None:
    def auto(v: float) -> float:
        return noise.auto_tolerance(NoiseFloor(v, "paddle-kernels", ""))

    assert auto(1e-7) == noise.AUTO_MIN_TOLERANCE
    assert auto(5e-3) == pytest.approx(5e-2)
    assert auto(0.3) == noise.AUTO_MAX_TOLERANCE  # a real bug still fails


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tiny")
    export_tiny_net(d / "pd", 0, 10, SHAPE)
    res = convert(ConvertOptions(paddle_model=d / "pd", out_dir=d / "onnx"))
    return d / "pd", res.onnx_path


def _broken(onnx_path: Path, out: Path, factor: float) -> Path:
    """The conversion with its Conv weight scaled by ``factor`` (on purpose)."""
    model = onnx.load(str(onnx_path))
    scale_conv_weight(model, factor)
    onnx.save(model, str(out))
    return out


def _verify(onnx_path: Path, pd: Path, **kw: object) -> VerifyResult:
    return verify(
        VerifyOptions(
            onnx_file=onnx_path,
            paddle_model=pd,
            runtimes=["ort-cpu"],
            inputs="random:4",
            batches=[2],
            **kw,  # type: ignore[arg-type]
        )
    )


@pytest.mark.slow
def test_a_broken_conversion_is_many_times_the_floor(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))
    pd, onnx_path = tiny
    res = _verify(_broken(onnx_path, tmp_path / "broken.onnx", 1.05), pd)
    floor = res.noise_floor
    assert res.exit_code == 1 and floor is not None and floor.source == "paddle-kernels"
    error = res.report.results[0].min_tolerance
    assert floor.ratio(error) > 100 and "a conversion error" in floor.judge(error)
    again = VerifyResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.noise_floor == floor  # JSON round trip; old JSON (no field) loads as None
    assert VerifyResult.from_dict({**res.to_dict(), "noise_floor": None}).noise_floor is None


@pytest.mark.slow
def test_engines_that_differ_a_lot_make_the_same_error_noise(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """oneDNN made to disagree with the plain kernels by 2e-2: a 1e-2 error is then noise."""
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))
    real = PaddleRunner._run

    def noisy(self, feed):  # type: ignore[no-untyped-def]
        out = real(self, feed)
        return [v * np.float32(1.02) for v in out] if self.onednn else out

    monkeypatch.setattr(PaddleRunner, "_run", noisy)
    pd, onnx_path = tiny
    res = _verify(_broken(onnx_path, tmp_path / "off.onnx", 1.01), pd)
    floor, error = res.noise_floor, res.report.results[0].min_tolerance
    assert floor is not None and floor.value > 1e-2, res.notes
    assert res.exit_code == 1  # the verdict stays at --tolerance
    assert floor.within(error) and "within the model's own float noise" in floor.judge(error)
    # --tolerance auto: 10x that floor passes the same file
    assert _verify(_broken(onnx_path, tmp_path / "off.onnx", 1.01), pd, tolerance="auto")


@pytest.mark.slow
def test_every_report_shows_the_floor(
    tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd, onnx_path = tiny
    broken = _broken(onnx_path, tmp_path / "broken.onnx", 1.05)
    base = ["verify", "--onnx", str(broken), "--paddle-model", str(pd), "--runtimes", "ort-cpu"]
    base += ["--inputs", "random:4", "--batch", "2"]
    junit, md, html = tmp_path / "j.xml", tmp_path / "r.md", tmp_path / "r.html"
    assert main([*base, "--junit", str(junit), "--report", str(md)]) == 1
    text = capsys.readouterr().out
    assert "vs noise" in text and "noise floor" in text and "a conversion error" in text
    assert "a conversion error" in junit.read_text() and 'name="noise floor"' in junit.read_text()
    assert "noise floor" in md.read_text() and "vs noise" in md.read_text()
    assert main([*base, "--report", str(html)]) == 1
    assert "vs noise" in html.read_text()
    capsys.readouterr()
    assert main([*base, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["noise_floor"]["source"] == "paddle-kernels"


@pytest.mark.slow
def test_golden_files_get_the_onnx_floor(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    pd, onnx_path = tiny
    golden = tmp_path / "g.npz"
    assert _verify(onnx_path, pd, save_golden=golden)
    res = verify(
        VerifyOptions(onnx_file=onnx_path, golden=golden, runtimes=["ort-cpu"], batches=[2])
    )
    assert res.noise_floor is not None and res.noise_floor.source == "onnx-optimizations"
    assert res.noise_floor.value < 1e-5


@pytest.mark.slow
def test_a_paddle_engine_off_by_far_more_than_noise_is_not_the_floor(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """oneDNN off by 100% (a defect, as on ConvNeXt_tiny): the ONNX graph's floor instead, or a
    broken conversion would be called noise."""
    monkeypatch.setenv("P2O_CACHE_DIR", str(tmp_path / "cache"))
    real = PaddleRunner._run

    def defect(self, feed):  # type: ignore[no-untyped-def]
        out = real(self, feed)
        return [v * np.float32(2.0) for v in out] if self.onednn else out

    monkeypatch.setattr(PaddleRunner, "_run", defect)
    pd, onnx_path = tiny
    res = _verify(_broken(onnx_path, tmp_path / "broken.onnx", 1.05), pd)
    floor, error = res.noise_floor, res.report.results[0].min_tolerance
    assert floor is not None and floor.source == "onnx-optimizations", res.notes
    assert any("more than float noise" in n for n in res.notes)
    assert "a conversion error" in floor.judge(error)
