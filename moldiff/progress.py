"""Progress bars in the units people count (molecules, designs, complexes, poses).

A sampler works on a batch of molecules for many steps; a bar that counts batches shows
``0/2`` for minutes. :class:`Progress` counts molecules and advances *within* a batch, by
``batch / steps`` per network call, so the rate and the time left are right from the first
seconds::

    with Progress(100, "sampling", "mol", enabled=True) as bar:
        for chunk in chunks:
            run(chunk, callback=bar.steps(len(chunk), steps))   # advances len(chunk) in all
"""
from __future__ import annotations

import sys

#: the bar: whole units done / total, rate and time left in the same units
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {done}/{total:.0f} {unit} [{elapsed}<{remaining}, {rate_fmt}]"


def _bar_class():
    """tqdm (the notebook widget in Jupyter) whose ``{done}`` is the count of *whole* units done:
    within a batch the bar moves by fractions, and 0.6 of a molecule is not one."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        @property
        def format_dict(self):
            d = super().format_dict
            d["done"] = int(d["n"] + 1e-6)
            return d

    return Bar


class Progress:
    """A bar over ``total`` units (``unit``: ``"mol"``, ``"design"``, ``"complex"``, ...).

    ``enabled=False`` (or ``None`` off a terminal, as tqdm's ``disable=None``) makes every call a
    no-op, so callers need no branches. Output goes to stderr.
    """

    def __init__(self, total: int, desc: str, unit: str, *, enabled: bool | None = True, leave: bool = True):
        self.total = total
        self._done = 0.0
        self._bar = None
        if enabled or enabled is None:
            self._bar = _bar_class()(total=total, desc=desc, unit=unit, bar_format=BAR_FORMAT, file=sys.stderr,
                             leave=leave, disable=None if enabled is None else False, dynamic_ncols=True)

    def update(self, amount: float = 1.0) -> None:
        """``amount`` more units done (fractions allowed; never past ``total``)."""
        amount = min(amount, self.total - self._done)
        if amount > 0:
            self._done += amount
            if self._bar is not None:
                self._bar.update(amount)

    def steps(self, size: int, steps: int, user_callback=None):
        """A per-step callback for a sampler working on ``size`` units in ``steps`` calls: each
        call advances ``size / steps`` (then calls ``user_callback`` with the same arguments).
        Call :meth:`finish_batch` after the batch to land on a whole number."""
        start = self._done
        self._batch_end = start + size
        if self._bar is None and user_callback is None:
            return None  # nothing to show or call: samplers skip the per-step work for a callback

        def callback(*args, **kwargs):
            self.update(size / steps)
            if user_callback is not None:
                user_callback(*args, **kwargs)

        return callback

    def finish_batch(self) -> None:
        """Complete the batch started by :meth:`steps` (rounding, or a sampler with fewer calls)."""
        end = getattr(self, "_batch_end", None)
        if end is not None:
            self.update(end - self._done)
            self._batch_end = None

    def set_postfix(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_iter(items, desc: str, unit: str, *, enabled: bool | None = True, total: int | None = None,
                  leave: bool = True):
    """Iterate ``items`` under a :class:`Progress` bar that advances one unit per item."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None
    if enabled is False or total is None:
        yield from items
        return
    with Progress(total, desc, unit, enabled=enabled, leave=leave) as bar:
        for item in items:
            yield item
            bar.update(1)
