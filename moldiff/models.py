"""Trained models as users hold them: :class:`MolDiffModel` (molecules, bonds inferred),
:class:`BondModel` (molecules with generated bonds) and :class:`PocketModel` (ligands in a
pocket). They share :class:`TrainedModel` (network, element vocabulary, atom-count
histogram, sampling defaults, card) and take their options as :mod:`moldiff.options` objects
or the same names as keyword arguments. :func:`moldiff.api.load` makes them from files.
"""
from __future__ import annotations

import numpy as np
import torch

from moldiff.options import DesignOptions, SamplingOptions, resolve
from moldiff.progress import Progress


def _draw_seed(seed: int | None) -> int:
    return int(torch.randint(2**31 - 1, (1,)).item()) if seed is None else seed


class TrainedModel:
    """What every trained model holds: its network (``denoiser``, EMA weights, eval mode), the
    element vocabulary, the training atom-count histogram, sampling defaults (from its config)
    and its card. Subclasses add their noise process and how they sample."""

    #: the ``task`` a checkpoint of this class records
    task = "molecules"

    def __init__(self, denoiser, elements, num_atoms_hist, *, default_steps: int = 100,
                 default_sampler: str = "ddpm", default_time_power: float = 1.0, default_noise_scale: float = 1.0,
                 config: dict | None = None, card: dict | None = None) -> None:
        self.denoiser = denoiser.eval()
        self.elements = tuple(elements)
        self.num_atoms_hist = np.asarray(num_atoms_hist, dtype=np.int64)
        self.default_steps, self.default_sampler = default_steps, default_sampler
        self.default_time_power, self.default_noise_scale = default_time_power, default_noise_scale
        self.config, self.card = config or {}, card or {}

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def options(self, cls=SamplingOptions, options=None, **values):
        """``cls`` options from ``options`` and keyword ``values``, validated, with ``None``
        fields the model decides (steps, sampler, time grid, noise scale, seed) filled in."""
        opts = resolve(cls, options, **values)
        opts.steps = self.default_steps if opts.steps is None else opts.steps
        opts.sampler = opts.sampler or self.default_sampler
        opts.time_power = self.default_time_power if opts.time_power is None else opts.time_power
        opts.noise_scale = self.default_noise_scale if opts.noise_scale is None else opts.noise_scale
        opts.seed = _draw_seed(opts.seed)
        return opts

    def sample_num_atoms(self, n: int, generator: torch.Generator) -> torch.Tensor:
        from moldiff.data.stats import sample_from_histogram

        return sample_from_histogram(self.num_atoms_hist, n, generator)

    def _counts(self, opts) -> torch.Tensor:
        if opts.num_atoms is not None:
            return torch.full((opts.n,), opts.num_atoms, dtype=torch.long)
        return self.sample_num_atoms(opts.n, torch.Generator().manual_seed(opts.seed))

    def sample(self, n: int | None = None, *, return_invalid: bool = False, **kwargs):
        """Sample ``n`` molecules: a list of ``n`` sanitised RDKit molecules (3D conformer,
        explicit hydrogens), ``None`` where a sample is not a valid molecule
        (``return_invalid=True`` returns those too, unsanitised, SD property ``moldiff_valid``
        0). Every molecule carries ``moldiff_radical_electrons`` (unpaired electrons as
        written; > 0 means a hydrogen or a bond is missing). Keyword arguments as
        :meth:`sample_mol3d`."""
        from moldiff.chem.validity import valid_only

        return valid_only(self.to_rdkit(self.sample_mol3d(n, **kwargs), keep_failures=True), return_invalid)

    def info(self) -> dict:
        """The model card: a shipped model's card (data, hardware, measured metrics) plus
        what the checkpoint itself records (architecture, parameters, training settings)."""
        return {**self.card, "task": self.task, "elements": list(self.elements),
                "parameters": sum(p.numel() for p in self.denoiser.parameters()),
                "default_steps": self.default_steps, "default_sampler": self.default_sampler,
                "default_time_power": self.default_time_power, "default_noise_scale": self.default_noise_scale,
                "config": self.config}


