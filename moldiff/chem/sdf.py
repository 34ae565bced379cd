"""SDF input and output that keeps hydrogens, formal charges, coordinates and properties.

Reading is record by record, so one malformed record in a large file is reported
(with its record number and line) rather than aborting the whole file; writing is
atomic (a temporary file renamed into place), so an interrupted run never leaves a
half-written SDF behind.
"""
from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rdkit import Chem, rdBase

from moldiff.errors import InputError
from moldiff.paths import atomic_path, check_writable

log = logging.getLogger(__name__)
_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")


@dataclass
class SDFRecords:
    """The result of :func:`read_sdf`.

    Attributes:
        path: the file read.
        mols: one entry per record, ``None`` where the record was malformed.
        errors: ``(record_number, message)`` for each malformed record (1-based).
    """

    path: Path
    mols: list[Chem.Mol | None] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.mols)


class _NoCapture:
    """Stand-in for ``rdBase.CaptureErrorLog`` on RDKit releases without it."""

    messages = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_capture_errors = getattr(rdBase, "CaptureErrorLog", _NoCapture)


def _summarise_rdkit_errors(text: str) -> str:
    """The first informative line of RDKit's error log (timestamps and stack traces dropped)."""
    lines = [_STAMP.sub("", line).strip() for line in text.splitlines()]
    lines = [x for x in lines if x and not x.startswith(("*", "-")) and not re.match(r"^\d+#", x)]
    lines = [x for x in lines if "moving to the beginning" not in x and "Violation" not in x and len(x) < 200]
    picked = next((x for x in lines if x.startswith("ERROR:")), lines[-1] if lines else "")
    return picked.removeprefix("ERROR:").strip() or "not a valid molfile record"


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_sdf_blocks(path: str | Path) -> Iterator[tuple[int, int, str]]:
    """Yield ``(record_number, first_line, text)`` for each ``$$$$``-terminated record.

    A final record without ``$$$$`` is yielded too; blank trailing text is not.
    """
    path = Path(path)
    record, start, lines = 1, 1, []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.rstrip("\r\n") == "$$$$":
                yield record, start, "".join(lines) + "$$$$\n"
                record, start, lines = record + 1, lineno + 1, []
            else:
                lines.append(line)
    if "".join(lines).strip():
        yield record, start, "".join(lines)


def _parse_block(text: str, *, sanitize: bool, remove_hs: bool) -> Chem.Mol | None:
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, sanitize=sanitize, removeHs=remove_hs, strictParsing=True)
    return supplier[0] if len(supplier) else None


def read_sdf(
    path: str | Path,
    *,
    sanitize: bool = False,
    remove_hs: bool = False,
    strict: bool = False,
    allowed_elements: Iterable[str] | None = None,
) -> SDFRecords:
    """Read every record of an SDF (``.sdf`` or ``.sdf.gz``).

    Args:
        path: the file.
        sanitize: run RDKit sanitisation (a record that fails it counts as malformed).
            Off by default: evaluation must see generated structures as written.
        remove_hs: drop hydrogens (off by default; hydrogens are kept).
        strict: raise on the first malformed record instead of recording it.
        allowed_elements: if given, any other element raises :class:`InputError`
            naming the record (dummy atoms ``*``/``R`` count as unsupported).

    Raises:
        InputError: the file is missing, unreadable or empty, no record could be read,
            a record holds an unsupported element, or (``strict``) a record is malformed.
            The message starts with the file name and names the record.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    allowed = set(allowed_elements) if allowed_elements is not None else None
    out = SDFRecords(path)
    try:
        with rdBase.BlockLogs():  # RDKit's warnings would go to stderr; errors are captured below
            for number, first_line, text in iter_sdf_blocks(path):
                with _capture_errors() as capture:
                    mol = _parse_block(text, sanitize=sanitize, remove_hs=remove_hs)
                problem = None
                if mol is not None and mol.GetNumAtoms() == 0:
                    mol, problem = None, "no atoms (an empty record)"
                if mol is None:
                    problem = problem or _summarise_rdkit_errors(capture.messages)
                    reason = f"record {number} (line {first_line}): {problem}"
                    if strict:
                        raise InputError(f"{path}: {reason}")
                    out.errors.append((number, reason))
                elif allowed is not None:
                    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - allowed)
                    if bad:
                        raise InputError(
                            f"{path}: record {number} (line {first_line}): unsupported element(s) "
                            f"{', '.join(bad)}; supported: {', '.join(sorted(allowed))}"
                        )
                out.mols.append(mol)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot read file ({exc})") from exc
    if not out.mols:
        raise InputError(f"{path}: empty file, no SDF records")
    if len(out.errors) == len(out.mols):
        raise InputError(f"{path}: no readable molecule; first problem: {out.errors[0][1]}")
    for _, reason in out.errors[:20]:
        log.warning("%s: %s; counted as invalid", path, reason)
    if len(out.errors) > 20:
        log.warning("%s: %d more malformed records", path, len(out.errors) - 20)
    return out


def write_sdf(mols: Iterable[Chem.Mol], path: str | Path, *, kekulize: bool = False) -> int:
    """Write molecules (3D conformer, hydrogens, formal charges, properties) atomically.

    The file appears only once every record is written; on error nothing is left.

    Args:
        mols: RDKit molecules, each with a conformer.
        path: output ``.sdf`` file (its folder must exist).
        kekulize: write Kekulé bond orders (requires sanitised, kekulisable molecules).

    Returns:
        The number of records written.

    Raises:
        InputError: the folder does not exist or is not writable.
    """
    path = Path(path)
    check_writable(path)
    count = 0
    with atomic_path(path) as tmp:
        writer = Chem.SDWriter(str(tmp))
        writer.SetKekulize(kekulize)
        try:
            for mol in mols:
                if mol.GetNumConformers() == 0:
                    raise ValueError(f"molecule {count + 1} has no 3D conformer")
                writer.write(mol)
                count += 1
        finally:
            writer.close()
    return count
