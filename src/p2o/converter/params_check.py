"""A Paddle program and its parameters file, checked against each other before conversion.

The program (PIR ``*.json`` or legacy ``*.pdmodel`` protobuf) declares every persistable
variable with its shape and dtype. The parameters file (``*.pdiparams``) is those variables'
tensors, one after the other in name order, each one::

    u32 version (0) | u64 LoD levels, each: u64 bytes + offsets | u32 version (0)
    | i32 n | TensorDesc protobuf (n bytes: data_type, dims) | the raw data

So a truncated, padded, foreign or garbage file can be told from a good one without Paddle,
and named in one line, before paddle2onnx turns it into a confusing error (measured: a file cut
in half made onnx.checker reject the converted graph for an unsorted node).
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from p2o.core.errors import EnvironmentProblem, UsageError

# Paddle's VarType.Type data types: proto number → (name, bytes per element)
DTYPES: dict[int, tuple[str, int]] = {
    0: ("bool", 1),
    1: ("int16", 2),
    2: ("int32", 4),
    3: ("int64", 8),
    4: ("float16", 2),
    5: ("float32", 4),
    6: ("float64", 8),
    20: ("uint8", 1),
    21: ("int8", 1),
    22: ("bfloat16", 2),
    23: ("complex64", 8),
    24: ("complex128", 16),
}
_BY_NAME = {name: code for code, (name, _) in DTYPES.items()}
# PIR type names (``0.t_f32``) → the same names
_PIR_DTYPES = {
    "t_bool": "bool",
    "t_i16": "int16",
    "t_i32": "int32",
    "t_i64": "int64",
    "t_f16": "float16",
    "t_f32": "float32",
    "t_f64": "float64",
    "t_ui8": "uint8",
    "t_i8": "int8",
    "t_bf16": "bfloat16",
    "t_c64": "complex64",
    "t_c128": "complex128",
}
# legacy VarType.Type numbers of variables that are not saved (feed/fetch lists, readers, ...)
_DENSE_TENSOR = 7
_MAX_DESC = 1 << 20  # a TensorDesc is a few bytes per dimension


@dataclass(frozen=True)
class TensorDecl:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPES[_BY_NAME[self.dtype]][1]


@dataclass(frozen=True)
class Program:
    """What the converter needs to know of a Paddle program before converting it."""

    path: Path
    format: str  # "pir" (inference.json) or "legacy" (inference.pdmodel)
    inputs: tuple[TensorDecl, ...]  # the feeds, in order (-1 for a dynamic dimension)
    params: tuple[TensorDecl, ...]  # persistable variables, in the parameters file's order

    @property
    def params_bytes(self) -> int:
        """The size a parameters file for this program must have."""
        return sum(_record_size(p) for p in self.params)


def read_program(path: str | Path) -> Program:
    """Parse a PIR JSON or legacy protobuf program; UsageError naming the file if it is neither."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the Paddle program {p}: {exc.strerror or exc}") from exc
    if p.suffix == ".json" or data[:1] == b"{":
        return _read_pir(p, data)
    return _read_legacy(p, data)


def _not_a_program(p: Path, why: str) -> UsageError:
    return UsageError(f"{p.name}: not a Paddle program ({why})")


# ---------------------------------------------------------------------------- PIR (JSON)


