"""Public Python API: load a trained model and sample molecules.

    >>> import moldiff
    >>> model = moldiff.load()                      # the shipped QM9 model
    >>> model = moldiff.load("runs/qm9/checkpoints/best.ckpt")
    >>> mols = model.sample(n=10, steps=100, seed=0)   # RDKit molecules with 3D conformers
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from moldiff.checks import check_non_negative, check_num_atoms, check_positive, check_seed
from moldiff.config import SAMPLER_NAMES
from moldiff.errors import InputError
from moldiff.progress import Progress

#: how many times :meth:`PocketModel.design` draws a design again when it overlaps the protein
REDRAW = 2
#: kcal/mol: designs with a Vina-form intermolecular energy above this are drawn again
REDRAW_MAX_ENERGY = 0.0
#: a redrawn design whose size came from the pocket-size prior gets this fraction of the
#: atoms of its previous draw (the prior is a rough estimate: pocket atom counts predict
#: ligand sizes with r = 0.64 on posebusters_dev, and no training pocket is as small as some)
REDRAW_SHRINK = 0.8


def _check_count(value, name: str) -> int:
    """A positive integer count (molecules, steps, batch size)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise InputError(f"{name} must be positive, got {value}")
    return int(value)


def _sampling_options(model, sampler: str | None, time_power: float | None,
                      noise_scale: float | None) -> tuple[str, float, float]:
    """``(sampler, time_power, noise_scale)``: the given values or ``model``'s defaults, checked."""
    sampler = sampler or model.default_sampler
    time_power = model.default_time_power if time_power is None else time_power
    noise_scale = model.default_noise_scale if noise_scale is None else noise_scale
    if sampler not in SAMPLER_NAMES:
        raise InputError(f"unknown sampler {sampler!r}; choose {', '.join(SAMPLER_NAMES)}")
    check_positive(time_power, "time power")
    if not 0 < noise_scale <= 1:
        raise InputError(f"noise scale must be in (0, 1], got {noise_scale}")
    return sampler, time_power, noise_scale


#: checkpoint formats this module reads (written by moldiff.training.module and export_model)
CHECKPOINT_FORMAT = "moldiff.diffusion"
SCHEMA_VERSION = 1
#: prefix of the EMA weights in a training checkpoint's state dict
EMA_PREFIX = "ema.module."

log = logging.getLogger(__name__)


