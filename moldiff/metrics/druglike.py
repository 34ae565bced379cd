"""Drug-likeness descriptors: QED, SA score, logP, Lipinski's rule of five."""
from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, QED


def _sascorer():
    from rdkit.Contrib.SA_Score import sascorer  # RDKit Contrib (Ertl & Schuffenhauer 2009)

    return sascorer


def lipinski_violations(mol: Chem.Mol) -> int:
    """Number of violated rules of five (MW <= 500, logP <= 5, HBD <= 5, HBA <= 10)."""
    return int(
        (Descriptors.MolWt(mol) > 500)
        + (Crippen.MolLogP(mol) > 5)
        + (Lipinski.NumHDonors(mol) > 5)
        + (Lipinski.NumHAcceptors(mol) > 10)
    )


def druglike_properties(mol: Chem.Mol) -> dict[str, float]:
    """QED, SA score (1 easy .. 10 hard), Crippen logP and Lipinski violations of a sanitised molecule."""
    mol = Chem.RemoveHs(mol)
    return {
        "qed": float(QED.qed(mol)),
        "sa": float(_sascorer().calculateScore(mol)),
        "logp": float(Crippen.MolLogP(mol)),
        "lipinski_violations": float(lipinski_violations(mol)),
    }


def summarise_druglike(mols: list[Chem.Mol]) -> dict[str, float]:
    """Means over valid molecules plus the share passing Lipinski (<= 1 violation)."""
    if not mols:
        return {"qed": float("nan"), "sa": float("nan"), "logp": float("nan"), "lipinski": float("nan")}
    rows = [druglike_properties(m) for m in mols]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("qed", "sa", "logp")}
    mean["lipinski"] = float(np.mean([r["lipinski_violations"] <= 1 for r in rows]))
    return mean
