"""Ctrl-C inside RDKit calls that catch it themselves.

RDKit's conformer embedding installs its own SIGINT handler while it runs: a Ctrl-C
stops the embedding, which returns *fewer or no conformers* as if nothing happened
(it only logs "Interrupted, cancelling conformer generation"). A docking run would then
go on with other conformers and record a different result. :func:`rdkit_interruptible`
turns that into the :class:`KeyboardInterrupt` Python would have raised.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import rdBase

#: what RDKit logs (warning level) when its handler caught a Ctrl-C
INTERRUPT_MESSAGE = "Interrupted, cancelling"


def _default_rdkit_logging() -> None:
    """RDKit's own start-up choice: Python's stderr in a Jupyter kernel, C++ streams elsewhere."""
    try:
        shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 -- defined inside IPython only
        jupyter = type(shell).__name__ == "ZMQInteractiveShell" or type(shell).__module__ == "google.colab._shell"
    except NameError:
        jupyter = False
    if jupyter:
        rdBase.LogToPythonStderr()
    else:
        rdBase.LogToCppStreams()


class _Catch(logging.Filter):
    """Swallows every RDKit message (as ``rdBase.BlockLogs``) and notes an interrupt."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if INTERRUPT_MESSAGE in record.getMessage():
            self.interrupted = True
        return False


@contextmanager
def rdkit_interruptible() -> Iterator[None]:
    """Run RDKit code silently (its log messages are dropped, as under ``BlockLogs``) and raise
    :class:`KeyboardInterrupt` after it if RDKit caught and swallowed a Ctrl-C meanwhile.

    RDKit's messages are routed through Python's ``logging`` (logger ``rdkit``) for the
    duration, then back to RDKit's default destination.
    """
    logger = logging.getLogger("rdkit")
    catch = _Catch()
    level = logger.level
    logger.addFilter(catch)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    rdBase.LogToPythonLogger()
    try:
        yield
    finally:
        _default_rdkit_logging()
        logger.removeFilter(catch)
        logger.setLevel(level)
    if catch.interrupted:
        raise KeyboardInterrupt