class MolDiffModel:
    """A trained unconditional model: EMA denoiser + schedule + feature codec + atom-count histogram."""

    def __init__(self, denoiser, schedule, codec, elements, num_atoms_hist, *, parameterization: str = "eps",
                 default_steps: int = 100, default_sampler: str = "ddpm", default_time_power: float = 1.0,
                 default_noise_scale: float = 1.0, config: dict | None = None, card: dict | None = None) -> None:
        self.denoiser = denoiser.eval()
        self.schedule, self.codec = schedule, codec
        self.elements = tuple(elements)
        self.num_atoms_hist = np.asarray(num_atoms_hist, dtype=np.int64)
        self.parameterization = parameterization
        self.default_steps, self.default_sampler = default_steps, default_sampler
        self.default_time_power, self.default_noise_scale = default_time_power, default_noise_scale
        self.config = config or {}
        self.card = card or {}

    @classmethod
    def from_module(cls, module) -> MolDiffModel:
        """Wrap a :class:`~moldiff.training.module.DiffusionModule` (its EMA weights)."""
        sampling = module.run_config.get("sampling", {})
        return cls(module.ema.module, module.schedule, module.codec, module.elements,
                   module.num_atoms_hist.cpu().numpy(), parameterization=module.parameterization,
                   default_steps=sampling.get("steps", 100), default_sampler=sampling.get("sampler", "ddpm"),
                   default_time_power=sampling.get("time_power", 1.0),
                   default_noise_scale=sampling.get("noise_scale", 1.0), config=module.run_config)

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def sample_num_atoms(self, n: int, generator: torch.Generator) -> torch.Tensor:
        from moldiff.data.stats import sample_from_histogram

        return sample_from_histogram(self.num_atoms_hist, n, generator)

    def sample_mol3d(self, n: int, *, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                     num_atoms: int | None = None, batch_size: int = 64, progress: bool = False, callback=None,
                     time_power: float | None = None, noise_scale: float | None = None, as_arrays: bool = False):
        """Sample ``n`` molecules as :class:`~moldiff.chem.Mol3D` (``None`` for numerical failures).

        Args:
            n: number of molecules (> 0). steps: sampler steps (default: the training config's).
            sampler: ``"ddpm"``, ``"ddim"`` or ``"dpm2m"`` (default: the model's). seed: makes the
                result exactly reproducible.
            num_atoms: fixed atom count; default draws from the training histogram.
            batch_size: molecules per denoiser batch. progress: show a progress bar.
            time_power: step grid ``t = u ** time_power`` (default: the model's; > 1 puts more
                steps at low noise, see :func:`~moldiff.diffusion.sampler.time_grid`).
            noise_scale: scale of the noise added at each stochastic step (default: the model's);
                1 samples the model's distribution, < 1 (lower temperature) trades diversity for
                stability.
            as_arrays: ``(elements, positions, charges)`` tuples instead of ``Mol3D`` (the same
                molecules; RDKit is not imported, e.g. on a GPU machine without it).
        """
        from moldiff.diffusion.generate import sample_molecules

        steps = self.default_steps if steps is None else steps
        for name, value in (("number of molecules", n), ("steps", steps), ("batch size", batch_size)):
            _check_count(value, name)
        if num_atoms is not None:
            check_num_atoms(num_atoms)
        sampler, time_power, noise_scale = _sampling_options(self, sampler, time_power, noise_scale)
        seed = int(torch.randint(2**31 - 1, (1,)).item()) if seed is None else check_seed(seed)
        counts_gen = torch.Generator().manual_seed(seed)
        counts = (torch.full((n,), num_atoms, dtype=torch.long) if num_atoms is not None
                  else self.sample_num_atoms(n, counts_gen))
        gen = torch.Generator(device=self.device).manual_seed(seed)
        out = []
        with Progress(n, "sampling", "mol", enabled=progress) as bar:
            for chunk in counts.split(batch_size):
                out.extend(sample_molecules(self.denoiser, self.schedule, self.codec, self.elements, chunk,
                                            steps=steps, sampler=sampler, parameterization=self.parameterization,
                                            generator=gen, device=self.device,
                                            callback=bar.steps(len(chunk), steps, callback), time_power=time_power,
                                            noise_scale=noise_scale, as_arrays=as_arrays))
                bar.finish_batch()
        return out

    @staticmethod
    def to_rdkit(mols3d, bonds: str = "table", *, keep_failures: bool = False):
        """Mol3D records -> RDKit molecules with inferred bonds, sanitised where RDKit accepts
        them (SD properties ``moldiff_valid`` 1/0 and ``moldiff_radical_electrons``, see
        :func:`mark_validity`). Numerical failures are dropped (``None`` with ``keep_failures``)."""
        from moldiff.chem.molecule import infer_bonds, to_rdkit

        out = []
        for k, m in enumerate(mols3d):
            if m is None:
                if keep_failures:
                    out.append(None)
                continue
            mol = to_rdkit(infer_bonds(m, bonds))
            mol.SetProp("_Name", f"moldiff_{k}")
            out.append(mark_validity(mol))
        return out

    def sample(self, n: int, *, return_invalid: bool = False, **kwargs):
        """Sample ``n`` molecules: a list of ``n`` sanitised RDKit molecules (3D conformer,
        explicit hydrogens, bonds inferred by the QM9 bond-length protocol, formal charges from
        the model), ``None`` where a sample is not a valid molecule. ``return_invalid=True``
        returns those too, unsanitised (SD property ``moldiff_valid`` 0). Every molecule carries
        ``moldiff_radical_electrons`` (unpaired electrons as written; > 0 means a hydrogen or a
        bond is missing). Keyword arguments as :meth:`sample_mol3d`."""
        return _valid_only(self.to_rdkit(self.sample_mol3d(n, **kwargs), keep_failures=True), return_invalid)

    def info(self) -> dict:
        """The model card: a shipped model's card (data, hardware, measured metrics) plus
        what the checkpoint itself records (architecture, parameters, training settings)."""
        return {
            **self.card,
            "elements": list(self.elements),
            "parameters": sum(p.numel() for p in self.denoiser.parameters()),
            "parameterization": self.parameterization,
            "default_steps": self.default_steps,
            "default_sampler": self.default_sampler,
            "default_time_power": self.default_time_power,
            "default_noise_scale": self.default_noise_scale,
            "config": self.config,
        }


