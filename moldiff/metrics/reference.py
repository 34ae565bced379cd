"""Reference SMILES sets for novelty."""
from __future__ import annotations

import logging
from pathlib import Path

from moldiff.errors import InputError
from moldiff.paths import atomic_path, cache_dir

log = logging.getLogger(__name__)
_PROTOCOL_VERSION = 2


def qm9_train_smiles(*, progress: bool = False, cache: str | Path | None = None) -> set[str]:
    """Canonical SMILES of the QM9 training split, as EDM computes them for novelty.

    Bonds are inferred from the DFT geometries by the same bond-length protocol that
    scores generated molecules (so a generated copy of a training molecule is never
    "novel" merely because the two SMILES routes disagree). Cached after the first call.
    """
    from moldiff.data.qm9 import qm9_molecules
    from moldiff.metrics.evaluate import assess_all

    root = Path(cache) if cache else cache_dir()
    path = root / f"qm9_train_smiles_v{_PROTOCOL_VERSION}.txt"
    if path.is_file():
        return set(path.read_text().split())
    log.info("computing QM9 training-split SMILES for novelty (once; cached in %s)", path)
    rows = assess_all(qm9_molecules("train", cache=cache), "table", progress=progress)
    smiles = sorted({r.smiles for r in rows if r.smiles})
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(smiles) + "\n")
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
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        mol = Chem.MolFromSmiles(line.split()[0])
        if mol is None:
            raise InputError(f"{path}: line {lineno}: unparsable SMILES {line.split()[0]!r}")
        out.add(Chem.MolToSmiles(mol))
    if not out:
        raise InputError(f"{path}: no SMILES in reference file")
    return out
