"""Reference SMILES sets for novelty."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from moldiff.errors import InputError
from moldiff.paths import atomic_path, cache_dir, read_text

log = logging.getLogger(__name__)
_PROTOCOL_VERSION = 3  # 3: the file carries its count and SHA-256


def _read_smiles_cache(path: Path) -> set[str] | None:
    """The SMILES of a cache file written by :func:`_write_smiles_cache`, or ``None`` (with a
    warning) when its header's count or SHA-256 does not match the lines (truncated, edited)."""
    try:
        header, _, body = path.read_text(encoding="utf-8").partition("\n")
        fields = dict(item.split("=", 1) for item in header.removeprefix("# moldiff smiles ").split())
        if not header.startswith("# moldiff smiles ") or int(fields["count"]) != body.count("\n"):
            raise ValueError("count")
        if hashlib.sha256(body.encode()).hexdigest() != fields["sha256"]:
            raise ValueError("checksum")
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
        log.warning("%s: damaged SMILES cache (%s does not match); rebuilding", path, exc)
        return None
    return set(body.split())


def _write_smiles_cache(smiles: list[str], path: Path) -> None:
    body = "".join(s + "\n" for s in smiles)
    digest = hashlib.sha256(body.encode()).hexdigest()
    with atomic_path(path) as tmp:
        tmp.write_text(f"# moldiff smiles count={len(smiles)} sha256={digest}\n{body}", encoding="utf-8")


def _smiles_of(molecules) -> list[str | None]:
    from moldiff.metrics.evaluate import edm_smiles

    return [edm_smiles(m) for m in molecules]


def qm9_train_smiles(*, progress: bool = False, cache: str | Path | None = None) -> set[str]:
    """Canonical SMILES of the QM9 training split, as EDM computes them for novelty.

    Bonds are inferred from the DFT geometries by the same bond-length protocol that
    scores generated molecules (so a generated copy of a training molecule is never
    "novel" merely because the two SMILES routes disagree). Cached after the first call;
    the cache file carries its line count and SHA-256, and a file that does not match them
    (truncated, edited) is rebuilt, never used.
    """
    from moldiff.data.qm9 import qm9_molecules
    from moldiff.parallel import default_workers, ordered_map
    from moldiff.progress import Progress

    root = Path(cache) if cache else cache_dir()
    path = root / f"qm9_train_smiles_v{_PROTOCOL_VERSION}.txt"
    if path.is_file():
        stored = _read_smiles_cache(path)
        if stored is not None:
            return stored
    molecules = list(qm9_molecules("train", cache=cache))
    workers = default_workers()
    log.info("computing QM9 training-split SMILES for novelty (once; %d processes; cached in %s)", workers, path)
    chunks = [molecules[k:k + 2000] for k in range(0, len(molecules), 2000)]
    parts = []
    with Progress(len(molecules), "QM9 SMILES", "mol", enabled=None if progress else False, leave=False) as bar:
        for part in ordered_map(_smiles_of, chunks, workers):
            parts.append(part)
            bar.update(len(part))
    smiles = sorted({s for part in parts for s in part if s})
    root.mkdir(parents=True, exist_ok=True)
    _write_smiles_cache(smiles, path)
    return set(smiles)


def reference_smiles(reference: str | Path, *, progress: bool = False) -> set[str]:
    """A reference set by name (``"qm9"``) or from a file of SMILES (first column per line).

    SMILES from a file are canonicalised by RDKit; unparsable lines raise InputError.
    """
    if str(reference).lower() == "qm9":
        return qm9_train_smiles(progress=progress)
    from rdkit import Chem

    path = Path(reference)
    if not path.is_file():
        raise InputError(f"{path}: reference must be 'qm9' or an existing SMILES file")
    from rdkit import rdBase

    lines = read_text(path, "SMILES file").splitlines()
    out = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        with rdBase.BlockLogs():  # RDKit's parse report; the error below names the line
            mol = Chem.MolFromSmiles(line.split()[0])
        if mol is None:
            raise InputError(f"{path}: line {lineno}: unparsable SMILES {line.split()[0]!r}")
        out.add(Chem.MolToSmiles(mol))
    if not out:
        raise InputError(f"{path}: no SMILES in reference file")
    return out