class BondModel:
    """A trained model of the bond-generating family: coordinates, elements, formal charges and
    the bond order of every atom pair generated together (:mod:`moldiff.diffusion.flow`).

        >>> model = moldiff.load("runs/qm9_bonds/checkpoints/best.ckpt")
        >>> mols = model.sample(10, seed=0)   # RDKit molecules with the generated bonds and charges
    """

    def __init__(self, network, elements, num_atoms_hist, priors: dict, charges, *, coord_scale: float = 1.0,
                 default_steps: int = 100, default_time_power: float = 1.0, cat_noise: float = 1.0,
                 config: dict | None = None, card: dict | None = None) -> None:
        self.denoiser = network.eval()
        self.elements = tuple(elements)
        self.num_atoms_hist = np.asarray(num_atoms_hist, dtype=np.int64)
        self.priors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in priors.items()}
        self.charges = [int(c) for c in charges]
        self.coord_scale, self.cat_noise = coord_scale, cat_noise
        self.default_steps, self.default_time_power = default_steps, default_time_power
        self.default_sampler, self.default_noise_scale = "flow", 1.0
        self.config, self.card = config or {}, card or {}

    @classmethod
    def from_module(cls, module) -> BondModel:
        """Wrap a :class:`~moldiff.training.module.FlowModule` (its EMA weights)."""
        sampling = module.run_config.get("sampling", {})
        return cls(module.ema.module, module.elements, module.num_atoms_hist.cpu().numpy(),
                   {k: v.cpu() for k, v in module.priors.items()}, module.charges.tolist(),
                   coord_scale=module.coord_scale, default_steps=sampling.get("steps", 100),
                   default_time_power=sampling.get("time_power", 1.0),
                   cat_noise=module.run_config.get("flow", {}).get("cat_noise", 1.0), config=module.run_config)

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def sample_mol3d(self, n: int, *, steps: int | None = None, seed: int | None = None,
                     num_atoms: int | None = None, batch_size: int = 64, progress: bool = False,
                     time_power: float | None = None, cat_noise: float | None = None, sampler: str | None = None,
                     noise_scale: float | None = None, callback=None, as_arrays: bool = False):
        """Sample ``n`` molecules as :class:`~moldiff.chem.Mol3D` records *with* their generated
        bonds (``bonds``: (i, j, order), aromatic = 1.5) and formal charges.

        Args:
            steps: network calls per molecule (default: the model's). seed: exact reproducibility.
            num_atoms: fixed atom count (default: drawn from the training histogram).
            time_power: step grid ``t_k = 1 - (1 - k/steps)^P`` (P > 1: more steps near the data).
            cat_noise: strength of the categorical jumps' noise (default: the model's).
            sampler, noise_scale: not used by this family (its flow sampler has no temperature);
                giving them is an error rather than silently ignored.
            as_arrays: ``(elements, positions, charges, bonds)`` tuples instead of ``Mol3D`` (the
                same molecules; RDKit is not imported, e.g. on a GPU machine without it).
        """
        from moldiff.diffusion.flow import BOND_ORDERS, sample_flow

        if sampler not in (None, "flow"):
            raise InputError(f"this model generates bonds with its own flow sampler; sampler {sampler!r} "
                             "does not apply (leave --sampler out)")
        if noise_scale not in (None, 1.0):
            raise InputError("this model has no noise scale (temperature); leave --noise-scale out")
        steps = self.default_steps if steps is None else steps
        for name, value in (("number of molecules", n), ("steps", steps), ("batch size", batch_size)):
            _check_count(value, name)
        if num_atoms is not None:
            check_num_atoms(num_atoms)
        time_power = self.default_time_power if time_power is None else check_positive(time_power, "time power")
        cat_noise = self.cat_noise if cat_noise is None else check_non_negative(cat_noise, "categorical noise")
        seed = int(torch.randint(2**31 - 1, (1,)).item()) if seed is None else check_seed(seed)
        from moldiff.data.stats import sample_from_histogram

        counts = (torch.full((n,), num_atoms, dtype=torch.long) if num_atoms is not None
                  else sample_from_histogram(self.num_atoms_hist, n, torch.Generator().manual_seed(seed)))
        gen = torch.Generator(device=self.device).manual_seed(seed)
        priors = {k: v.to(self.device) for k, v in self.priors.items()}
        bar = Progress(n, "sampling", "mol", enabled=progress)
        out = []
        for chunk in counts.split(batch_size):
            res = sample_flow(self.denoiser, chunk, priors, self.coord_scale, steps=steps, time_power=time_power,
                              cat_noise=cat_noise, generator=gen, device=self.device,
                              self_condition=getattr(self.denoiser, "self_condition", False),
                              callback=bar.steps(len(chunk), steps, callback))
            bar.finish_batch()
            res = {k: v.cpu() for k, v in res.items()}
            src, dst = res["edge_index"]
            keep = (src < dst) & (res["bond_type"] > 0)
            ptr = torch.cat([torch.zeros(1, dtype=torch.long), chunk.cumsum(0)])
            pair_mol = res["batch"][src[keep]]
            for g in range(len(chunk)):
                lo, hi = int(ptr[g]), int(ptr[g + 1])
                sel = pair_mol == g
                bonds = np.stack([(src[keep][sel] - lo).numpy(), (dst[keep][sel] - lo).numpy(),
                                  np.asarray(BOND_ORDERS)[res["bond_type"][keep][sel].numpy()]], axis=1)
                symbols = [self.elements[i] for i in res["atom_type"][lo:hi].tolist()]
                charges = [self.charges[c] for c in res["charge"][lo:hi].tolist()]
                pos = res["pos"][lo:hi].double().numpy()
                if not np.isfinite(pos).all():
                    out.append(None)
                elif as_arrays:
                    out.append((symbols, pos, np.asarray(charges), bonds.reshape(-1, 3)))
                else:
                    from moldiff.chem.molecule import Mol3D

                    out.append(Mol3D(symbols, pos, charges, bonds.reshape(-1, 3)))
        bar.close()
        return out

    @staticmethod
    def to_rdkit(mols3d, *, keep_failures: bool = False):
        """Mol3D records -> RDKit molecules with the generated bonds and charges, sanitised where
        RDKit accepts them (SD properties ``moldiff_valid`` 1/0 and ``moldiff_radical_electrons``,
        see :func:`mark_validity`). Numerical failures are dropped (``None`` with ``keep_failures``)."""
        from moldiff.chem.molecule import to_rdkit

        out = []
        for k, m in enumerate(mols3d):
            if m is None:
                if keep_failures:
                    out.append(None)
                continue
            mol = to_rdkit(m)
            mol.SetProp("_Name", f"moldiff_{k}")
            out.append(mark_validity(mol))
        return out

    def sample(self, n: int, *, return_invalid: bool = False, **kwargs):
        """Sample ``n`` molecules: a list of ``n`` sanitised RDKit molecules (3D, explicit
        hydrogens, the generated bonds and charges), ``None`` where a sample is not a valid
        molecule (``return_invalid=True``: those too, unsanitised, ``moldiff_valid`` 0). Keyword
        arguments as :meth:`sample_mol3d`."""
        return _valid_only(self.to_rdkit(self.sample_mol3d(n, **kwargs), keep_failures=True), return_invalid)

    def info(self) -> dict:
        return {**self.card, "task": "bonds", "elements": list(self.elements), "charges": self.charges,
                "parameters": sum(p.numel() for p in self.denoiser.parameters()),
                "default_steps": self.default_steps, "default_time_power": self.default_time_power,
                "cat_noise": self.cat_noise, "coord_scale": self.coord_scale, "config": self.config}