class DiffusionModel(TrainedModel):
    """A model of the atom diffusion family: a VP schedule, the feature codec of types and
    charges, and the network's parameterisation (eps, x0, v, residual)."""

    def __init__(self, denoiser, schedule, codec, elements, num_atoms_hist, *, parameterization: str = "eps",
                 **kwargs) -> None:
        super().__init__(denoiser, elements, num_atoms_hist, **kwargs)
        self.schedule, self.codec, self.parameterization = schedule, codec, parameterization

    def info(self) -> dict:
        return {**super().info(), "parameterization": self.parameterization}


class MolDiffModel(DiffusionModel):
    """A trained unconditional model: EMA denoiser + schedule + feature codec + atom-count histogram.

        >>> model = moldiff.load()                    # the shipped QM9 model
        >>> mols = model.sample(10, steps=100, seed=0)  # RDKit molecules, bonds from distances
    """

    @classmethod
    def from_module(cls, module) -> MolDiffModel:
        """Wrap a :class:`~moldiff.training.module.DiffusionModule` (its EMA weights)."""
        sampling = module.run_config.get("sampling", {})
        return cls(module.ema.module, module.schedule, module.codec, module.elements,
                   module.num_atoms_hist.cpu().numpy(), parameterization=module.parameterization,
                   default_steps=sampling.get("steps", 100), default_sampler=sampling.get("sampler", "ddpm"),
                   default_time_power=sampling.get("time_power", 1.0),
                   default_noise_scale=sampling.get("noise_scale", 1.0), config=module.run_config)

    def sample_mol3d(self, n: int | None = None, *, options: SamplingOptions | None = None, progress: bool = False,
                     callback=None, as_arrays: bool = False, **kwargs):
        """Sample molecules as :class:`~moldiff.chem.Mol3D` (``None`` for numerical failures).

        Options (a :class:`~moldiff.options.SamplingOptions` or its fields as keywords): ``n``;
        ``steps``, ``sampler`` (``"ddpm"``, ``"ddim"``, ``"dpm2m"``), ``time_power`` (step grid
        ``t = u ** time_power``, see :func:`~moldiff.diffusion.sampler.time_grid`) and
        ``noise_scale`` (1 samples the model's distribution, < 1 is a lower temperature), each
        defaulting to the model's; ``num_atoms`` (default: the training histogram); ``seed``
        (exactly reproducible); ``batch_size``.

        ``progress``: a bar in molecules. ``callback``: called per sampler step.
        ``as_arrays``: ``(elements, positions, charges)`` tuples instead of ``Mol3D`` (the same
        molecules; RDKit is not imported, e.g. on a GPU machine without it).
        """
        from moldiff.diffusion.generate import sample_molecules
        from moldiff.errors import InputError

        if n is not None:
            kwargs["n"] = n
        opts = self.options(SamplingOptions, options, **kwargs)
        if opts.sampler == "flow":
            raise InputError("sampler 'flow' belongs to the bond-generating models; choose ddpm, ddim or dpm2m")
        if opts.cat_noise is not None:
            raise InputError("this model has no categorical noise (cat_noise is for bond-generating models)")
        counts = self._counts(opts)
        gen = torch.Generator(device=self.device).manual_seed(opts.seed)
        out = []
        with Progress(opts.n, "sampling", "mol", enabled=progress) as bar:
            for chunk in counts.split(opts.batch_size):
                out.extend(sample_molecules(self.denoiser, self.schedule, self.codec, self.elements, chunk,
                                            steps=opts.steps, sampler=opts.sampler,
                                            parameterization=self.parameterization, generator=gen,
                                            device=self.device, callback=bar.steps(len(chunk), opts.steps, callback),
                                            time_power=opts.time_power, noise_scale=opts.noise_scale,
                                            as_arrays=as_arrays))
                bar.finish_batch()
        return out

    @staticmethod
    def to_rdkit(mols3d, bonds: str = "table", *, keep_failures: bool = False):
        """Mol3D records -> RDKit molecules with inferred bonds, sanitised where RDKit accepts
        them (SD properties ``moldiff_valid`` 1/0 and ``moldiff_radical_electrons``, see
        :func:`~moldiff.chem.validity.mark_validity`). Numerical failures are dropped (``None``
        with ``keep_failures``)."""
        from moldiff.chem.molecule import infer_bonds, to_rdkit
        from moldiff.chem.validity import mark_validity

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


