"""Small Paddle classifiers unlike the zoo's, exported as a user would ("bring your own model").

- ``mobile``: depthwise separable convs, hard-swish, a squeeze-excite block, a softmax head,
  input named ``image``, dynamic batch and spatial size;
- ``fixed160``: a plain conv net on a fixed 160×160 input (batch dynamic);
- ``two_heads``: two outputs (logits and an auxiliary head), dynamic spatial size.

Weights are drawn from a seeded NumPy generator (fan-in scaled, BatchNorm statistics set), so
they are the same on every machine and the outputs are well conditioned.
Run as a script (``python byom_nets.py NAME OUT_DIR``) under ``FLAGS_enable_pir_api=0`` to get
the legacy ``.pdmodel`` format: Paddle picks the program format when it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SHAPES = {
    "mobile": [None, 3, None, None],
    "fixed160": [None, 3, 160, 160],
    "two_heads": [None, 3, None, None],
}
INPUT_NAMES = {"mobile": "image", "fixed160": "x", "two_heads": "pixels"}


def build(name: str, seed: int = 0) -> Any:
    import numpy as np
    from paddle import nn

    class SE(nn.Layer):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc1 = nn.Conv2D(c, max(c // 4, 4), 1)
            self.fc2 = nn.Conv2D(max(c // 4, 4), c, 1)

        def forward(self, x: Any) -> Any:
            s = nn.functional.relu(self.fc1(self.pool(x)))
            return x * nn.functional.hardsigmoid(self.fc2(s))

    def dw_block(cin: int, cout: int, stride: int) -> nn.Layer:
        return nn.Sequential(
            nn.Conv2D(cin, cin, 3, stride=stride, padding=1, groups=cin, bias_attr=False),
            nn.BatchNorm2D(cin),
            nn.Hardswish(),
            SE(cin),
            nn.Conv2D(cin, cout, 1, bias_attr=False),
            nn.BatchNorm2D(cout),
            nn.Hardswish(),
        )

    class Mobile(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.BatchNorm2D(8), nn.Hardswish()
            )
            self.blocks = nn.Sequential(dw_block(8, 16, 2), dw_block(16, 24, 2))
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc = nn.Linear(24, 10)

        def forward(self, image: Any) -> Any:
            y = self.pool(self.blocks(self.stem(image))).flatten(1)
            return nn.functional.softmax(self.fc(y), axis=-1)

    class Fixed160(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2D(3, 8, 5, stride=4, padding=2),
                nn.BatchNorm2D(8),
                nn.ReLU(),
                nn.MaxPool2D(2),
                nn.Conv2D(8, 16, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            self.fc = nn.Linear(16 * 10 * 10, 7)  # a flatten that needs the fixed size

        def forward(self, x: Any) -> Any:
            return self.fc(self.body(x).flatten(1))

    class TwoHeads(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2D(3, 12, 5, stride=4, padding=2), nn.BatchNorm2D(12), nn.ReLU()
            )
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.head = nn.Linear(12, 6)
            self.aux = nn.Linear(12, 3)

        def forward(self, pixels: Any) -> Any:
            y = self.pool(self.body(pixels)).flatten(1)
            return self.head(y), self.aux(y)

    net = {"mobile": Mobile, "fixed160": Fixed160, "two_heads": TwoHeads}[name]()
    rng = np.random.default_rng(seed)
    for key, p in net.state_dict().items():
        shape = list(p.shape)
        if key.endswith("_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("_mean"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # biases, BatchNorm scale/shift
            value = rng.normal(1.0 if key.endswith("weight") else 0.0, 0.1, shape)
        else:
            fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        p.set_value(value.astype("float32"))
    net.eval()
    return net


def export(
    name: str, out: str | Path, prefix: str = "inference", shape: list[int | None] | None = None
) -> Path:
    """``paddle.jit.save`` of net ``name`` into ``out/prefix.*`` (input ``shape``, default
    ``SHAPES[name]``); returns ``out``."""
    import paddle

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = paddle.static.InputSpec(shape or SHAPES[name], "float32", INPUT_NAMES[name])
    with paddle.utils.unique_name.guard():
        net = build(name)
        paddle.jit.save(net, str(out / prefix), input_spec=[spec])
    return out


def export_legacy(name: str, out: str | Path, prefix: str = "inference") -> Path:
    """The same export in the legacy ``.pdmodel`` format (a child process)."""
    import os
    import subprocess

    env = {**os.environ, "FLAGS_enable_pir_api": "0"}
    cmd = [sys.executable, str(Path(__file__).resolve()), name, str(out), prefix]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"legacy export of {name} failed: {proc.stderr[-2000:]}")
    if not (Path(out) / f"{prefix}.pdmodel").is_file():
        raise RuntimeError(f"legacy export of {name} wrote no {prefix}.pdmodel")
    return Path(out)


if __name__ == "__main__":  # NAME OUT_DIR [PREFIX]
    export(sys.argv[1], sys.argv[2], *sys.argv[3:4])