class PocketModel:
    """A trained pocket-conditioned model: designs ligands inside a protein pocket.

        >>> model = moldiff.load("pocket")
        >>> mols = model.design("P.pdb", ligand="ref.sdf", n=10, seed=0)   # RDKit, protein frame

    Heavy atoms are generated (ligand size drawn given the pocket size, or fixed), then
    bonds, charges and hydrogens are assigned from the geometry
    (:func:`~moldiff.chem.assemble.assemble_ligand`).
    """

    def __init__(self, denoiser, schedule, codec, elements, num_atoms_hist, size_pairs, *,
                 parameterization: str = "eps", default_steps: int = 100, radius: float = 10.0,
                 default_sampler: str = "ddpm", default_time_power: float = 1.0, default_noise_scale: float = 1.0,
                 config: dict | None = None, card: dict | None = None) -> None:
        self.denoiser = denoiser.eval()
        self.schedule, self.codec = schedule, codec
        self.elements = tuple(elements)
        self.num_atoms_hist = np.asarray(num_atoms_hist, dtype=np.int64)
        self.size_pairs = torch.as_tensor(size_pairs, dtype=torch.long)
        self.parameterization, self.default_steps, self.radius = parameterization, default_steps, radius
        self.default_sampler, self.default_time_power = default_sampler, default_time_power
        self.default_noise_scale = default_noise_scale
        self.config, self.card = config or {}, card or {}

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def pocket(self, protein, *, ligand=None, center=None, box=None, radius: float | None = None):
        """The binding site: ``(pocket Protein, pocket graph)``. ``protein``: a PDB/mmCIF path or
        a :class:`~moldiff.data.protein.Protein`; the site from exactly one of ``ligand``
        (path/RDKit molecule with 3D coordinates), ``center`` (x, y, z) or ``box`` (centre, size)."""
        site, graph, _ = self._site(protein, ligand, center, box, radius)
        return site, graph

    def _site(self, protein, ligand, center, box, radius):
        """``(pocket Protein, pocket graph, reference heavy-atom positions or None)``."""
        from moldiff.data.protein import binding_site, pocket_graph

        _, site, ligand_pos = binding_site(protein, reference=ligand, center=center, box=box,
                                           radius=self.radius if radius is None else radius)
        return site, pocket_graph(site), ligand_pos

    def design_mol3d(self, protein, *, ligand=None, center=None, box=None, radius: float | None = None, n: int = 10,
                     num_atoms: int | str | None = None, steps: int | None = None, sampler: str | None = None,
                     seed: int | None = None, batch_size: int = 16, progress: bool = False,
                     clash_distance: float | None = None, join_fragments: bool = True, vina_guidance: bool = True,
                     time_power: float | None = None, noise_scale: float | None = None, redraw: int = REDRAW,
                     center_radius: float | None = None, centre_radius: float | None = None):
        """Generate ``n`` ligands' heavy atoms (:class:`~moldiff.chem.Mol3D`, protein frame).

        ``num_atoms``: heavy atoms per ligand; ``None`` draws them given the pocket size (from
        the training complexes); ``"reference"`` uses the reference ``ligand``'s heavy-atom count
        (designs the size of a known binder, the like-for-like comparison of scores that grow
        with size, such as Vina's).

        ``clash_distance``: Å, clash guidance -- at every step the predicted ligand's atoms
        are pushed at least this far from the protein's
        (:class:`~moldiff.diffusion.guidance.PocketRepulsion`); default
        :data:`~moldiff.diffusion.guidance.CLASH_DISTANCE` (2.8 Å), 0: off (the network alone).
        ``join_fragments``: connectivity guidance -- stray fragments of the predicted ligand are
        moved onto its main fragment at every step (:class:`~moldiff.diffusion.guidance.FragmentJoin`).
        ``vina_guidance``: energy guidance -- the predicted ligand moves down Vina's energy with
        the pocket at every step (:class:`~moldiff.diffusion.guidance.VinaGuidance`); designs are
        then steered towards the score they are judged by.
        ``redraw``: a design whose Vina-form intermolecular energy with the pocket is above
        :data:`REDRAW_MAX_ENERGY` (0 kcal/mol: steric repulsion outweighs every attractive
        contact -- it overlaps the protein; :func:`~moldiff.docking.energy.ligand_pocket_energy`)
        is drawn again, up to ``redraw`` times, keeping the draw of lowest energy; a size drawn
        from the prior shrinks by :data:`REDRAW_SHRINK` with each redraw (a size given by
        ``num_atoms`` is kept); 0: off (every first draw is returned).
        ``center_radius``: Å, the predicted ligand's centre is kept this close to the pocket's
        centre at every step (default :data:`~moldiff.diffusion.pocket.DESIGN_CENTER_RADIUS`, 3 Å,
        the pocket's core; docking uses 7).
        ``sampler``, ``time_power``, ``noise_scale``: as for :meth:`MolDiffModel.sample_mol3d`
        (default: the model's)."""
        return self._generate(protein, ligand=ligand, center=center, box=box, radius=radius, n=n,
                              num_atoms=num_atoms, steps=steps, sampler=sampler, seed=seed,
                              batch_size=batch_size, progress=progress, clash_distance=clash_distance,
                              join_fragments=join_fragments, vina_guidance=vina_guidance, time_power=time_power,
                              noise_scale=noise_scale, redraw=redraw, center_radius=center_radius,
                              centre_radius=centre_radius)[0]

    def _generate(self, protein, *, ligand=None, center=None, box=None, radius: float | None = None, n: int = 10,
                  num_atoms: int | str | None = None, steps: int | None = None, sampler: str | None = None,
                  seed: int | None = None, batch_size: int = 16, progress: bool = False,
                  clash_distance: float | None = None, join_fragments: bool = True, vina_guidance: bool = True,
                  time_power: float | None = None, noise_scale: float | None = None, redraw: int = REDRAW,
                  center_radius: float | None = None, centre_radius: float | None = None):
        """:meth:`design_mol3d`, the pocket (a :class:`~moldiff.data.protein.Protein`) it designed in,
        and per design (fit energy, number of draws)."""
        from moldiff.diffusion.guidance import CLASH_DISTANCE
        from moldiff.diffusion.pocket import (DESIGN_CENTER_RADIUS, pocket_batch_from, sample_in_pocket,
                                              sample_ligand_sizes)
        from moldiff.docking.energy import protein_xs_types, type_arrays

        steps = self.default_steps if steps is None else steps
        sampler, time_power, noise_scale = _sampling_options(self, sampler, time_power, noise_scale)
        for name, value in (("number of molecules", n), ("steps", steps), ("batch size", batch_size)):
            _check_count(value, name)
        if isinstance(num_atoms, str):
            if num_atoms != "reference":
                raise InputError(f"num_atoms must be a number or 'reference', got {num_atoms!r}")
            if ligand is None:
                raise InputError("num_atoms='reference' needs a reference ligand (ligand=...)")
        elif num_atoms is not None:
            check_num_atoms(num_atoms, low=2)
        clash_distance = CLASH_DISTANCE if clash_distance is None else clash_distance
        check_non_negative(clash_distance, "clash distance", "0: off")
        if isinstance(redraw, bool) or not isinstance(redraw, int) or redraw < 0:
            raise InputError(f"redraw must be an integer >= 0 (0: off), got {redraw!r}")
        center_radius = centre_radius if center_radius is None else center_radius  # the British spelling: an alias
        center_radius = DESIGN_CENTER_RADIUS if center_radius is None else center_radius
        check_positive(center_radius, "center radius")
        if radius is not None:
            check_positive(radius, "pocket radius")
        site, graph, ligand_pos = self._site(protein, ligand, center, box, radius)
        xs = protein_xs_types(site)  # for the guidance and every design's fit energy
        pocket_types = type_arrays(xs)  # once, not per design
        if num_atoms == "reference":  # heavy atoms of the reference (a file is read without hydrogens)
            num_atoms = ligand.GetNumHeavyAtoms() if hasattr(ligand, "GetNumHeavyAtoms") else len(ligand_pos)
        seed = int(torch.randint(2**31 - 1, (1,)).item()) if seed is None else check_seed(seed)
        gen_sizes = torch.Generator().manual_seed(seed)
        sizes = (torch.full((n,), num_atoms, dtype=torch.long) if num_atoms is not None else
                 sample_ligand_sizes(self.size_pairs, len(graph.pos), n, self.num_atoms_hist, generator=gen_sizes))
        gen = torch.Generator(device=self.device).manual_seed(seed)

        def draw(sizes, desc):
            made = []
            with Progress(len(sizes), desc, "design", enabled=progress) as bar:
                for chunk in sizes.split(batch_size):
                    made.extend(sample_in_pocket(self.denoiser, self.schedule, self.codec, self.elements,
                                                 pocket_batch_from(graph, len(chunk)), chunk, steps=steps,
                                                 sampler=sampler, parameterization=self.parameterization,
                                                 generator=gen, clash_distance=clash_distance or None,
                                                 join_fragments=join_fragments,
                                                 pocket_xs_types=None if not vina_guidance else xs * len(chunk),
                                                 time_power=time_power, noise_scale=noise_scale,
                                                 center_radius=center_radius, callback=bar.steps(len(chunk), steps)))
                    bar.finish_batch()
            return made

        out = draw(sizes, "designing")
        energies = [self._fit_energy(m, site, pocket_types) for m in out]
        draws = [1] * n
        for _ in range(redraw):  # designs that overlap the protein are drawn again; the lower energy is kept
            bad = [i for i, e in enumerate(energies) if not e <= REDRAW_MAX_ENERGY]
            if not bad:
                break
            if num_atoms is None:  # a size from the prior may be too large for the site: smaller
                sizes[bad] = torch.clamp((sizes[bad] * REDRAW_SHRINK).round().long(), min=2)
            for i, m in zip(bad, draw(sizes[bad], "redrawing")):
                draws[i] += 1
                e = self._fit_energy(m, site, pocket_types)
                if out[i] is None or e < energies[i]:
                    out[i], energies[i] = m, e
        return out, site, list(zip(energies, draws))

    @staticmethod
    def _fit_energy(m, site, pocket_types) -> float:
        """Vina-form intermolecular energy of a generated structure with its pocket (inf: none);
        ``pocket_types``: :func:`~moldiff.docking.energy.type_arrays` of the pocket's types."""
        from moldiff.docking.energy import ligand_pocket_energy

        return float("inf") if m is None else ligand_pocket_energy(m.pos, m.symbols, site.pos, pocket_types)

    def design(self, protein, *, relax: bool = True, return_invalid: bool = False, **kwargs):
        """``n`` designed ligands as RDKit molecules with hydrogens and 3D coordinates in the
        protein's frame; ``None`` where no consistent molecule could be assembled. ``relax``:
        a restrained force-field minimisation of each assembled molecule
        (:func:`~moldiff.chem.assemble.relax_ligand`: heavy atoms restrained beyond 0.3 Å of the
        design, contacts with the pocket not shortened). Other keyword arguments as
        :meth:`design_mol3d`. SD properties: ``moldiff_heavy_atoms``, ``moldiff_draws`` (1 +
        redraws), ``moldiff_fit_energy`` (kcal/mol, the Vina-form intermolecular energy of the
        generated heavy atoms with the pocket; positive: it overlaps the protein), and
        ``moldiff_valid`` / ``moldiff_radical_electrons`` (:func:`mark_validity`; a molecule RDKit
        does not accept is ``None`` unless ``return_invalid``)."""
        from moldiff.chem.assemble import assemble_ligand, relax_ligand

        from moldiff.progress import Progress
        from moldiff.timebound import DEFAULT_SECONDS, TIMED_OUT, map_bounded

        out = []
        designs, site, fits = self._generate(protein, **kwargs)

        def build(m):  # in a worker process, killed after DEFAULT_SECONDS (RDKit cannot be interrupted)
            mol = None if m is None else assemble_ligand(m)
            return relax_ligand(mol, site.pos) if mol is not None and relax else mol

        with Progress(len(designs), "assembling", "design", enabled=kwargs.get("progress", False)) as bar:
            built = map_bounded(build, designs, seconds=DEFAULT_SECONDS, progress=bar.update)
        if any(b is TIMED_OUT for b in built):
            log.warning("%d design(s) took over %g s to assemble and relax; returned as None",
                        sum(b is TIMED_OUT for b in built), DEFAULT_SECONDS)
        for k, (m, mol, (energy, draws)) in enumerate(zip(designs, built, fits)):
            mol = None if mol is TIMED_OUT else mol
            if mol is not None:
                mol.SetProp("_Name", f"moldiff_design_{k}")
                mol.SetIntProp("moldiff_heavy_atoms", m.num_atoms)
                mol.SetIntProp("moldiff_draws", draws)
                if math.isfinite(energy):
                    mol.SetDoubleProp("moldiff_fit_energy", round(energy, 3))
                mol = mark_validity(mol)
            out.append(mol)
        return _valid_only(out, return_invalid)

    def info(self) -> dict:
        return {**self.card, "task": "pocket", "elements": list(self.elements),
                "parameters": sum(p.numel() for p in self.denoiser.parameters()),
                "parameterization": self.parameterization, "default_steps": self.default_steps,
                "default_sampler": self.default_sampler, "default_time_power": self.default_time_power,
                "default_noise_scale": self.default_noise_scale,
                "pocket_radius": self.radius, "training_complexes": int(self.size_pairs.shape[1]),
                "config": self.config}


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