class BondModel(TrainedModel):
    """A trained model of the bond-generating family: coordinates, elements, formal charges and
    the bond order of every atom pair generated together (:mod:`moldiff.diffusion.flow`).

        >>> model = moldiff.load("runs/qm9_bonds/checkpoints/best.ckpt")
        >>> mols = model.sample(10, seed=0)   # RDKit molecules with the generated bonds and charges
    """

    task = "bonds"

    def __init__(self, network, elements, num_atoms_hist, priors: dict, charges, *, coord_scale: float = 1.0,
                 default_steps: int = 100, default_time_power: float = 1.0, cat_noise: float = 1.0,
                 config: dict | None = None, card: dict | None = None) -> None:
        super().__init__(network, elements, num_atoms_hist, default_steps=default_steps, default_sampler="flow",
                         default_time_power=default_time_power, default_noise_scale=1.0, config=config, card=card)
        self.priors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in priors.items()}
        self.charges = [int(c) for c in charges]
        self.coord_scale, self.cat_noise = coord_scale, cat_noise

    @classmethod
    def from_module(cls, module) -> BondModel:
        """Wrap a :class:`~moldiff.training.module.FlowModule` (its EMA weights)."""
        sampling = module.run_config.get("sampling", {})
        return cls(module.ema.module, module.elements, module.num_atoms_hist.cpu().numpy(),
                   {k: v.cpu() for k, v in module.priors.items()}, module.charges.tolist(),
                   coord_scale=module.coord_scale, default_steps=sampling.get("steps", 100),
                   default_time_power=sampling.get("time_power", 1.0),
                   cat_noise=module.run_config.get("flow", {}).get("cat_noise", 1.0), config=module.run_config)

    def options(self, cls=SamplingOptions, options=None, **values):
        from moldiff.errors import InputError

        given = resolve(cls, options, **values)
        if given.sampler not in (None, "flow"):
            raise InputError(f"this model generates bonds with its own flow sampler; sampler {given.sampler!r} "
                             "does not apply (leave --sampler out)")
        if given.noise_scale not in (None, 1.0):
            raise InputError("this model has no noise scale (temperature); leave --noise-scale out")
        opts = super().options(cls, given)
        opts.cat_noise = self.cat_noise if opts.cat_noise is None else opts.cat_noise
        return opts

    def sample_mol3d(self, n: int | None = None, *, options: SamplingOptions | None = None, progress: bool = False,
                     callback=None, as_arrays: bool = False, **kwargs):
        """Sample molecules as :class:`~moldiff.chem.Mol3D` records *with* their generated
        bonds (``bonds``: (i, j, order), aromatic = 1.5) and formal charges.

        Options as :meth:`MolDiffModel.sample_mol3d`, except: ``steps`` are network calls per
        molecule; ``time_power`` P makes the grid ``t_k = 1 - (1 - k/steps)^P`` (P > 1: more
        steps near the data); ``cat_noise``: strength of the categorical jumps' noise; this
        family has no ``sampler`` choice or ``noise_scale`` (giving them is an error, not
        silently ignored). ``as_arrays``: ``(elements, positions, charges, bonds)`` tuples.
        """
        from moldiff.diffusion.flow import BOND_ORDERS, sample_flow

        if n is not None:
            kwargs["n"] = n
        opts = self.options(SamplingOptions, options, **kwargs)
        counts = self._counts(opts)
        gen = torch.Generator(device=self.device).manual_seed(opts.seed)
        priors = {k: v.to(self.device) for k, v in self.priors.items()}
        out = []
        with Progress(opts.n, "sampling", "mol", enabled=progress) as bar:
            for chunk in counts.split(opts.batch_size):
                res = sample_flow(self.denoiser, chunk, priors, self.coord_scale, steps=opts.steps,
                                  time_power=opts.time_power, cat_noise=opts.cat_noise, generator=gen,
                                  device=self.device, self_condition=getattr(self.denoiser, "self_condition", False),
                                  callback=bar.steps(len(chunk), opts.steps, callback))
                bar.finish_batch()
                out.extend(self._records(res, chunk, as_arrays, BOND_ORDERS))
        return out

    def _records(self, res: dict, chunk: torch.Tensor, as_arrays: bool, bond_orders) -> list:
        """One batch of :func:`~moldiff.diffusion.flow.sample_flow` output as per-molecule records."""
        res = {k: v.cpu() for k, v in res.items()}
        src, dst = res["edge_index"]
        keep = (src < dst) & (res["bond_type"] > 0)
        ptr = torch.cat([torch.zeros(1, dtype=torch.long), chunk.cumsum(0)])
        pair_mol = res["batch"][src[keep]]
        out = []
        for g in range(len(chunk)):
            lo, hi = int(ptr[g]), int(ptr[g + 1])
            sel = pair_mol == g
            bonds = np.stack([(src[keep][sel] - lo).numpy(), (dst[keep][sel] - lo).numpy(),
                              np.asarray(bond_orders)[res["bond_type"][keep][sel].numpy()]], axis=1)
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
        return out

    @staticmethod
    def to_rdkit(mols3d, *, keep_failures: bool = False):
        """Mol3D records -> RDKit molecules with the generated bonds and charges, sanitised where
        RDKit accepts them (SD properties ``moldiff_valid`` 1/0 and ``moldiff_radical_electrons``).
        Numerical failures are dropped (``None`` with ``keep_failures``)."""
        from moldiff.chem.molecule import to_rdkit
        from moldiff.chem.validity import mark_validity

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

    def info(self) -> dict:
        return {**super().info(), "charges": self.charges, "cat_noise": self.cat_noise,
                "coord_scale": self.coord_scale}


