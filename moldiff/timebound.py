"""Per-item time bounds for external steps that can spin (PoseBusters, Vina minimisation).

PoseBusters' energy-ratio check embeds 50 conformers per molecule and can run for many
minutes on a cage-like design; RDKit and Vina cannot be interrupted from Python. So each item
runs in a forked worker process that is killed when it overruns; the item is recorded as
:data:`TIMED_OUT` and the run goes on (a fresh worker takes the next item)::

    results = map_bounded(check_one, mols, seconds=60)   # TIMED_OUT where one took longer

Where ``fork`` is not available (Windows; macOS defaults to spawn) the items run in this
process without a bound, and a warning says so once.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os

log = logging.getLogger(__name__)

#: default seconds per molecule for every bounded step
DEFAULT_SECONDS = 60.0


class _TimedOut:
    """The result of an item that overran its bound (a singleton, falsy)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "TIMED_OUT"

    def __reduce__(self):
        return (_TimedOut, ())


TIMED_OUT = _TimedOut()


def _serve(fn, conn) -> None:  # in the worker: one item in, one result out, until None
    while True:
        item = conn.recv()
        if item is None:
            return
        try:
            conn.send(("ok", fn(item)))
        except Exception as exc:  # noqa: BLE001 -- reported to the parent, which decides
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, fn, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(fn, child), daemon=True)
        self.proc.start()
        child.close()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def map_bounded(fn, items, *, seconds: float | None = DEFAULT_SECONDS, progress=None) -> list:
    """``[fn(x) for x in items]``, each call given at most ``seconds`` (``None`` or 0: no bound,
    in this process). An overrun gives :data:`TIMED_OUT`; an exception in ``fn`` is raised here
    as ``RuntimeError`` with its message. ``progress``: a callable called after each item."""
    items = list(items)
    ctx = _fork_context() if seconds else None
    if ctx is None:
        out = []
        for x in items:
            out.append(fn(x))
            if progress is not None:
                progress()
        return out
    out, worker = [], None
    try:
        for x in items:
            if worker is None:
                worker = _Worker(fn, ctx)
            worker.conn.send(x)
            if worker.conn.poll(seconds):
                try:
                    status, value = worker.conn.recv()
                except EOFError:  # the worker died (a crash inside a C library)
                    worker.stop(kill=True)
                    worker = None
                    raise RuntimeError("the worker process ended without a result") from None
                if status == "error":
                    raise RuntimeError(value)
                out.append(value)
            else:
                worker.stop(kill=True)
                worker = None
                out.append(TIMED_OUT)
            if progress is not None:
                progress()
    finally:
        if worker is not None:
            worker.stop()
    return out


_warned = False


def _fork_context():
    global _warned
    if "fork" in mp.get_all_start_methods() and os.name == "posix":
        return mp.get_context("fork")
    if not _warned:
        log.warning("no fork start method here: PoseBusters and Vina steps run without a time bound")
        _warned = True
    return None
