"""A differentiable, batched re-implementation of the AutoDock Vina scoring function in
torch (:class:`VinaEnergy`), for searching many poses at once.

Vina's own Python API re-reads the ligand for every new pose (``set_ligand_from_string``
precomputes pair tables for all ligand atom pairs: 0.4 s for a 32-heavy-atom ligand, against
about 1 ms for a local optimisation; ``benchmarks/dock_search_costs.py``), so a Monte Carlo search driven through it
affords a few dozen trials per pose. This module evaluates the same functional form on
(B, n) poses at once, with gradients, so :mod:`moldiff.docking.search` can afford
thousands; the final poses are still re-optimised and ranked by Vina itself.

Functional form (Trott & Olson 2010; weights of Vina 1.2): over heavy-atom pairs within
8 Å, with surface distance ``d = r - R_i - R_j`` (X-Score vdW radii), ``gauss1``
exp(-(d/0.5)^2), ``gauss2`` exp(-((d-3)/2)^2), ``repulsion`` d^2 for d < 0,
``hydrophobic`` (both hydrophobic: 1 below 0.5, 0 above 1.5, linear between), ``hbond``
(donor-acceptor pair: 1 below -0.7, 0 above 0, linear between). Atom types come from the
PDBQT files meeko writes for Vina (AutoDock types + polar hydrogens), refined to X-Score
types as Vina does (:func:`xs_types`). Intramolecular terms cover ligand atom pairs more
than three bonds apart in different rigid pieces; atoms leaving the box are penalised.
"""
from __future__ import annotations

import numpy as np
import torch

from moldiff.vina.atom_types import heavy_atom_xs_types, pdbqt_atoms, type_arrays, xs_types

#: Vina 1.2 weights
W_GAUSS1, W_GAUSS2, W_REPULSION, W_HYDROPHOBIC, W_HBOND = -0.035579, -0.005156, 0.840245, -0.035069, -0.587439
CUTOFF = 8.0


