"""Monte Carlo pose search in the pocket with a batched Vina-form energy
(:class:`~moldiff.vina.energy.VinaEnergy`), started from given poses.

A pose's degrees of freedom are Vina's: position, orientation and the torsions of the
rotatable bonds (:class:`Torsions`), plus, as a Monte Carlo move, a swap to another RDKit
conformer of the ligand superposed on the current pose (ring puckers cannot change by
torsions). Each chain alternates a random move with a local optimisation (steepest descent on
translation, rotation vector and torsion angles, all chains at once, :meth:`PoseSearch.optimise`) and a Metropolis
test; every local minimum visited is kept, and the distinct lowest ones are returned.
Bond lengths, angles and ring geometry are those of the RDKit conformers throughout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem

from moldiff.vina.energy import GridMaps, VinaEnergy
from moldiff.vina.atom_types import pdbqt_atoms, xs_types
from moldiff.geometry import rotvec_to_matrix, superpose

#: Metropolis temperature (kcal/mol), as Vina's Monte Carlo
TEMPERATURE = 1.2


@dataclass
class Torsions:
    """Rotatable bonds of a molecule (all atoms, hydrogens included).

    ``bonds``: (T, 2) atom indices (a, b), the moving side is b's; ``moving``: (T, A) bool,
    the atoms that turn with each bond (the smaller side)."""

    bonds: torch.Tensor
    moving: torch.Tensor

    def __len__(self) -> int:
        return len(self.bonds)


def rotatable_bonds(mol: Chem.Mol) -> Torsions:
    """Single, acyclic bonds between atoms with at least two heavy neighbours each, except
    amide C-N bonds and bonds next to a triple bond (Vina/meeko's rigid ones)."""
    amide = Chem.MolFromSmarts("[CX3](=[O,S])-[NX3]")
    amide_bonds = {frozenset((m[0], m[2])) for m in mol.GetSubstructMatches(amide)}
    heavy_degree = [sum(n.GetAtomicNum() > 1 for n in a.GetNeighbors()) for a in mol.GetAtoms()]
    bonds, moving = [], []
    n = mol.GetNumAtoms()
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if (bond.GetBondType() != Chem.BondType.SINGLE or bond.IsInRing() or heavy_degree[a] < 2
                or heavy_degree[b] < 2 or frozenset((a, b)) in amide_bonds
                or any(x.GetBondType() == Chem.BondType.TRIPLE for i in (a, b) for x in mol.GetAtomWithIdx(i).GetBonds())):
            continue
        side = _side(mol, a, b)
        if len(side) > n - len(side):
            a, b, side = b, a, set(range(n)) - side
        mask = np.zeros(n, dtype=bool)
        mask[list(side)] = True
        bonds.append((a, b))
        moving.append(mask)
    return Torsions(torch.tensor(bonds, dtype=torch.long).reshape(-1, 2),
                    torch.tensor(np.array(moving), dtype=torch.bool).reshape(-1, n))


def _side(mol: Chem.Mol, a: int, b: int) -> set[int]:
    """Atoms reachable from ``b`` without passing through ``a`` (a-b is an acyclic bond)."""
    seen, stack = {b}, [b]
    while stack:
        for nb in mol.GetAtomWithIdx(stack.pop()).GetNeighbors():
            j = nb.GetIdx()
            if j != a and j not in seen:
                seen.add(j)
                stack.append(j)
    return seen


def intra_pairs(mol: Chem.Mol, torsions: Torsions, heavy: list[int]) -> np.ndarray:
    """(P, 2) pairs of positions in ``heavy`` more than three bonds apart and in different
    rigid pieces (the pairs whose distance torsions can change), as Vina's intramolecular
    term."""
    topo = Chem.GetDistanceMatrix(mol)
    piece = np.zeros(mol.GetNumAtoms(), dtype=np.int64)
    for k in range(len(torsions)):  # a distinct label per combination of torsion sides
        piece = piece * 2 + torsions.moving[k].numpy().astype(np.int64)
    pairs = [(i, j) for i in range(len(heavy)) for j in range(i + 1, len(heavy))
             if topo[heavy[i], heavy[j]] > 3 and piece[heavy[i]] != piece[heavy[j]]]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def ligand_xs_types(mol: Chem.Mol, heavy: list[int]) -> list[str] | None:
    """X-Score types of ``mol``'s heavy atoms (in ``heavy`` order) from the PDBQT meeko
    writes for Vina; None if meeko cannot prepare the molecule."""
    from moldiff.vina.prepare import ligand_pdbqt

    text = ligand_pdbqt(mol)
    if text is None:
        return None
    pos, ad = pdbqt_atoms(text)
    types = xs_types(pos, ad)
    mine = mol.GetConformer().GetPositions()[heavy]
    dist = np.sqrt(((mine[:, None] - pos[None]) ** 2).sum(-1))
    nearest = dist.argmin(1)
    if (dist[np.arange(len(heavy)), nearest] > 0.05).any() or any(types[j] is None for j in nearest):
        return None
    return [types[j] for j in nearest]


def _rodrigues(axis: torch.Tensor, angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v`` (B, A, 3) about unit ``axis`` (B, 1, 3) by ``angle`` (B, 1, 1)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return v * cos + torch.cross(axis.expand_as(v), v, dim=-1) * sin + axis * (v * axis).sum(-1, keepdim=True) * (1 - cos)


def twist(x: torch.Tensor, torsions: Torsions, angles: torch.Tensor) -> torch.Tensor:
    """``x`` (B, A, 3) with each torsion k turned by ``angles[:, k]`` (applied in order)."""
    for k in range(len(torsions)):
        a, b = torsions.bonds[k]
        axis = x[:, b] - x[:, a]
        axis = (axis / axis.norm(dim=-1, keepdim=True))[:, None]
        origin = x[:, b][:, None]
        mask = torsions.moving[k][None, :, None]
        turned = _rodrigues(axis, angles[:, k, None, None], x - origin) + origin
        x = torch.where(mask, turned, x)
    return x


def move(x: torch.Tensor, torsions: Torsions, heavy: torch.Tensor, shift, rotvec, angles) -> torch.Tensor:
    """Torsions, then a rotation about the heavy-atom centroid, then a translation."""
    x = twist(x, torsions, angles) if len(torsions) else x
    centre = x[:, heavy].mean(1, keepdim=True)
    return (x - centre) @ rotvec_to_matrix(rotvec).transpose(1, 2) + centre + shift[:, None]


class PoseSearch:
    """Monte Carlo search of ligand poses under a :class:`VinaEnergy`.

    Args:
        mol: the ligand with hydrogens; ``conformers`` (A-atom coordinate arrays, same atom
            order) are superposed for conformer-swap moves. receptor_pdbqt, center, size:
            the receptor and search box (as for Vina). opt_steps: steps per local
            optimisation (energy evaluations). vina: a ``vina.Vina`` with grid maps computed for the ligand's
            types: the inter-molecular term is interpolated from its maps (fast) instead of
            summed over receptor atoms.
    """

    def __init__(self, mol: Chem.Mol, receptor_pdbqt: str, center, size, *, conformers=(),
                 opt_steps: int = 25, vina=None):
        self.heavy_list = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
        self.heavy = torch.tensor(self.heavy_list)
        types = ligand_xs_types(mol, self.heavy_list)
        if types is None:
            raise ValueError("meeko could not type this ligand for Vina")
        self.torsions = rotatable_bonds(mol)
        maps = None if vina is None else GridMaps.from_vina(vina, types)
        self.energy = VinaEnergy(receptor_pdbqt, types, intra_pairs(mol, self.torsions, self.heavy_list),
                                 center, size, maps=maps)
        self.conformers = [np.asarray(c, dtype=float) for c in conformers]
        self.opt_steps = opt_steps

    def optimise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Local optimisation of every pose of ``x`` (B, A, 3): (poses, energies).

        Steepest descent with a step length per pose (grown by 1.3 after a step that lowers
        the energy, halved and the step undone otherwise), in units of atom displacement:
        the rotation vector is scaled by the pose's radius of gyration and each torsion
        angle by the size of its moving arm, so one step length suits all of them."""
        b, heavy = len(x), self.heavy
        x = x.detach()
        rg = ((x[:, heavy] - x[:, heavy].mean(1, keepdim=True)) ** 2).sum(-1).mean(1).sqrt().clamp(min=1.0)
        arms = [((x[:, self.torsions.moving[k]] - x[:, self.torsions.bonds[k, 1], None]) ** 2).sum(-1).mean(1).sqrt()
                for k in range(len(self.torsions))]
        arm = torch.stack(arms, 1).clamp(min=1.0) if arms else x.new_ones(b, 0)

        def pose(p):
            return move(x, self.torsions, heavy, p[:, :3], p[:, 3:6] / rg[:, None], p[:, 6:] / arm)

        def energy_and_grad(p):
            p = p.detach().requires_grad_(True)
            e = self.energy(pose(p)[:, heavy])
            grad, = torch.autograd.grad(e.sum(), p)
            return e.detach(), grad

        p = x.new_zeros(b, 6 + len(self.torsions))
        e, grad = energy_and_grad(p)
        step = x.new_full((b,), 0.3)
        for _ in range(self.opt_steps):
            trial = p - step[:, None] * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-12)
            e_trial, g_trial = energy_and_grad(trial)
            better = e_trial < e
            p = torch.where(better[:, None], trial, p)
            e = torch.where(better, e_trial, e)
            grad = torch.where(better[:, None], g_trial, grad)
            step = torch.where(better, step * 1.3, step * 0.5)
        with torch.no_grad():
            return pose(p), e

    def perturb(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """One random move per pose: a translation (up to 2 Å), a rotation (up to 45°), a
        torsion set to a random angle, or a conformer swap."""
        b = len(x)
        out = x.clone()
        kinds = rng.choice(4, size=b, p=[0.3, 0.3, 0.3, 0.1] if len(self.torsions) else [0.45, 0.45, 0, 0.1])
        for i, kind in enumerate(kinds):
            shift = torch.zeros(1, 3, dtype=x.dtype)
            rotvec = torch.zeros(1, 3, dtype=x.dtype)
            angles = torch.zeros(1, len(self.torsions), dtype=x.dtype)
            if kind == 0:
                step = rng.normal(size=3)
                shift[0] = torch.as_tensor(2.0 * rng.uniform() * step / np.linalg.norm(step))
            elif kind == 1:
                axis = rng.normal(size=3)
                rotvec[0] = torch.as_tensor(rng.uniform(-np.pi / 4, np.pi / 4) * axis / np.linalg.norm(axis))
            elif kind == 2:
                angles[0, rng.integers(len(self.torsions))] = rng.uniform(-np.pi, np.pi)
            elif self.conformers:
                conf = self.conformers[rng.integers(len(self.conformers))]
                out[i] = torch.as_tensor(superpose(conf, x[i].numpy()[self.heavy_list], self.heavy_list)[0])
                continue
            out[i] = move(x[i:i + 1], self.torsions, self.heavy, shift, rotvec, angles)[0]
        return out

    def run(self, x0: torch.Tensor, *, steps: int, seed: int = 0,
            callback=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Monte Carlo chains from each pose of ``x0`` (B, A, 3) for ``steps`` moves.
        Returns every local minimum visited, lowest energy first: (poses (P, A, 3), energies (P,)).
        ``callback(k)`` is called after each move (progress)."""
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        x, e = self.optimise(x0.to(torch.float64))
        seen_x, seen_e = [x], [e]
        for _ in range(steps):
            y, f = self.optimise(self.perturb(x, rng))
            accept = (f < e) | (torch.as_tensor(rng.uniform(size=len(f))) < torch.exp((e - f) / TEMPERATURE))
            accept &= torch.isfinite(f)
            x = torch.where(accept[:, None, None], y, x)
            e = torch.where(accept, f, e)
            seen_x.append(y)
            seen_e.append(f)
            if callback is not None:
                callback(len(seen_e) - 1)
        xs, es = torch.cat(seen_x), torch.cat(seen_e)
        ok = torch.isfinite(es)
        order = torch.argsort(es[ok])
        return xs[ok][order], es[ok][order]

    def distinct(self, xs: torch.Tensor, es: torch.Tensor, n: int, *, min_rmsd: float = 1.0):
        """The ``n`` lowest poses at least ``min_rmsd`` apart (heavy atoms, in place)."""
        keep: list[int] = []
        h = xs[:, self.heavy]
        for i in range(len(xs)):
            if all(((h[i] - h[j]) ** 2).sum(-1).mean().sqrt() >= min_rmsd for j in keep):
                keep.append(i)
                if len(keep) == n:
                    break
        return xs[keep], es[keep]
