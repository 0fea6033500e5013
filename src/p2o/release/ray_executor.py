"""Run the models of a release as Ray tasks (``p2o release --executor ray``).

Each model is one Ray task that calls the local executor's per-model function
(:func:`p2o.release.worker.build_model`) in a temporary folder of the node it runs on, then
returns its record and the finished model folder (a tar, through Ray's object store). The driver
unpacks it under ``DIST/.work/`` and publishes it with one rename, so DIST gets the same
layout, records, reports, ``SHA256SUMS`` and ``--resume`` as with ``--executor local``.

Resources a model's task declares (``ray.remote`` options):

- ``num_cpus``: ``$P2O_RAY_CPUS`` (default 1);
- ``memory``: an estimate from the model's parameter count (the peak RSS measured in
  docs/release.md: about 600 MB + 48 MB per million parameters), ``$P2O_RAY_MEMORY_MB``
  overrides it;
- ``resources={"paddle": 0.001}``: only a node started with ``--resources '{"paddle": 1}'``
  (one that has Paddle installed) is ever picked;
- no GPU: the GPU runtimes (``ort-cuda``, ``ort-trt``) are a second task per model, the GPU
  step: ``num_gpus=1`` and no ``paddle`` resource, so it runs on a GPU node without Paddle.
  It gets the finished model folder (through the object store), verifies ``model.onnx`` on
  the GPU runtimes against the ``golden.npz`` the Paddle step saved, adds those rows to the
  record, rewrites the model's reports, and sends the folder back to be published. Only the
  Paddle step runs where there is no GPU runtime; with GPU runtimes only, the Paddle step
  verifies on ``ort-cpu`` (it needs one runtime to save the golden outputs).

Each task runs in a fresh worker process (``max_calls=1``: Paddle and paddle2onnx are not
safe to share one). A task whose worker or node dies is retried ``$P2O_RAY_MAX_RETRIES``
times (default 1); after that the model is an ``error`` record (stage ``worker``) naming the
node it last ran on. Ctrl-C or SIGTERM on the driver cancels every task (a KeyboardInterrupt
in the task first, so it removes its temporary folder; killed after ``STOP_SECONDS``) and
removes ``DIST/.work``: no model is left half-written.

Cluster problems end the release before any model runs, with one line and exit 2:

- the address does not answer a TCP connection within ``$P2O_RAY_CONNECT_TIMEOUT`` seconds
  (default 10), or Ray does not connect within that time plus ``CONNECT_GRACE``;
- no live node has what a model needs within ``$P2O_RAY_NODE_WAIT`` seconds (default 60;
  nodes that join meanwhile count). If every such node dies during the release, the models
  still waiting become ``error`` records after the same time, so the release ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import shutil
import signal
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2o.core import progress, signals
from p2o.core.errors import EnvironmentProblem, Terminated, UsageError, raise_terminated
from p2o.core.files import remove_tree, temporary_folder
from p2o.core.results import ModelRecord, Status
from p2o.release.plan import ReleaseOptions
from p2o.release.worker import RECORD, WORK, add_gpu_verify, build_model
from p2o.zoo import model_info

Done = Callable[[ModelRecord], None]

EXTRA = "p2o-proof[ray]"  # the extra that brings Ray (pyproject.toml)
PADDLE_RESOURCE = "paddle"  # custom resource of the nodes that have Paddle
PADDLE_AMOUNT = 0.001  # a marker: a node's CPUs and memory bound how many models it runs
GPU_RUNTIMES = frozenset({"ort-cuda", "ort-trt"})
ENV_CPUS = "P2O_RAY_CPUS"
ENV_MEMORY = "P2O_RAY_MEMORY_MB"
ENV_RETRIES = "P2O_RAY_MAX_RETRIES"
ENV_CONNECT = "P2O_RAY_CONNECT_TIMEOUT"
ENV_NODE_WAIT = "P2O_RAY_NODE_WAIT"
CONNECT_GRACE = 20.0  # seconds ray.init may take once the address answered
STOP_SECONDS = 20.0  # how long cancelled tasks get to clean up before they are killed
TMP_PREFIX = "p2o-ray-"  # a task's temporary folder: p2o-ray-<pid>-<random>
HEAD_RESOURCE = "node:__internal_head__"  # Ray's marker of the head node
POLL_SECONDS = 1.0  # how often the driver looks at the tasks (and at Ctrl-C)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"${name} wants a number, got {raw!r}") from None
    if value < 0:
        raise UsageError(f"${name} wants a number >= 0, got {raw!r}")
    return value


def import_ray() -> Any:
    """The ``ray`` module, or one line naming the extra to install (exit 2)."""
    try:
        import ray
    except ImportError:
        raise EnvironmentProblem(
            f"--executor ray needs Ray, which is not installed here: pip install '{EXTRA}'"
        ) from None
    return ray


def needs(name: str, options: ReleaseOptions) -> dict[str, float]:
    """What one model's Paddle step asks of a node, in Ray's resource names."""
    cpus = _env_float(ENV_CPUS, 1.0)
    memory_mb = _env_float(ENV_MEMORY, 0.0) or 600 + 48 * model_info(name).params / 1e6
    return {"CPU": cpus, "memory": round(memory_mb) * 2**20, PADDLE_RESOURCE: PADDLE_AMOUNT}


def gpu_runtimes(options: ReleaseOptions) -> list[str]:
    return [r for r in options.runtimes if r in GPU_RUNTIMES]


def gpu_needs(name: str, options: ReleaseOptions) -> dict[str, float] | None:
    """What one model's GPU step asks of a node (None: no GPU runtime asked for)."""
    if not gpu_runtimes(options):
        return None
    memory_mb = _env_float(ENV_MEMORY, 0.0) or 600 + 24 * model_info(name).params / 1e6
    return {"CPU": _env_float(ENV_CPUS, 1.0), "memory": round(memory_mb) * 2**20, "GPU": 1.0}


