"""One-off builds spread over processes (QM9 bond tables and novelty SMILES, drug-like conformers).

Spawned, not forked: each process starts a fresh interpreter, so no torch or RDKit state of the
parent (threads, locks) is copied into it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator


def default_workers(limit: int = 8) -> int:
    """A process per core, at most ``limit``."""
    return max(1, min(os.cpu_count() or 1, limit))


def ordered_map(fn: Callable, items: Iterable, workers: int, *, chunksize: int = 1) -> Iterator:
    """``fn`` over ``items``, results in order: in ``workers`` spawned processes (``fn`` a
    module-level function, items and results picklable), or in this process for one worker."""
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(fn, items, chunksize=chunksize)
    else:
        yield from map(fn, items)
