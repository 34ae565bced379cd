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


def data_path(given: str | Path | None, default: str, key: str) -> Path:
    """A data path named in a config (``data.root``, ``data.smiles``): absolute paths (and
    ``~``) as given; paths starting ``./`` or ``../`` against the working directory; any other
    relative path -- and ``default`` when none is given -- against the data root
    (``MOLDIFF_DATA``), so a config reads the same data from any folder it is run in.

    Raises:
        InputError: the path needs the data root and ``MOLDIFF_DATA`` is not set.
    """
    from moldiff.errors import InputError

    text = str(given) if given not in (None, "") else default
    path = Path(text).expanduser()
    if path.is_absolute() or text.startswith(("./", "../")):
        return path
    root = data_dir()
    if root is None:
        raise InputError(f"{key}: {text!r} is read against the data root, and MOLDIFF_DATA is not set; "
                         f"set MOLDIFF_DATA=/path/to/data or give {key} as an absolute path")
    return root / path


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched, so an
    interrupted write never leaves a half-written file. Permissions follow the umask.
    A failure to create, write or rename the file (a full disk, a read-only folder)
    raises :class:`~moldiff.errors.InputError` naming ``path``.
    """
    from moldiff.errors import InputError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({_os_reason(exc)})") from None
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None or Path(exc.filename) in (Path(tmp), path):
            raise InputError(f"{path}: cannot write ({_os_reason(exc)})") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _probe_folder(folder: Path, what: str) -> None:
    """Create and remove a file in ``folder``: ``os.access`` says yes to root on read-only
    mounts and special file systems, where only trying tells."""
    from moldiff.errors import InputError

    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".moldiff-probe.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{what}: folder {folder} is not writable ({_os_reason(exc)})") from None
    os.close(fd)
    os.unlink(tmp)


def check_writable(path: str | Path) -> None:
    """Raise :class:`~moldiff.errors.InputError` unless a file can be written at ``path``.

    Called before long work, so a bad output path fails in a second, not after an hour.
    The folder is tried by creating (and removing) a file in it.
    """
    from moldiff.errors import InputError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: output folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: exists and is not a regular file")
    _probe_folder(folder, str(path))


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Check, without creating anything, that ``path`` is or can become a writable folder:
    it is an existing folder (tried by writing a file), or it does not exist and its nearest
    existing parent is a writable folder. Returns ``path``.

    Raises :class:`~moldiff.errors.InputError` for an existing file, a parent that is a file,
    or a folder that cannot be written.
    """
    from moldiff.errors import InputError

    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{path}: the {what} is an existing file, not a folder")
        _probe_folder(path, f"{path} ({what})")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{path}: cannot create the {what}: {parent} is a file, not a folder")
    _probe_folder(parent, f"{path} ({what})")
    return path


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; :class:`~moldiff.errors.InputError` naming the file for a
    binary (non-UTF-8) file or one that cannot be read."""
    from moldiff.errors import InputError

    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text (UTF-8) file, byte {exc.start} cannot be decoded") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically (:func:`atomic_path`)."""
    import json

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