def paddle_step(options: ReleaseOptions) -> ReleaseOptions:
    """The options of the Paddle step: the release's, less the GPU runtimes."""
    cpu = tuple(r for r in options.runtimes if r not in GPU_RUNTIMES) or ("ort-cpu",)
    return dataclasses.replace(options, runtimes=cpu)


def _remote_options(need: dict[str, float], retries: int) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "num_cpus": need["CPU"],
        "memory": need["memory"],
        "max_retries": retries,
        "retry_exceptions": False,  # a model's own error is a record, not a retry
    }
    if PADDLE_RESOURCE in need:
        opts["resources"] = {PADDLE_RESOURCE: need[PADDLE_RESOURCE]}
    if "GPU" in need:
        opts["num_gpus"] = need["GPU"]
    return opts


def describe(need: dict[str, float]) -> str:
    parts = [f"{need['CPU']:g} CPU", f"{need['memory'] / 2**30:.1f} GiB memory"]
    if "GPU" in need:
        parts.append(f"{need['GPU']:g} GPU")
    if PADDLE_RESOURCE in need:
        parts.append(f"the '{PADDLE_RESOURCE}' resource")
    return ", ".join(parts)


def fits(resources: dict[str, float], need: dict[str, float]) -> bool:
    """Whether a node with these total resources can ever run a task that needs ``need``."""
    return all(resources.get(k, 0.0) >= v for k, v in need.items())


def node_label(node_id: str, ip: str) -> str:
    return f"{node_id[:8]} ({ip})"