class PocketModel(DiffusionModel):
    """A trained pocket-conditioned model: designs ligands inside a protein pocket.

        >>> model = moldiff.load("pocket")
        >>> mols = model.design("P.pdb", ligand="ref.sdf", n=10, seed=0)   # RDKit, protein frame

    Heavy atoms are generated (ligand size drawn given the pocket size, or fixed), then
    bonds, charges and hydrogens are assigned from the geometry
    (:func:`~moldiff.chem.assemble.assemble_ligand`). The policy (guidance, redraws, sizes,
    assembly) is :mod:`moldiff.ligand_design`.
    """

    task = "pocket"

    def __init__(self, denoiser, schedule, codec, elements, num_atoms_hist, size_pairs, *, radius: float = 10.0,
                 **kwargs) -> None:
        super().__init__(denoiser, schedule, codec, elements, num_atoms_hist, **kwargs)
        self.size_pairs = torch.as_tensor(size_pairs, dtype=torch.long)
        self.radius = radius

    def pocket(self, protein, *, ligand=None, center=None, box=None, radius: float | None = None):
        """The binding site: ``(pocket Protein, pocket graph)``. ``protein``: a PDB/mmCIF path or
        a :class:`~moldiff.data.protein.Protein`; the site from exactly one of ``ligand``
        (path/RDKit molecule with 3D coordinates), ``center`` (x, y, z) or ``box`` (centre, size)."""
        from moldiff.ligand_design import binding_site

        site, graph, _ = binding_site(self, protein, ligand=ligand, center=center, box=box, radius=radius)
        return site, graph

    def design_mol3d(self, protein, *, ligand=None, center=None, box=None, options: DesignOptions | None = None,
                     progress: bool = False, **kwargs):
        """Generate ligands' heavy atoms (:class:`~moldiff.chem.Mol3D`, protein frame) in the site
        of ``protein`` given by exactly one of ``ligand`` / ``center`` / ``box``. Options: a
        :class:`~moldiff.options.DesignOptions` or its fields as keywords (see
        :func:`moldiff.ligand_design.generate`)."""
        from moldiff.ligand_design import generate

        return generate(self, protein, ligand=ligand, center=center, box=box, options=options, progress=progress,
                        **kwargs).designs

    def design(self, protein, *, ligand=None, center=None, box=None, options: DesignOptions | None = None,
               progress: bool = False, return_invalid: bool = False, **kwargs):
        """Designed ligands as RDKit molecules with hydrogens and 3D coordinates in the protein's
        frame; ``None`` where no consistent molecule could be assembled (or, unless
        ``return_invalid``, RDKit does not accept it). Options as :meth:`design_mol3d`;
        SD properties as :func:`moldiff.ligand_design.design`."""
        from moldiff.ligand_design import design

        return design(self, protein, ligand=ligand, center=center, box=box, options=options, progress=progress,
                      return_invalid=return_invalid, **kwargs)

    def info(self) -> dict:
        return {**super().info(), "pocket_radius": self.radius, "training_complexes": int(self.size_pairs.shape[1])}
