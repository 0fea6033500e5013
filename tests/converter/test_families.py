"""One model per family converts with default options and computes what Paddle computes."""

from __future__ import annotations

import onnx
import paddle
import pytest

from p2o.converter import ConvertOptions, convert, simplify
from p2o.converter.ops import involution
from p2o.zoo import create_model
from p2o.zoo.inputs import sample_batch
from tests.families import ONE_PER_FAMILY
from tests.numerics import assert_parity


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_converts_with_defaults(name, tmp_path):
    res = convert(ConvertOptions(name, out_dir=tmp_path / name))
    model = onnx.load(str(res.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    x = sample_batch(2)
    got = simplify.ort_run(model, {"x": x})[0]
    with paddle.no_grad():
        want = create_model(name)(paddle.to_tensor(x)).numpy()
    assert_parity(got, want)
    invs = [n for n in model.graph.node if n.op_type == involution.OP_TYPE]
    if name.startswith("RedNet"):
        assert len(invs) == 9 and all(n.domain == involution.DOMAIN for n in invs)
        assert [(f.domain, f.name) for f in model.functions] == [
            (involution.DOMAIN, involution.OP_TYPE)
        ]
        assert res.manifest.custom_ops[0]["count"] == 9
        # CPU bodies by output width: the row stack at 112 and 56, the band from 28 down
        assert res.manifest.custom_ops[0]["bodies"] == {"band": 7, "rows": 2}
        assert res.manifest.options["involution_body"] == "cpu"
    else:
        assert invs == [] and res.manifest.custom_ops == []
