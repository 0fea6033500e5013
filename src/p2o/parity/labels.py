"""Labelled images for accuracy: an ImageFolder layout or a PaddleClas ``path label`` list.

- A folder whose subfolders are classes (``DIR/<class>/<image>``, the ImageFolder layout):
  a subfolder named by an integer is that class index; other names are looked up in the
  class list (``--class-list``), which is required then.
- A list file, one ``relative/path label`` per line (PaddleClas's ``val_list.txt``; paths
  relative to the list file's folder, the label an integer class index).
- A class list (PaddleClas's ``label_list.txt``): one class per line, either ``index name``
  or just ``name`` (the line number is then the index).

Accuracy is top-1 / top-5 over the labelled images, in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2o.core.errors import UsageError
from p2o.zoo.inputs import IMAGE_SUFFIXES, preprocess

TOP_K = 5


@dataclass(frozen=True)
class LabelledSet:
    files: list[Path]
    labels: np.ndarray  # int64 class index per file
    source: str

    def __len__(self) -> int:
        return len(self.files)

    def load(self, pp: object = None) -> np.ndarray:
        """The images, preprocessed like the model's inputs, ``[N, 3, H, W]``."""
        import skimage.io

        out = []
        for f in self.files:
            try:
                out.append(preprocess(np.asarray(skimage.io.imread(f)), pp))  # type: ignore[arg-type]
            except Exception as exc:  # unreadable or corrupt image: the user's input
                raise UsageError(f"cannot read labelled image {f}: {exc}") from exc
        return np.stack(out)


def read_class_list(path: str | Path) -> dict[str, int]:
    """``name → index`` from a class list (``index name`` or ``name`` per line)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"class list not found: {p}")
    names: dict[str, int] = {}
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        head, _, rest = line.partition(" ")
        if head.isdigit() and rest.strip():
            names[rest.strip()] = int(head)
        else:
            names[line] = i
    return names


def _class_index(name: str, classes: dict[str, int] | None, where: Path) -> int:
    if classes is not None and name in classes:
        return classes[name]
    if name.isdigit():
        return int(name)
    raise UsageError(
        f"class folder {name!r} in {where} is not a class index; give --class-list FILE"
    )


def load_labels(spec: str | Path, class_list: str | Path | None = None) -> LabelledSet:
    """An ImageFolder directory or a ``path label`` list file (see the module docstring)."""
    path = Path(spec)
    classes = read_class_list(class_list) if class_list is not None else None
    files: list[Path] = []
    labels: list[int] = []
    if path.is_dir():
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            index = _class_index(sub.name, classes, path)
            for f in sorted(sub.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(f)
                    labels.append(index)
        source = f"ImageFolder {path}"
    elif path.is_file():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise UsageError(f"{path}:{n}: expected 'relative/path label', got {line!r}")
            f = path.parent / parts[0]
            if not f.is_file():
                raise UsageError(f"{path}:{n}: image not found: {f}")
            files.append(f)
            labels.append(int(parts[1]))
        source = f"label list {path}"
    else:
        raise UsageError(f"--labels: no such folder or list file: {path}")
    if not files:
        raise UsageError(f"--labels {path}: no labelled images found")
    return LabelledSet(files, np.asarray(labels, np.int64), source)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 and top-5 accuracy in percent of ``logits`` ``[N, classes]`` for ``labels``."""
    x = np.asarray(logits).reshape(len(labels), -1)
    if labels.max(initial=0) >= x.shape[1] or labels.min(initial=0) < 0:
        raise UsageError(f"a label is outside the model's {x.shape[1]} classes")
    k = min(TOP_K, x.shape[1])
    topk = np.argsort(-x, axis=1, kind="stable")[:, :k]
    top1 = float(np.mean(topk[:, 0] == labels)) * 100
    top5 = float(np.mean((topk == labels[:, None]).any(axis=1))) * 100
    return top1, top5
