"""Where a user's Paddle model is: a folder, a program file, or an archive as PaddleClas ships it.

``open_paddle_model(path, params=None, config=None)`` is a context manager giving a
``PaddleModelSource``: absolute paths to the program and its parameters, the program's format,
inputs and parameters (read before anything runs, the parameters file checked against it), the
preprocessing to feed it with, and every file's SHA-256. ``path`` may be

- a folder holding one program (``*.json`` PIR or ``*.pdmodel`` legacy) with its ``.pdiparams``;
- a program file, its parameters beside it (same stem) or given as ``params``;
- a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` holding such a folder (or the files at its top):
  unpacked into a temporary folder that is removed afterwards, also on SIGINT/SIGTERM; a member
  that would land outside it (absolute name, ``..``, a link pointing out, a device) is refused.

Relative paths are taken from the current directory once, here; everything after works on
absolute paths (paddle2onnx runs in a child process in another directory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import posixpath
import shutil
import signal
import stat
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from p2o.converter.params_check import Program, check_params, read_program
from p2o.core.errors import UsageError
from p2o.core.files import temporary_folder
from p2o.core.hashing import sha256_file
from p2o.zoo import paddleclas_config
from p2o.zoo.registry import Preprocess

PROGRAM_SUFFIXES = (".json", ".pdmodel")
PARAMS_SUFFIX = ".pdiparams"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
GENERIC_STEMS = ("inference", "model", "__model__")


@dataclass(frozen=True)
class PaddleModelFiles:
    """A Paddle inference model on disk, in either format."""

    model_file: Path  # inference.json (PIR) or inference.pdmodel (legacy program)
    params_file: Path

    @property
    def format(self) -> str:
        return "pir" if self.model_file.suffix == ".json" else "legacy"


@dataclass(frozen=True)
class PaddleModelSource:
    """A located, checked Paddle inference model (paths absolute)."""

    given: str  # what the user named
    name: str  # a label: the folder's (or archive's) name, or the program's stem
    model_file: Path
    params_file: Path
    program: Program
    preprocess: Preprocess  # from the config, or the ImageNet default sized to the program
    config_file: Path | None = None
    archive: Path | None = None
    sha256: dict[str, str] = field(default_factory=dict)  # file (as shown) → SHA-256

    @property
    def format(self) -> str:
        return self.program.format

    @property
    def files(self) -> PaddleModelFiles:
        return PaddleModelFiles(self.model_file, self.params_file)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocess.input_shape

    @property
    def input_name(self) -> str:
        return self.program.inputs[0].name

    @property
    def fixed_batch(self) -> int | None:
        n = self.program.inputs[0].shape[0]
        return n if n > 0 else None

    def shown(self, path: Path) -> str:
        """A file as the user knows it: inside the archive, or its absolute path."""
        root = self.model_file.parent
        if self.archive is not None and path.is_relative_to(root):
            return f"{self.archive}:{path.relative_to(root)}"
        return str(path)  # given beside an archive (--params, --inference-config) or no archive

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``source`` for a user's model."""
        pp = asdict(self.preprocess)
        pp["input_shape"] = list(self.preprocess.input_shape)
        pp["labels"] = list(self.preprocess.labels)
        return {
            "kind": "paddle-model",
            "path": str(self.archive or self.given_path),
            "format": self.format,
            "model_file": self.shown(self.model_file),
            "weights": self.shown(self.params_file),
            "weights_sha256": self.sha256[self.shown(self.params_file)],
            "config_file": None if self.config_file is None else self.shown(self.config_file),
            "files": dict(self.sha256),
            "inputs": [
                {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
                for t in self.program.inputs
            ],
            "params": {"count": len(self.program.params), "bytes": self.program.params_bytes},
            "preprocess": pp,
        }

    def identity(self) -> dict[str, Any]:
        """What verify and golden files record of the reference model."""
        return {
            "model": self.name,
            "paddle_model": str(self.archive or self.given_path),
            "paddle_format": self.format,
            "weights_sha256": self.sha256[self.shown(self.params_file)],
            "preprocess": self.preprocess.source,
        }

    @property
    def given_path(self) -> Path:
        return absolute(self.given)


@contextlib.contextmanager
def open_paddle_model(
    path: str | Path,
    params: str | Path | None = None,
    config: str | Path | None = None,
) -> Iterator[PaddleModelSource]:
    """``locate_paddle_model`` with an archive unpacked into a temporary folder, removed on
    leaving (also on SIGINT, and on SIGTERM where no handler was set)."""
    if not _is_archive(absolute(path)):
        yield locate_paddle_model(path, params, config)
        return
    with terminate_as_interrupt(), temporary_folder("p2o-model-") as tmp:
        yield locate_paddle_model(path, params, config, unpack_dir=Path(tmp))


def locate_paddle_model(
    path: str | Path,
    params: str | Path | None = None,
    config: str | Path | None = None,
    *,
    unpack_dir: Path | None = None,
) -> PaddleModelSource:
    """Locate (unpacking an archive into ``unpack_dir``) and check a user's Paddle model.

    Raises UsageError, in one line naming the file, for anything wrong with it: a missing or
    ambiguous program, missing/truncated/padded/foreign/garbage parameters, a file that is not
    a program, a hostile or broken archive, an unusable ``inference.yml``.
    """
    p = absolute(path)
    if not p.exists():
        raise UsageError(f"Paddle model not found: {path} (from {Path.cwd()})")
    params_path = None if params is None else absolute(params)
    config_path = None if config is None else absolute(config)
    if params_path is not None and not params_path.is_file():
        raise UsageError(f"parameters file not found: {params}")
    if config_path is not None and not config_path.is_file():
        raise UsageError(f"inference config not found: {config}")
    if not (p.is_file() and _is_archive(p)):
        return _resolve(str(path), p, params_path, config_path, None)
    if unpack_dir is None:
        raise UsageError(f"{p.name}: an archive needs a folder to unpack into")
    root = _unpack(p, unpack_dir / "archive")
    return _resolve(str(path), root, params_path, config_path, p)


Opts = TypeVar(
    "Opts", bound=Any
)  # an options dataclass with paddle_model, params, inference_config
R = TypeVar("R")


def with_paddle_model(fn: Callable[..., R]) -> Callable[..., R]:
    """Give ``fn`` its options with ``paddle_model`` opened: a ``PaddleModelSource`` (or None).

    The options (verify's, bench's) carry ``paddle_model`` (a path), ``params`` and
    ``inference_config``; the wrapper opens the model for the duration of the call (an
    archive's folder removed afterwards) and calls ``fn`` with the opened source in them.
    """

    @functools.wraps(fn)
    def wrapper(options: Opts, *args: Any, **kw: Any) -> R:
        path = options.paddle_model
        params, config = options.params, options.inference_config
        if path is None or isinstance(path, PaddleModelSource):
            if params is not None or config is not None:
                raise UsageError("--params and --inference-config go with --paddle-model")
            return fn(options, *args, **kw)
        with open_paddle_model(path, params, config) as src:
            opened = dataclasses.replace(
                options, paddle_model=src, params=None, inference_config=None
            )
            return fn(opened, *args, **kw)

    return wrapper


def _is_archive(p: Path) -> bool:
    return p.name.lower().endswith(ARCHIVE_SUFFIXES)


def _archive_stem(p: Path) -> str:
    low = p.name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if low.endswith(suffix):
            return p.name[: -len(suffix)]
    return p.stem


def _resolve(
    given: str,
    p: Path,
    params: Path | None,
    config: Path | None,
    archive: Path | None,
) -> PaddleModelSource:
    where = f" (in {archive.name})" if archive is not None else ""
    try:
        model_file, params_file = _locate(p, params)
        program = read_program(model_file)
        check_params(program, params_file)

        if config is None:
            config = paddleclas_config.find_config(model_file.parent, model_file.stem)
        pp = paddleclas_config.load(config) if config is not None else None
        preprocess = _fit_preprocess(program, pp, model_file)
    except UsageError as exc:
        msg = str(exc)
        if archive is not None:  # the temporary folder means nothing to the user
            msg = msg.replace(str(p), archive.name)
            where = "" if archive.name in msg else where
        raise UsageError(f"{msg}{where}") from exc
    if archive is not None:
        name = _archive_stem(archive)
    elif p.is_dir():
        name = p.name
    else:
        stem = model_file.stem
        name = model_file.parent.name if stem.lower() in GENERIC_STEMS else stem
    src = PaddleModelSource(
        given, name, model_file, params_file, program, preprocess, config, archive
    )

    files = [f for f in (archive, model_file, params_file, config) if f is not None]
    hashes = {(str(f) if f == archive else src.shown(f)): sha256_file(f) for f in files}
    return PaddleModelSource(
        given, name, model_file, params_file, program, preprocess, config, archive, hashes
    )


def locate_files(p: Path, params: Path | None = None) -> tuple[Path, Path]:
    """(program, parameters) of a folder or a program file, neither read nor checked."""
    if not p.exists():
        raise UsageError(f"Paddle model not found: {p}")
    return _locate(p, params)


def _locate(p: Path, params: Path | None) -> tuple[Path, Path]:
    """(program, parameters) of a folder or a program file."""
    if p.is_file():
        if p.suffix == PARAMS_SUFFIX:
            raise UsageError(
                f"{p.name} is a parameters file: point at the program (.json or .pdmodel) "
                "or at its folder"
            )
        return p, params or _params_beside(p)
    if not p.is_dir():
        raise UsageError(f"{p} is neither a folder, a program file nor an archive")
    programs = _programs_in(p)
    if not programs:
        subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and _programs_in(subdirs[0]):
            return _locate(subdirs[0], params)  # an archive's one folder level
        raise UsageError(
            f"{p} holds no Paddle inference model (a .json or .pdmodel program with its "
            f"{PARAMS_SUFFIX})"
        )
    if params is not None:
        if len(programs) > 1:
            names = ", ".join(m.name for m in programs)
            raise UsageError(f"{p} holds several programs ({names}); point at one")
        return programs[0], params
    paired = [m for m in programs if m.with_suffix(PARAMS_SUFFIX).is_file()]
    # a PIR and a legacy program of one stem: the PIR one (what Paddle 3 loads first)
    paired = [m for m in paired if m.suffix == ".json" or m.with_suffix(".json") not in paired]
    if len(paired) == 1:
        return paired[0], paired[0].with_suffix(PARAMS_SUFFIX)
    if len(paired) > 1:
        names = ", ".join(m.name for m in paired)
        raise UsageError(f"{p} holds several Paddle models ({names}); point at one")
    if len(programs) == 1:
        return programs[0], _params_beside(programs[0])
    names = ", ".join(m.name for m in programs)
    raise UsageError(f"{p}: none of its programs ({names}) has a {PARAMS_SUFFIX} beside it")


def _programs_in(d: Path) -> list[Path]:
    return sorted(
        m for m in d.iterdir() if m.is_file() and m.suffix in PROGRAM_SUFFIXES and _looks_like(m)
    )


def _looks_like(m: Path) -> bool:
    """A .json file is a candidate if it could be a PIR program (not, say, a config.json) or
    has parameters beside it (then it is checked, and refused by name if it is none)."""
    if m.suffix != ".json" or m.with_suffix(PARAMS_SUFFIX).is_file():
        return True
    try:
        with m.open("rb") as f:
            return b'"base_code"' in f.read(4096)
    except OSError:
        return False


def _params_beside(model_file: Path) -> Path:
    beside = model_file.with_suffix(PARAMS_SUFFIX)
    if beside.is_file():
        return beside
    raise UsageError(
        f"{model_file.name}: no parameters beside it (looked for {beside.name}); "
        "give them with --params FILE"
    )


def _fit_preprocess(program: Program, pp: Preprocess | None, model_file: Path) -> Preprocess:
    """The preprocessing to feed: the config's, checked against the program's input, or the
    ImageNet default at the program's fixed size (224×224 when the size is dynamic)."""
    if len(program.inputs) != 1:
        names = ", ".join(t.name for t in program.inputs)
        raise UsageError(
            f"{model_file.name}: {len(program.inputs)} inputs ({names}); p2o takes image "
            "classifiers with one image input"
        )
    x = program.inputs[0]
    if len(x.shape) != 4 or x.dtype != "float32":
        raise UsageError(
            f"{model_file.name}: input {x.name} is {x}; p2o takes one float32 image batch "
            "[N, C, H, W]"
        )
    c, h, w = x.shape[1:]
    if pp is None:
        fixed = h > 0 and w > 0
        pp = Preprocess.imagenet(h, w) if fixed else Preprocess()
        if fixed and (h, w) != (224, 224):
            pp = _replace(pp, source=f"ImageNet default, sized to the program's {w}x{h} input")
        if c > 0 and c != 3:
            raise UsageError(
                f"{model_file.name}: input {x.name} has {c} channels; give its inference.yml "
                "(--inference-config) to say how to fill them"
            )
        return pp
    want = pp.input_shape
    for dim, have, need in zip(("channels", "height", "width"), (c, h, w), want, strict=True):
        if have > 0 and have != need:
            raise UsageError(
                f"{pp.source} gives a {want[2]}x{want[1]} input with {want[0]} channels, but "
                f"{model_file.name}'s input {x.name} is {x} ({dim} {have}, not {need})"
            )
    return pp


def _replace(pp: Preprocess, **changes: Any) -> Preprocess:
    from dataclasses import replace

    return replace(pp, **changes)


# ---------------------------------------------------------------------------- archives


def _unpack(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into ``dest`` after checking every member stays inside it."""
    name = archive.name
    dest.mkdir(parents=True, exist_ok=True)
    if name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                for info in infos:
                    _check_member(name, info.filename)
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        raise UsageError(f"{name}: member {info.filename!r} is a link (refused)")
                _check_space(name, sum(i.file_size for i in infos), dest)
                z.extractall(dest)
        except zipfile.BadZipFile as exc:
            raise UsageError(f"{name}: not a readable zip archive ({exc})") from exc
        return dest
    try:
        with tarfile.open(archive, "r:*") as t:
            members = t.getmembers()
            for m in members:
                _check_tar_member(name, m)
            _check_space(name, sum(m.size for m in members if m.isfile()), dest)
            t.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):  # the second fence caught what the first missed
            raise UsageError(f"{name}: member refused: {exc}") from exc
        raise UsageError(f"{name}: not a readable tar archive ({exc})") from exc
    return dest


def _check_member(archive: str, member: str) -> str:
    """The member's name, normalised; UsageError when it could land outside the folder."""
    name = member.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UsageError(f"{archive}: member {member!r} has an absolute name (refused)")
    if ".." in name.split("/"):
        raise UsageError(f"{archive}: member {member!r} climbs out with '..' (refused)")
    return posixpath.normpath(name)


def _check_tar_member(archive: str, m: tarfile.TarInfo) -> None:
    name = _check_member(archive, m.name)
    if m.issym() or m.islnk():
        target = m.linkname.replace("\\", "/")
        base = posixpath.dirname(name) if m.issym() else ""
        joined = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or joined == ".." or joined.startswith("../"):
            raise UsageError(
                f"{archive}: member {m.name!r} links to {m.linkname!r}, outside the archive "
                "(refused)"
            )
    elif not (m.isfile() or m.isdir()):
        raise UsageError(f"{archive}: member {m.name!r} is a device or fifo (refused)")


def _check_space(archive: str, total: int, dest: Path) -> None:
    free = shutil.disk_usage(dest).free
    if total > free:
        raise UsageError(
            f"{archive}: unpacking needs {total / 1e9:.1f} GB, {free / 1e9:.1f} GB free in {dest}"
        )


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While an archive is unpacked, SIGTERM unwinds like Ctrl-C so the folder is removed.

    Only where nobody set a handler (the CLI may have its own) and only in the main thread.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def absolute(path: str | Path) -> Path:
    """A user's path made absolute against the current directory (no symlink resolution)."""
    return Path(os.path.abspath(Path(path).expanduser()))


def find_paddle_model(path: str | Path) -> PaddleModelFiles:
    """The program and params files of a Paddle model folder or program file (not checked:
    ``p2o.converter.source`` locates a user's model, archives and checks included)."""

    return PaddleModelFiles(*locate_files(absolute(path)))


@dataclass(frozen=True)
class ModelSource:
    """Which model a stage works on: a zoo name (``model``) with its ``weights`` (a .pdparams
    file, ``"pretrained"``, or None: synthetic weights of ``seed``), or a user's
    ``paddle_model`` (folder, program file or archive) with its ``params`` and PaddleClas
    ``inference_config`` when they are not beside the program. The options of convert, verify
    and bench start with these fields."""

    model: str | None = None
    paddle_model: str | Path | PaddleModelSource | None = None
    params: str | Path | None = None
    inference_config: str | Path | None = None
    weights: str | Path | None = None
    seed: int = 0