def pair_tables(ligand_types: list[str], receptor, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n, M) tables of the Vina pair terms between ligand atoms typed ``ligand_types`` and
    receptor atoms (``receptor``: a list of their X-Score types, or the tuple :func:`type_arrays` makes of it):
    summed vdW radii (summed in ``dtype``), hydrophobic pairs and hydrogen-bonding pairs (1.0 / 0.0)."""
    l_rad, l_hyd, l_don, l_acc = type_arrays(list(ligand_types))
    r_rad, r_hyd, r_don, r_acc = receptor if isinstance(receptor, tuple) else type_arrays(list(receptor))
    return (l_rad.to(dtype)[:, None] + r_rad.to(dtype)[None], (l_hyd[:, None] & r_hyd[None]).to(dtype),
            ((l_don[:, None] & r_acc[None]) | (l_acc[:, None] & r_don[None])).to(dtype))


def pair_energy(d: torch.Tensor, hydrophobic: torch.Tensor, hbond: torch.Tensor) -> torch.Tensor:
    """Weighted Vina terms of surface distances ``d`` (pairs beyond the cutoff must be masked
    by the caller); ``hydrophobic``/``hbond``: which pairs get those terms."""
    e = W_GAUSS1 * torch.exp(-(d / 0.5) ** 2) + W_GAUSS2 * torch.exp(-((d - 3.0) / 2.0) ** 2)
    e = e + W_REPULSION * torch.clamp(d, max=0.0) ** 2
    e = e + W_HYDROPHOBIC * hydrophobic * torch.clamp(1.5 - d, 0.0, 1.0)
    return e + W_HBOND * hbond * torch.clamp(-d / 0.7, 0.0, 1.0)


def ligand_pocket_energy(pos, elements, pocket_pos, pocket_types) -> float:
    """Vina-form intermolecular energy (kcal/mol; Vina 1.2 weights, 8 Å cutoff, no torsion
    normalisation) of a ligand known by its heavy atoms (positions and elements, typed by
    :func:`heavy_atom_xs_types`) with pocket heavy atoms typed ``pocket_types``
    (:func:`protein_xs_types`, or the tuple :func:`type_arrays` makes of them). Positive:
    steric repulsion outweighs every attractive term -- the ligand overlaps the protein."""
    pos = torch.as_tensor(np.asarray(pos, dtype=float))
    radii, hydrophobic, hbond = pair_tables(heavy_atom_xs_types(pos.numpy(), list(elements)), pocket_types)
    r = torch.cdist(pos, torch.as_tensor(np.asarray(pocket_pos, dtype=float)))
    return float((pair_energy(r - radii, hydrophobic, hbond) * (r < CUTOFF)).sum())


class VinaEnergy:
    """Vina-form energy of ligand poses in a rigid receptor, batched and differentiable.

    Args:
        receptor_pdbqt: the receptor PDBQT text (:func:`moldiff.vina.prepare.receptor_pdbqt`).
        ligand_types: X-Score type of each ligand heavy atom (in the order of the
            coordinates given to :meth:`__call__`).
        intra_pairs: (P, 2) ligand heavy-atom index pairs that get intramolecular terms.
        center, size: the search box (Å); atoms outside it are penalised quadratically.
    """

    def __init__(self, receptor_pdbqt: str, ligand_types: list[str], intra_pairs, center, size, *, maps=None):
        center = np.asarray(center, dtype=float)
        half = np.broadcast_to(np.asarray(size, dtype=float), (3,)) / 2
        l_rad, l_hyd, l_don, l_acc = type_arrays(list(ligand_types))
        if maps is None:  # the pair sum over receptor atoms; with maps the receptor is in them
            pos, ad = pdbqt_atoms(receptor_pdbqt)
            types = xs_types(pos, ad)
            # heavy receptor atoms that can reach the box
            near = [i for i, t in enumerate(types)
                    if t is not None and (np.abs(pos[i] - center) - half).clip(min=0).max() < CUTOFF]
            self.rec_pos = torch.tensor(pos[near], dtype=torch.float64)
            self.radii, self.hydrophobic, self.hbond = pair_tables(ligand_types, [types[i] for i in near])  # (n, M)
        pairs = torch.as_tensor(np.asarray(intra_pairs, dtype=np.int64).reshape(-1, 2))
        self.pairs = pairs
        i, j = pairs[:, 0], pairs[:, 1]
        self.intra_radii = l_rad[i] + l_rad[j]
        self.intra_hydrophobic = (l_hyd[i] & l_hyd[j]).double()
        self.intra_hbond = ((l_don[i] & l_acc[j]) | (l_acc[i] & l_don[j])).double()
        self.center = torch.tensor(center, dtype=torch.float64)
        self.half = torch.tensor(half.copy(), dtype=torch.float64)
        self.maps = maps
        if maps is not None:
            missing = sorted(set(ligand_types) - set(maps.types))
            if missing:
                raise ValueError(f"no grid map for ligand atom type(s) {', '.join(missing)}")
            self.channel = torch.tensor([maps.types.index(t) for t in ligand_types])

    def inter(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) ligand-receptor energy of heavy-atom coordinates ``x`` (B, n, 3)."""
        if self.maps is not None:
            return self.maps(x, self.channel).sum(1)
        r = torch.cdist(x, self.rec_pos[None].to(x.dtype))                       # (B, n, M)
        e = pair_energy(r - self.radii, self.hydrophobic, self.hbond)
        return (e * (r < CUTOFF)).sum((1, 2))

    def intra(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) intramolecular energy over :attr:`pairs`."""
        if not len(self.pairs):
            return x.new_zeros(len(x))
        r = (x[:, self.pairs[:, 0]] - x[:, self.pairs[:, 1]]).norm(dim=-1)
        e = pair_energy(r - self.intra_radii, self.intra_hydrophobic, self.intra_hbond)
        return (e * (r < CUTOFF)).sum(1)

    def outside(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) quadratic penalty (kcal/mol/Å^2 x 10) for atoms beyond the box faces."""
        over = ((x - self.center).abs() - self.half).clamp(min=0)
        return 10.0 * (over ** 2).sum((1, 2))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) total energy searched over: inter + intra + box penalty."""
        return self.inter(x) + self.intra(x) + self.outside(x)


class GridMaps:
    """Vina's grid maps of one receptor (one per X-Score ligand atom type), trilinearly
    interpolated at atom positions with gradients (``torch.nn.functional.grid_sample``).

    Args:
        values: (C, nz, ny, nx) energies at the grid points. types: the C X-Score types.
        origin: (3,) position of grid point (0, 0, 0); spacing: Å.
    """

    def __init__(self, values, types: list[str], origin, spacing: float):
        self.values = torch.as_tensor(np.asarray(values), dtype=torch.float64)[None]   # (1, C, nz, ny, nx)
        self.types = list(types)
        self.origin = torch.as_tensor(np.asarray(origin, dtype=float))
        shape = torch.tensor(self.values.shape[2:][::-1], dtype=torch.float64)           # (nx, ny, nz)
        self.extent = (shape - 1) * spacing

    @classmethod
    def from_vina(cls, vina, types) -> GridMaps:
        """The maps of a ``vina.Vina`` object whose maps were computed, for ``types``
        (written by Vina to a temporary folder in AutoDock map format and read back)."""
        import tempfile
        from pathlib import Path

        types = sorted(set(types))
        with tempfile.TemporaryDirectory() as tmp:
            vina.write_maps(str(Path(tmp) / "maps"), overwrite=True)
            grids, origin, spacing = [], None, None
            for t in types:
                head, _, body = Path(tmp, f"maps.{t}.map").read_text().partition("CENTER")
                fields = dict(line.split(None, 1) for line in head.splitlines() if line.strip())
                spacing = float(fields["SPACING"])
                n = [int(v) + 1 for v in fields["NELEMENTS"].split()]
                centre_line, _, data = body.partition("\n")
                centre = np.array([float(v) for v in centre_line.split()])
                grids.append(np.array(data.split(), dtype=float).reshape(n[2], n[1], n[0]))
                origin = centre - spacing * (np.array(n) - 1) / 2
        return cls(np.stack(grids), types, origin, spacing)

    def __call__(self, x: torch.Tensor, channel: torch.Tensor) -> torch.Tensor:
        """(B, n) energies of atoms at ``x`` (B, n, 3) with map ``channel`` (n,) each
        (clamped to the grid's border outside it)."""
        b, n, _ = x.shape
        norm = 2 * (x - self.origin.to(x)) / self.extent.to(x) - 1                     # (B, n, 3) as (x, y, z)
        out = torch.nn.functional.grid_sample(self.values.to(x.dtype), norm.reshape(1, 1, 1, b * n, 3),
                                              mode="bilinear", padding_mode="border", align_corners=True)
        out = out.reshape(-1, b, n)                                                     # (C, B, n)
        return out.gather(0, channel.expand(b, n)[None]).squeeze(0)