def _valid_only(mols: list, return_invalid: bool) -> list:
    """``mols`` with ``None`` in place of failures and (unless ``return_invalid``) invalid molecules."""
    return [m if m is not None and (return_invalid or m.GetIntProp("moldiff_valid")) else None for m in mols]


def _read_checkpoint(path: Path) -> dict:
    from moldiff.serialization import load_tensors

    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    ckpt = load_tensors(path, "checkpoint")  # tensors and plain data only: never runs code from the file
    if not isinstance(ckpt, dict) or "moldiff" not in ckpt or "state_dict" not in ckpt:
        raise InputError(f"{path}: not a moldiff checkpoint (no moldiff metadata)")
    meta = ckpt["moldiff"]
    if not isinstance(meta, dict) or not isinstance(ckpt["state_dict"], dict):
        raise InputError(f"{path}: not a moldiff checkpoint (malformed metadata)")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: a moldiff checkpoint of another kind ({meta.get('format')})")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{path}: checkpoint schema {meta.get('schema_version')} is not supported "
                         f"(this moldiff reads schema {SCHEMA_VERSION})")
    bad = [k for k, tp in (("config", dict), ("elements", list)) if not isinstance(meta.get(k), tp)]
    bad += [k for k, v in ckpt["state_dict"].items() if not isinstance(v, torch.Tensor)][:1]
    if bad:
        raise InputError(f"{path}: damaged moldiff checkpoint (bad or missing {', '.join(map(str, bad))})")
    return ckpt


