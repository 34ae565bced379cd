"""Where moldiff looks for data and keeps its cache.

No path is hard-coded in library code: the cache directory comes from
``MOLDIFF_CACHE`` (or the platform's user cache dir) and the shared data folder
from ``MOLDIFF_DATA``. Nothing is created at import time.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """Return the cache directory (created on first use, not at import).

    ``MOLDIFF_CACHE`` wins; otherwise the platform's user cache dir for ``moldiff``.
    """
    env = os.environ.get("MOLDIFF_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("moldiff"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """Return the folder of shared structure data (``MOLDIFF_DATA``), or None if unset."""
    env = os.environ.get("MOLDIFF_DATA")
    return Path(env).expanduser() if env else None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched, so an
    interrupted write never leaves a half-written file. Permissions follow the umask.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_writable(path: str | Path) -> None:
    """Raise :class:`~moldiff.errors.InputError` unless a file can be written at ``path``.

    Called before long work, so a bad output path fails in a second, not after an hour.
    """
    from moldiff.errors import InputError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{path}: output folder {folder} is not writable")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")


def write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically (:func:`atomic_path`)."""
    import json

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
