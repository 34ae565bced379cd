"""Whether a molecule is chemistry RDKit accepts, recorded on the molecule itself."""
from __future__ import annotations


def mark_validity(mol):
    """``mol`` sanitised (a copy) where RDKit accepts it, else ``mol`` itself, with the outcome as
    SD properties: ``moldiff_valid`` (1/0) and ``moldiff_radical_electrons`` (unpaired electrons
    as written, explicit hydrogens only; 0 for a molecule that is not valid)."""
    from rdkit import Chem, rdBase

    trial = Chem.Mol(mol)
    try:
        with rdBase.BlockLogs():
            Chem.SanitizeMol(trial)
    except Exception:  # noqa: BLE001 -- RDKit's sanitisation errors are the invalid molecules
        mol.SetIntProp("moldiff_valid", 0)
        mol.SetIntProp("moldiff_radical_electrons", 0)
        return mol
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    trial.SetProp("_Name", name)
    for key, value in mol.GetPropsAsDict(includePrivate=False).items():
        setter = (trial.SetBoolProp if isinstance(value, bool) else trial.SetIntProp if isinstance(value, int)
                  else trial.SetDoubleProp if isinstance(value, float) else None)
        setter(key, value) if setter else trial.SetProp(key, str(value))
    trial.SetIntProp("moldiff_valid", 1)
    trial.SetIntProp("moldiff_radical_electrons", sum(a.GetNumRadicalElectrons() for a in trial.GetAtoms()))
    return trial


def valid_only(mols: list, return_invalid: bool) -> list:
    """``mols`` with ``None`` in place of failures and (unless ``return_invalid``) invalid molecules."""
    return [m if m is not None and (return_invalid or m.GetIntProp("moldiff_valid")) else None for m in mols]
