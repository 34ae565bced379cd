"""Ligand poses: input preparation, RDKit conformers, fitting a conformer onto generated
coordinates, moving coordinates between molecules, symmetry-corrected RMSD.

The generated coordinates of a docking run are a *placement* (where each heavy atom
sits); the returned pose is always an RDKit conformer of the input graph fitted onto
them, so bond lengths, angles, ring planarity and stereochemistry are those of the
input molecule (ETKDGv3 + MMFF94), never the network's.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, rdMolAlign

from moldiff.checks import rdkit_seed
from moldiff.errors import InputError
from moldiff.geometry import superpose


def prepare_ligand(mol: Chem.Mol, elements, *, where: str = "ligand") -> Chem.Mol:
    """The input ligand as a molecule with explicit hydrogens and **no coordinates**.

    Input coordinates are dropped here, so a crystal pose can never leak into a
    prediction. Raises :class:`InputError` for elements outside ``elements`` (the
    model's heavy-atom vocabulary) or a molecule without heavy atoms.
    """
    heavy = Chem.RemoveAllHs(mol)
    if heavy.GetNumAtoms() < 2:
        raise InputError(f"{where}: a ligand needs at least 2 heavy atoms, got {heavy.GetNumAtoms()}")
    unknown = sorted({a.GetSymbol() for a in heavy.GetAtoms()} - set(elements))
    if unknown:
        raise InputError(f"{where}: element(s) {', '.join(unknown)} not supported "
                         f"(the docking model knows {', '.join(elements)})")
    if len(Chem.GetMolFrags(heavy)) > 1:
        raise InputError(f"{where}: the ligand has {len(Chem.GetMolFrags(heavy))} disconnected fragments "
                         "(dock one molecule at a time; strip salts and counter-ions)")
    out = Chem.AddHs(heavy)
    out.RemoveAllConformers()
    return out


#: seconds RDKit may spend embedding one ligand's conformers
EMBED_SECONDS = 60


def embed_conformers(mol: Chem.Mol, n: int, *, seed: int = 0, optimize: bool = True,
                     where: str = "ligand") -> Chem.Mol:
    """``mol`` (with hydrogens) with up to ``n`` seeded ETKDGv3 conformers (MMFF94-relaxed
    when parameters exist). Raises :class:`InputError` when RDKit cannot embed it."""
    from moldiff.chem.interrupt import rdkit_interruptible

    out = Chem.Mol(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.pruneRmsThresh = 0.3
    params.numThreads = 1
    params.timeout = EMBED_SECONDS  # RDKit's own bound on the embedding (some ring systems spin)
    # a Ctrl-C that RDKit's embedding catches (it returns fewer conformers) is raised, not lost
    with rdkit_interruptible():
        ids = list(AllChem.EmbedMultipleConfs(out, numConfs=n, params=params))
    with rdkit_interruptible():
        if not ids:
            params.useRandomCoords = True
            ids = list(AllChem.EmbedMultipleConfs(out, numConfs=n, params=params))
    with rdBase.BlockLogs():
        if not ids:
            raise InputError(f"{where}: RDKit could not generate a 3D conformer for this ligand "
                             f"(within {EMBED_SECONDS} s)")
        if optimize and AllChem.MMFFHasAllMoleculeParams(out):
            AllChem.MMFFOptimizeMoleculeConfs(out, numThreads=1, maxIters=500)
    return out


def with_coordinates(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    """A copy of ``mol`` (one conformer) with its atoms at ``pos`` (A, 3)."""
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for j, xyz in enumerate(np.asarray(pos, dtype=float)):
        conf.SetAtomPosition(j, xyz.tolist())
    return out


def heavy_indices(mol: Chem.Mol) -> list[int]:
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]


def fit_conformer(mol: Chem.Mol, target: np.ndarray) -> tuple[Chem.Mol, float]:
    """The conformer of ``mol`` (all of its conformers are tried) whose heavy atoms best
    superpose onto ``target`` (heavy atoms in ``mol``'s heavy-atom order), superposed.

    Returns ``(pose with one conformer, hydrogens included; heavy-atom fit RMSD in Å)``.
    """
    heavy = heavy_indices(mol)
    best = None
    for conf in mol.GetConformers():
        moved, rmsd = superpose(conf.GetPositions(), target, heavy)
        if best is None or rmsd < best[0]:
            best = (rmsd, moved)
    pose = Chem.Mol(mol)
    pose.RemoveAllConformers()
    conf = Chem.Conformer(mol.GetNumAtoms())
    for k, xyz in enumerate(best[1]):
        conf.SetAtomPosition(k, xyz.tolist())
    conf.Set3D(True)
    pose.AddConformer(conf, assignId=True)
    return pose, best[0]


def with_heavy_coordinates(mol: Chem.Mol, source: Chem.Mol, conf_id: int = -1) -> Chem.Mol | None:
    """``mol`` (the input graph) with the heavy-atom coordinates of ``source`` (the same
    molecule in another atom order, e.g. read back from PDBQT) and hydrogens placed on
    them; ``None`` if the two heavy-atom graphs do not match."""
    heavy, src = _heavy(mol), _heavy(source)
    match = src.GetSubstructMatch(heavy, useChirality=False)
    if len(match) != heavy.GetNumAtoms():
        match = _element_graph(src).GetSubstructMatch(_element_graph(heavy))
    if len(match) != heavy.GetNumAtoms():
        return None
    pos = src.GetConformer(conf_id).GetPositions()
    conf = Chem.Conformer(heavy.GetNumAtoms())
    for k, j in enumerate(match):
        conf.SetAtomPosition(k, pos[j].tolist())
    conf.Set3D(True)
    heavy.RemoveAllConformers()
    heavy.AddConformer(conf, assignId=True)
    with rdBase.BlockLogs():
        Chem.SanitizeMol(heavy)
        return Chem.AddHs(heavy, addCoords=True)


def _element_graph(mol: Chem.Mol) -> Chem.Mol:
    """Heavy-atom graph with every bond single, no charges, no aromaticity (matching two
    records of one ligand that differ in bond orders, tautomer or protonation)."""
    rw = Chem.RWMol(_heavy(mol))
    for atom in rw.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetIsAromatic(False)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
    for bond in rw.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    out = rw.GetMol()
    out.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(out)
    return out


def _heavy(mol: Chem.Mol) -> Chem.Mol:
    """Every hydrogen removed (also those RDKit keeps for stereo), without re-sanitising,
    with valences and ring information computed for matching."""
    out = Chem.RemoveAllHs(mol, sanitize=False)
    out.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(out)
    return out


def symmetric_rmsd(pose: Chem.Mol, reference: Chem.Mol) -> float:
    """Heavy-atom RMSD (Å) of ``pose`` against ``reference`` in place (no re-alignment),
    minimised over the molecule's symmetries (RDKit ``CalcRMS``). When the two records
    differ in bond orders or protonation, atoms are matched on the element graph.
    NaN when the graphs do not match at all."""
    prb, ref = _heavy(pose), _heavy(reference)
    if prb.GetNumAtoms() != ref.GetNumAtoms():
        return float("nan")
    try:
        with rdBase.BlockLogs():
            return float(rdMolAlign.CalcRMS(prb, ref))
    except RuntimeError:
        pass
    p, r = _element_graph(prb), _element_graph(ref)
    for m, src in ((p, prb), (r, ref)):
        m.RemoveAllConformers()
        m.AddConformer(Chem.Conformer(src.GetConformer()), assignId=True)
    try:
        with rdBase.BlockLogs():
            return float(rdMolAlign.CalcRMS(p, r))
    except RuntimeError:
        return float("nan")


class ConformerProjection:
    """``x0 -> x0'``: each molecule's predicted clean heavy-atom positions replaced by the
    best-superposing rigid placement of one of a ligand's conformers.

    Applied at every sampling step (:class:`~moldiff.diffusion.wrappers.MolecularEps`'s
    ``x0_project``), it restricts the generated structure to the ligand's conformer set,
    so the network chooses position, orientation and conformer -- the ligand graph enters
    sampling through its conformers (the network itself sees only atom types). All
    molecules of the batch are copies of one ligand.

    Args:
        conformers: (M, n, 3) heavy-atom coordinates of M conformers.
    """

    def __init__(self, conformers):
        import torch

        self.conf = torch.as_tensor(np.asarray(conformers), dtype=torch.float64)
        self.conf = self.conf - self.conf.mean(1, keepdim=True)
        self.chosen = None  # (B,) conformer index of the last projection

    @classmethod
    def from_mol(cls, mol: Chem.Mol) -> ConformerProjection:
        heavy = heavy_indices(mol)
        return cls([c.GetPositions()[heavy] for c in mol.GetConformers()])

    def __call__(self, x0, h0=None, t=None):
        import torch

        from moldiff.geometry import rotation_from_covariance

        m, n, _ = self.conf.shape
        x = x0.reshape(-1, n, 3).to(torch.float64)
        centre = x.mean(1, keepdim=True)
        a = x - centre                                              # (B, n, 3) targets
        cov = torch.einsum("mni,bnj->bmij", self.conf.to(x.device), a)  # (B, M, 3, 3)
        rot = rotation_from_covariance(cov)                         # (B, M, 3, 3): conf @ rot.T ~ a
        moved = torch.einsum("mni,bmji->bmnj", self.conf.to(x.device), rot)
        err = ((moved - a[:, None]) ** 2).sum(-1).mean(-1)          # (B, M)
        self.chosen = err.argmin(1)
        best = moved[torch.arange(len(x), device=x.device), self.chosen] + centre
        return best.reshape(-1, 3).to(x0.dtype)