def ema_weights(state: dict) -> dict:
    """The EMA network's weights of a checkpoint state dict, with the ``ema.module.`` prefix removed."""
    return {k[len(EMA_PREFIX):]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}


def resolve_model(path: str | Path | None) -> tuple[Path, dict]:
    """``None`` or a shipped model's name -> (its file, its card); a path -> (path, {})."""
    from moldiff import pretrained

    if path is None or (str(path) in pretrained.MODELS and not Path(path).is_file()):
        name = pretrained.DEFAULT if path is None else str(path)
        return pretrained.model_path(name), {"name": name, **pretrained.model_card(name)}
    return Path(path), {}


def load(path: str | Path | None = None,
         device: str | torch.device = "cpu") -> MolDiffModel | PocketModel | BondModel:
    """Load a trained model: the shipped QM9 model (``path=None`` or ``"qm9"``), a training
    checkpoint (``last.ckpt`` / ``best.ckpt``: its EMA weights) or an exported model file.

    Lightning is not imported; sampling needs only the denoiser, schedule and codec.

    Raises:
        InputError: missing, corrupt, foreign or incompatible checkpoint; unusable device.
    """
    from moldiff.build import build_codec, build_denoiser, build_schedule
    from moldiff.config import TrainConfig, from_dict

    path, card = resolve_model(path)
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"invalid device {device!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device} requested but CUDA is not available here; use --device cpu")
    ckpt = _read_checkpoint(path)
    meta, state = ckpt["moldiff"], ckpt["state_dict"]
    cfg = from_dict(TrainConfig, meta["config"], where=f"{path} (stored config)")
    elements = tuple(meta["elements"])
    card = {**card, "file": str(path), "training": {**card.get("training", {}), **meta.get("training", {})}}
    if meta.get("task") == "bonds":
        return _load_bond_model(path, cfg, meta, state, elements, card, device)
    codec = build_codec(cfg.diffusion, len(elements))
    denoiser = build_denoiser(cfg.model, codec.num_features)
    try:
        denoiser.load_state_dict(ema_weights(state))
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not match the stored config ({str(exc).splitlines()[0]})") from exc
    if "num_atoms_hist" not in state:
        raise InputError(f"{path}: checkpoint has no atom-count histogram")
    sampling = cfg.sampling
    if meta.get("task", "molecules") == "pocket":
        model = PocketModel(denoiser, build_schedule(cfg.diffusion), codec, elements, state["num_atoms_hist"].numpy(),
                            state.get("size_pairs", torch.zeros(2, 0)), parameterization=cfg.diffusion.parameterization,
                            default_steps=sampling.steps, radius=cfg.data.radius, default_sampler=sampling.sampler,
                            default_time_power=sampling.time_power, default_noise_scale=sampling.noise_scale,
                            config=meta["config"], card=card)
        model.denoiser.to(device)
        return model
    model = MolDiffModel(denoiser, build_schedule(cfg.diffusion), codec, elements, state["num_atoms_hist"].numpy(),
                         parameterization=cfg.diffusion.parameterization, default_steps=sampling.steps,
                         default_sampler=sampling.sampler, default_time_power=sampling.time_power,
                         default_noise_scale=sampling.noise_scale,
                         config=meta["config"], card=card)
    model.denoiser.to(device)
    return model


