"""Where moldiff looks for data and keeps its cache.

No path is hard-coded in library code: the cache directory comes from
``MOLDIFF_CACHE`` (or the platform's user cache dir) and the shared data folder
from ``MOLDIFF_DATA``. Nothing is created at import time.
"""
from __future__ import annotations

import os
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