def _split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` / ``ray://host:port``; None for ``auto``/``local``."""
    if address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--ray-address wants HOST:PORT (e.g. 127.0.0.1:6379), got {address!r}")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float) -> None:
    """One TCP connection to the cluster's address; EnvironmentProblem if it does not answer
    (``ray.init`` would retry for minutes)."""
    hostport = _split_address(address)
    if hostport is None:
        return
    try:
        with socket.create_connection(hostport, timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise EnvironmentProblem(
            f"no Ray cluster answers at {address}: {why} (waited up to {timeout:g} s; "
            f"${ENV_CONNECT})"
        ) from None


def connect(ray: Any, address: str | None) -> None:
    """``ray.init`` with a time limit: the given address, else ``$RAY_ADDRESS``, else a Ray
    instance started here (one ``paddle`` node with this machine's CPUs)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    timeout = _env_float(ENV_CONNECT, 10.0)
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        check_reachable(address, timeout)
        host = (_split_address(address) or ("", 0))[0]
        if host in LOOPBACK:  # a cluster on this machine's loopback: stay on it
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        kwargs["address"] = address
    else:
        kwargs.update(resources={PADDLE_RESOURCE: 1}, include_dashboard=False)
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(**kwargs)
        except Exception as exc:
            failure.append(exc)

    # in a thread: a time limit, and Ray's SIGTERM handler (sys.exit) stays off the main thread,
    # where p2o's (cancel the tasks, remove DIST/.work) is
    logging.getLogger("ray._private.worker").addFilter(_NotMainThread())
    thread = threading.Thread(target=init, name="p2o-ray-init", daemon=True)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread.start()
    thread.join(timeout + CONNECT_GRACE)
    # Ray's core installs C-level handlers that print a stack on SIGTERM: put p2o's back
    if threading.current_thread() is threading.main_thread():
        for sig, handler in handlers.items():
            if callable(handler) or handler in (signal.SIG_DFL, signal.SIG_IGN):
                signal.signal(sig, handler)
    where = address or "a Ray instance on this machine"
    if thread.is_alive():
        raise EnvironmentProblem(
            f"Ray did not connect to {where} within {timeout + CONNECT_GRACE:g} s "
            f"(${ENV_CONNECT} + {CONNECT_GRACE:g})"
        )
    if failure:
        text = str(failure[0]).strip().splitlines()
        raise EnvironmentProblem(f"Ray could not connect to {where}: {text[0] if text else ''}")


class _NotMainThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def wait_for_nodes(ray: Any, shapes: dict[str, dict[str, float]], wait: float) -> None:
    """Until a live node fits each model's needs; EnvironmentProblem after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        nodes = _alive_nodes(ray)
        missing = [
            m for m, need in shapes.items() if not any(fits(n["Resources"], need) for n in nodes)
        ]
        if not missing:
            return
        if time.monotonic() >= deadline:
            need = shapes[missing[0]]
            more = f" (and {len(missing) - 1} more models)" if len(missing) > 1 else ""
            short = [
                k for k, v in need.items() if not any(fits(n["Resources"], {k: v}) for n in nodes)
            ]
            hint = ""
            if PADDLE_RESOURCE in short:
                marker = f"'{{\"{PADDLE_RESOURCE}\": 1}}'"
                hint = f"; start Paddle nodes with ray start --resources {marker}"
            lacking = ", ".join(short) or "of all of it at once"
            raise EnvironmentProblem(
                f"no node of the Ray cluster has what {missing[0]}{more} needs: {describe(need)} "
                f"(none has enough {lacking}; waited {wait:g} s, ${ENV_NODE_WAIT}{hint})"
            )
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))


def pack(folder: Path) -> bytes:
    """The folder as an uncompressed tar (sorted, regular files and folders only)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in [folder, *sorted(folder.rglob("*"))]:
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=str(Path(folder.name, path.relative_to(folder))), recursive=False)
    return buf.getvalue()


def unpack(blob: bytes, name: str, into: Path) -> Path:
    """Extract a model's tar under ``into``; every member must sit in ``name/``."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not parts or parts[0] != name or ".." in parts or Path(m.name).is_absolute():
                raise ValueError(f"unexpected path in {name}'s artifacts: {m.name!r}")
            if not (m.isfile() or m.isdir()):
                raise ValueError(f"unexpected member in {name}'s artifacts: {m.name!r}")
            tar.extract(m, into, set_attrs=False)
    folder = into / name
    if not (folder / RECORD).is_file():
        raise ValueError(f"{name}'s artifacts have no {RECORD}")
    return folder


def publish(dist: Path, name: str, blob: bytes) -> None:
    """The model folder into ``DIST/<name>`` by one rename (whole or not at all)."""
    staging = dist / WORK / f"{name}.ray-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        folder = unpack(blob, name, staging)
        final = dist / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)
    finally:
        remove_tree(staging)


def model_task(
    name: str, weights_name: str | None, weights: bytes | None, opts: dict[str, Any], tracker: Any
) -> tuple[dict[str, Any], bytes, str]:
    """A Ray task: one model built in a temporary folder of this node; (record, tar, node)."""
    import warnings

    import ray

    ctx = ray.get_runtime_context()
    node = node_label(ctx.get_node_id(), ray.util.get_node_ip_address())
    tracker.started.remote(name, node)
    warnings.filterwarnings("ignore", message="No ccache found")
    sweep()
    with temporary_folder(f"{TMP_PREFIX}{os.getpid()}-") as tmp:
        wfile = None
        if weights_name is not None and weights is not None:
            wfile = Path(tmp, "weights", weights_name)
            wfile.parent.mkdir()
            wfile.write_bytes(weights)
        dist = Path(tmp, "dist")
        dist.mkdir()
        full = ReleaseOptions.from_key(opts)
        rec = build_model(name, str(wfile) if wfile else None, paddle_step(full), str(dist), full)
        return rec.to_dict(), pack(dist / name), node


def gpu_task(
    name: str, blob: bytes, opts: dict[str, Any], tracker: Any
) -> tuple[dict[str, Any], bytes, str]:
    """A Ray task on a GPU node: the model folder built by the Paddle step, with the GPU
    runtimes' verify rows added (``worker.add_gpu_verify``); (record, tar, node)."""
    import ray

    ctx = ray.get_runtime_context()
    node = node_label(ctx.get_node_id(), ray.util.get_node_ip_address())
    tracker.started.remote(name, node)
    sweep()
    with temporary_folder(f"{TMP_PREFIX}{os.getpid()}-") as tmp:
        folder = unpack(blob, name, Path(tmp))
        options = ReleaseOptions.from_key(opts)
        rec = add_gpu_verify(folder, gpu_runtimes(options), options, node)
        return rec.to_dict(), pack(folder), node


def sweep(tmp: str | None = None) -> list[Path]:
    """Remove the temporary folders of this node's tasks whose process is gone (a worker
    killed with its task: SIGKILL leaves its folder); the folders removed."""
    gone = []
    for d in Path(tmp or tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        pid = d.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
    return gone


class _Tracker:
    """Where each model's task last started (a Ray actor on the driver's node)."""

    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}

    def started(self, name: str, node: str) -> None:
        self.nodes[name] = node

    def snapshot(self) -> dict[str, str]:
        return dict(self.nodes)


@dataclass
class NodeBoard:
    """Tasks pending, running and done per node, as one progress line when it changes."""

    total: int
    started: dict[str, str] = field(default_factory=dict)  # model -> node (latest start)
    finished: dict[str, str] = field(default_factory=dict)  # model -> node ("" if none)
    _last: str = ""

    def text(self) -> str:
        running: dict[str, int] = {}
        done: dict[str, int] = {}
        for model, node in self.started.items():
            if model not in self.finished:
                running[node] = running.get(node, 0) + 1
        for node in self.finished.values():
            if node:
                done[node] = done.get(node, 0) + 1
        pending = self.total - len(self.finished) - sum(running.values())
        per_node = [
            f"{n}: {running.get(n, 0)} running, {done.get(n, 0)} done"
            for n in sorted(set(running) | set(done))
        ]
        return "; ".join([f"ray: {pending} pending", *per_node])

    def show(self) -> None:
        text = self.text()
        if text != self._last:
            self._last = text
            progress.info(text)


def node_error(name: str, node: str | None, exc: BaseException, retries: int) -> ModelRecord:
    where = f"on node {node}" if node else "before it started on any node"
    tries = f"after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else "no retry"
    first = (str(exc).strip().splitlines() or [""])[0]
    return ModelRecord(
        name,
        Status.ERROR,
        f"worker died {where} ({tries}): {type(exc).__name__}: {first}",
        stage="worker",
    )


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Cancel tasks: a KeyboardInterrupt first (temporary folders removed), then kill."""
    for ref in refs:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + STOP_SECONDS
    left = list(refs)
    while left and time.monotonic() < deadline:
        _, left = ray.wait(left, num_returns=len(left), timeout=POLL_SECONDS)
    for ref in left:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished or gone with its node
            pass


def run(
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    done: Done,
    address: str | None = None,
) -> dict[str, ModelRecord]:
    """A record per model of ``todo``; ``done`` is called as each one finishes."""
    if not todo:
        return {}
    ray = import_ray()
    retries = int(_env_float(ENV_RETRIES, 1.0))
    node_wait = _env_float(ENV_NODE_WAIT, 60.0)
    shapes = {name: needs(name, options) for name, _ in todo}
    gpu = {f"{name}'s GPU step": n for name, _ in todo if (n := gpu_needs(name, options))}
    with signals.sigterm_raises(), _sigterm_seen() as seen:
        try:
            connect(ray, address)
            try:
                wait_for_nodes(ray, {**shapes, **gpu}, node_wait)
                return _run(ray, todo, options, dist, done, shapes, retries, node_wait)
            finally:
                ray.shutdown()
        except KeyboardInterrupt as exc:
            # Ray turns the Terminated raised inside its blocking calls into a plain
            # KeyboardInterrupt: say SIGTERM again, so the CLI exits 143
            if seen and not isinstance(exc, Terminated):
                raise Terminated(f"signal {signal.SIGTERM}") from None
            raise


@contextlib.contextmanager
def _sigterm_seen() -> Iterator[list[int]]:
    """Notes each SIGTERM before p2o's handler raises ``Terminated`` (main thread only)."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    old = signal.getsignal(signal.SIGTERM)

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise_terminated(signum, frame)

    signal.signal(signal.SIGTERM, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, old)


def _run(
    ray: Any,
    todo: list[tuple[str, str | None]],
    options: ReleaseOptions,
    dist: Path,
    done: Done,
    shapes: dict[str, dict[str, float]],
    retries: int,
    node_wait: float,
) -> dict[str, ModelRecord]:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # the tracker lives on the head node (the cluster ends with it anyway), not on a worker
    # node that may die; else on the driver's node
    heads = [n["NodeID"] for n in _alive_nodes(ray) if HEAD_RESOURCE in n["Resources"]]
    here = heads[0] if heads else ray.get_runtime_context().get_node_id()
    tracker = (
        ray.remote(_Tracker)
        .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True))
        .remote()
    )
    task = ray.remote(max_calls=1)(model_task)  # a fresh worker process per model
    gtask = ray.remote(max_calls=1)(gpu_task)
    with_gpu = bool(gpu_runtimes(options))
    opts = options.key()
    refs: dict[Any, tuple[str, str]] = {}  # a task → (model, step: "paddle" or "gpu")
    need_of: dict[Any, dict[str, float]] = {}
    for name, weights in todo:
        blob = ray.put(Path(weights).read_bytes()) if weights else None
        wname = Path(weights).name if weights else None
        ref = task.options(**_remote_options(shapes[name], retries)).remote(
            name, wname, blob, opts, tracker
        )
        refs[ref], need_of[ref] = (name, "paddle"), shapes[name]
    board = NodeBoard(len(todo))
    records: dict[str, ModelRecord] = {}
    stranded_since: float | None = None
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_SECONDS)
            try:
                board.started.update(ray.get(tracker.snapshot.remote(), timeout=30))
            except ray.exceptions.RayError:  # progress only: the release goes on without it
                pass
            for ref in ready:
                name, step = refs.pop(ref)
                need_of.pop(ref)
                node = board.started.get(name, "")
                try:
                    rec_dict, blob, node = ray.get(ref)
                    rec = ModelRecord.from_dict(rec_dict)
                    if step == "paddle" and with_gpu:  # its GPU step next, on a GPU node
                        gneed = gpu_needs(name, options) or {}
                        gref = gtask.options(**_remote_options(gneed, retries)).remote(
                            name, blob, opts, tracker
                        )
                        refs[gref], need_of[gref] = (name, "gpu"), gneed
                        continue
                    publish(dist, name, blob)
                except ray.exceptions.RayTaskError as exc:  # raised inside the task
                    rec = ModelRecord(
                        name,
                        Status.ERROR,
                        f"task on node {node} raised: {exc.cause!r}",
                        stage="worker",
                    )
                except ray.exceptions.RayError as exc:  # its worker or node died, retries spent
                    rec = node_error(name, node or None, exc, retries)
                except (OSError, ValueError, tarfile.TarError) as exc:
                    rec = ModelRecord(
                        name,
                        Status.ERROR,
                        f"artifacts from node {node} unusable: {exc}",
                        stage="worker",
                    )
                records[name] = rec
                board.finished[name] = node
                done(rec)
            board.show()
            # a model that no live node can run any more (its nodes died) ends as an error
            nodes = _alive_nodes(ray)
            stranded = [r for r in refs if not any(fits(x["Resources"], need_of[r]) for x in nodes)]
            if not stranded:
                stranded_since = None
            elif stranded_since is None:
                stranded_since = time.monotonic()
            elif time.monotonic() - stranded_since >= node_wait:
                _cancel(ray, stranded)
                for ref in stranded:
                    (name, step), need = refs.pop(ref), need_of.pop(ref)
                    records[name] = ModelRecord(
                        name,
                        Status.ERROR,
                        f"no live node has what its {step} step needs any more: {describe(need)} "
                        f"(waited {node_wait:g} s, ${ENV_NODE_WAIT})",
                        stage="worker",
                    )
                    board.finished[name] = ""
                    done(records[name])
    except BaseException:
        _cancel(ray, list(refs))
        shutil.rmtree(dist / WORK, ignore_errors=True)
        raise
    return records