def _read_pir(p: Path, data: bytes) -> Program:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_a_program(p, f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("base_code", {}).get("magic") != "pir":
        raise _not_a_program(p, "JSON without PIR's base_code magic")
    params: dict[str, TensorDecl] = {}
    inputs: list[TensorDecl] = []
    for op in _pir_ops(doc.get("program", {})):
        kind = str(op.get("#", ""))
        if kind == "p" or kind.endswith(".parameter"):
            attrs = op.get("A", [])
            name = attrs[3] if isinstance(attrs, list) and len(attrs) > 3 else None
            out = op.get("O", {})
            if not isinstance(name, str):
                raise _not_a_program(p, "a parameter op without a name")
            params[name] = _pir_tensor(p, name, out)
        elif kind.endswith(".data"):
            named = {a.get("N"): a.get("AT", {}).get("D") for a in op.get("A", [])}
            outs = op.get("O", [])
            decl = _pir_tensor(p, str(named.get("name")), outs[0] if outs else {})
            inputs.append(decl)
    if not inputs:
        raise _not_a_program(p, "PIR program without a data (input) op")
    return Program(p, "pir", tuple(inputs), tuple(params[k] for k in sorted(params)))


def _pir_ops(node: Any) -> list[dict[str, Any]]:
    """Every op of every block of every region, nested ones included."""
    ops: list[dict[str, Any]] = []
    for region in node.get("regions", []) if isinstance(node, dict) else []:
        for block in region.get("blocks", []):
            for op in block.get("ops", []):
                ops.append(op)
                ops.extend(_pir_ops(op))
    return ops


def _pir_tensor(p: Path, name: str, out: Any) -> TensorDecl:
    try:
        dtype_node, dims = out["TT"]["D"][0], out["TT"]["D"][1]
        kind = str(dtype_node["#"]).split(".", 1)[-1]
        return TensorDecl(name, tuple(int(d) for d in dims), _PIR_DTYPES[kind])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _not_a_program(p, f"variable {name!r} has no dense tensor type I can read") from exc


# ---------------------------------------------------------------------------- legacy (protobuf)


def _framework_pb2() -> Any:
    """Paddle's own ProgramDesc schema, loaded from its file (without importing all of Paddle)."""
    spec = importlib.util.find_spec("paddle")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem("reading a legacy .pdmodel program needs paddlepaddle")
    path = Path(next(iter(spec.submodule_search_locations))) / "base" / "proto" / "framework_pb2.py"
    mod_spec = importlib.util.spec_from_file_location("_p2o_paddle_framework_pb2", path)
    if mod_spec is None or mod_spec.loader is None or not path.is_file():
        raise EnvironmentProblem(f"paddlepaddle's program schema is missing: {path}")
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def _read_legacy(p: Path, data: bytes) -> Program:
    from google.protobuf.message import DecodeError

    pb2 = _framework_pb2()
    try:
        prog = pb2.ProgramDesc.FromString(data)
    except DecodeError as exc:
        raise _not_a_program(p, "neither PIR JSON nor a ProgramDesc protobuf") from exc
    if not prog.blocks or not any(b.ops for b in prog.blocks):
        raise _not_a_program(p, "a protobuf without any op")
    params: dict[str, TensorDecl] = {}
    for block in prog.blocks:
        for var in block.vars:
            if var.persistable and var.type.type == _DENSE_TENSOR:
                params[var.name] = _legacy_tensor(p, var)
    block0 = prog.blocks[0]
    by_name = {v.name: v for v in block0.vars}
    feeds = []
    for op in block0.ops:
        if op.type != "feed":
            continue
        col = next((a.i for a in op.attrs if a.name == "col"), 0)
        for out in op.outputs:
            for arg in out.arguments:
                if arg in by_name:
                    feeds.append((col, _legacy_tensor(p, by_name[arg])))
    if not feeds:
        raise _not_a_program(p, "a ProgramDesc without a feed op")
    inputs = tuple(d for _, d in sorted(feeds, key=lambda f: f[0]))
    return Program(p, "legacy", inputs, tuple(params[k] for k in sorted(params)))


def _legacy_tensor(p: Path, var: Any) -> TensorDecl:
    desc = var.type.dense_tensor.tensor if hasattr(var.type, "dense_tensor") else None
    if desc is None:  # Paddle < 3 named the field lod_tensor (same number on the wire)
        desc = var.type.lod_tensor.tensor
    if desc.data_type not in DTYPES:
        raise _not_a_program(p, f"variable {var.name!r} has data type {desc.data_type}")
    return TensorDecl(var.name, tuple(int(d) for d in desc.dims), DTYPES[desc.data_type][0])


# ---------------------------------------------------------------------------- parameters file


def _varint_len(n: int) -> int:
    n &= (1 << 64) - 1  # negative int64 → ten bytes, as protobuf writes it
    return max(1, (n.bit_length() + 6) // 7)


def _desc_len(t: TensorDecl) -> int:
    # TensorDesc{data_type = 1 (varint), dims = 2 (repeated int64, not packed)}: tag byte + varint
    code = _BY_NAME[t.dtype]
    return 1 + _varint_len(code) + sum(1 + _varint_len(d) for d in t.shape)


def _record_size(t: TensorDecl) -> int:
    return 4 + 8 + 4 + 4 + _desc_len(t) + t.nbytes


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if value >= 1 << 63:
        value -= 1 << 64
    return value, i


def _parse_desc(buf: bytes) -> tuple[int, tuple[int, ...]]:
    """TensorDesc protobuf → (data type number, dims)."""
    dtype, dims, i = None, [], 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        if tag == 0x08:
            dtype, i = _read_varint(buf, i)
        elif tag == 0x10:
            d, i = _read_varint(buf, i)
            dims.append(d)
        elif tag == 0x12:  # packed dims
            n, i = _read_varint(buf, i)
            end = i + n
            while i < end:
                d, i = _read_varint(buf, i)
                dims.append(d)
        else:
            raise ValueError(f"unexpected field tag {tag}")
    if dtype is None or dtype not in DTYPES:
        raise ValueError(f"data type {dtype}")
    return dtype, tuple(dims)


def _read_header(f: BinaryIO) -> tuple[int, tuple[int, ...]] | None:
    """One tensor header at the current position; None at a short read; ValueError if garbage."""

    def take(n: int) -> bytes | None:
        b = f.read(n)
        return b if len(b) == n else None

    head = take(12)
    if head is None:
        return None
    version, lod_levels = struct.unpack("<IQ", head)
    if version != 0 or lod_levels > 8:
        raise ValueError(f"version {version}, {lod_levels} LoD levels")
    for _ in range(lod_levels):
        size = take(8)
        if size is None:
            return None
        f.seek(struct.unpack("<Q", size)[0], 1)
    head = take(8)
    if head is None:
        return None
    version, n = struct.unpack("<Ii", head)
    if version != 0 or not 0 < n <= _MAX_DESC:
        raise ValueError(f"tensor version {version}, description of {n} bytes")
    desc = take(n)
    if desc is None:
        return None
    return _parse_desc(desc)


def check_params(program: Program, params_file: str | Path) -> int:
    """UsageError in one line naming ``params_file`` unless it holds exactly the program's params.

    Returns the file's size. Each tensor's header must show the dtype and shape the program
    declares for the variable at that place, and the file must end where the last one does.
    """
    path = Path(params_file)
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read the parameters file {path}: {exc.strerror or exc}") from exc
    need = program.params_bytes
    where = f"{path.name}: {size:,} bytes, the program {program.path.name} needs {need:,}"
    count = len(program.params)
    with f:
        for i, decl in enumerate(program.params):
            start = f.tell()
            try:
                header = _read_header(f)
            except ValueError as exc:
                if i == 0:
                    raise UsageError(
                        f"{path.name}: not a Paddle parameters file (its first bytes are no "
                        "tensor header)"
                    ) from exc
                raise UsageError(
                    f"{path.name}: tensor {i + 1} of {count} ({decl.name}, at byte {start:,}) has "
                    f"no valid header ({exc}): corrupt?"
                ) from exc
            if header is None:
                raise UsageError(f"{where} (truncated?)")
            code, dims = header
            found = TensorDecl(decl.name, dims, DTYPES[code][0])
            if (found.dtype, found.shape) != (decl.dtype, decl.shape):
                raise UsageError(
                    f"{path.name}: tensor {i + 1} of {count} is {found}, the program "
                    f"{program.path.name} needs {decl} for {decl.name} "
                    "(the parameters of another model?)"
                )
            f.seek(found.nbytes, 1)
            if f.tell() > size:
                raise UsageError(f"{where} (truncated?)")
        end = f.tell()
    if end < size:
        raise UsageError(f"{where}: {size - end:,} bytes more than its {count} tensors (padded?)")
    return size