def _load_bond_model(path, cfg, meta, state, elements, card, device) -> BondModel:
    from moldiff.build import build_bond_network

    needed = ["prior_atom_type", "prior_charge", "prior_bond_type", "charges", "num_atoms_hist"]
    missing = [k for k in needed if k not in state]
    if missing:
        raise InputError(f"{path}: bond-model checkpoint without {', '.join(missing)}")
    priors = {k: state[f"prior_{k}"] for k in ("atom_type", "charge", "bond_type")}
    network = build_bond_network(cfg.model, len(elements), len(state["charges"]), len(priors["bond_type"]))
    try:
        network.load_state_dict(ema_weights(state))
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not match the stored config ({str(exc).splitlines()[0]})") from exc
    model = BondModel(network, elements, state["num_atoms_hist"].numpy(), priors, state["charges"].tolist(),
                      coord_scale=cfg.flow.coord_scale, default_steps=cfg.sampling.steps,
                      default_time_power=cfg.sampling.time_power, cat_noise=cfg.flow.cat_noise,
                      config=meta["config"], card=card)
    model.denoiser.to(device)
    return model


def export_model(checkpoint: str | Path, output: str | Path) -> dict:
    """Strip a training checkpoint to what sampling needs (EMA weights, config, atom-count
    histogram, training progress) and write it atomically. Returns the stored metadata.

    A 128 x 6 EGNN goes from ~13 MB (weights, EMA, optimiser state) to ~2.6 MB.
    """
    from moldiff.paths import atomic_path

    checkpoint, output = Path(checkpoint), Path(output)
    ckpt = _read_checkpoint(checkpoint)
    state = {k: v for k, v in ckpt["state_dict"].items()
             if k.startswith(EMA_PREFIX) or k in ("num_atoms_hist", "size_pairs", "charges")
             or k.startswith("prior_")}
    if not ema_weights(state):
        raise InputError(f"{checkpoint}: checkpoint has no EMA weights to export")
    meta = dict(ckpt["moldiff"])
    meta.setdefault("training", {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
                                 "source": checkpoint.name})
    with atomic_path(output) as tmp:
        torch.save({"moldiff": meta, "state_dict": state}, tmp)
    return meta
