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
    #: properties the model is conditioned on (none: unconditional)
    condition_names: tuple[str, ...] = ()
    default_guidance_scale: float | None = None
    #: whether the model generates categories with jumps (``cat_noise`` and ``last_step`` apply)
    categorical = False

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
        if not self.categorical:
            from moldiff.errors import InputError

            for name in ("cat_noise", "last_step"):
                if getattr(opts, name, None) is not None:
                    raise InputError(f"this model has no categorical jumps ({name} is for bond-generating models)")
        opts.steps = self.default_steps if opts.steps is None else opts.steps
        opts.sampler = opts.sampler or self.default_sampler
        opts.time_power = self.default_time_power if opts.time_power is None else opts.time_power
        opts.noise_scale = self.default_noise_scale if opts.noise_scale is None else opts.noise_scale
        refusal = self.guidance_unavailable() if getattr(opts, "guidance_scale", None) is not None else None
        if refusal:
            from moldiff.errors import InputError

            raise InputError(refusal)
        if hasattr(opts, "guidance_scale") and opts.guidance_scale is None:
            opts.guidance_scale = self.default_guidance_scale
        opts.seed = _draw_seed(opts.seed)
        return opts

    def guidance_unavailable(self) -> str | None:
        """Why ``guidance_scale`` cannot be used with this model (``None``: it can)."""
        if not self.condition_names:
            return "guidance_scale applies to property-conditioned models; this model is unconditional"
        return None

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
        out = {**super().info(), "parameterization": self.parameterization}
        if self.condition_names:
            out["conditioning"] = {"properties": list(self.condition_names),
                                   "range": {k: list(v) for k, v in self.property_range().items()},
                                   "default_guidance_scale": self.default_guidance_scale}
        return out


class MolDiffModel(DiffusionModel):
    """A trained model of free molecules: EMA denoiser + schedule + feature codec + atom-count
    histogram; optionally conditioned on QM9 properties (``conditioning``: ``properties``,
    ``mean``, ``mad``, ``table`` of training (atom count, values) rows, ``guidance_scale``).

        >>> model = moldiff.load()                    # the shipped QM9 model
        >>> mols = model.sample(10, steps=100, seed=0)  # RDKit molecules, bonds from distances
        >>> cond = moldiff.load("alpha.pt")           # a property-conditioned model
        >>> mols = cond.sample(10, condition={"alpha": 80.5}, guidance_scale=2.0, seed=0)
    """

    def __init__(self, *args, conditioning: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cond = conditioning or {}
        self.condition_names = tuple(cond.get("properties", ()))
        if self.condition_names:
            self.condition_mean = torch.as_tensor(cond["mean"], dtype=torch.float32)
            self.condition_mad = torch.as_tensor(cond["mad"], dtype=torch.float32)
            self.condition_table = torch.as_tensor(cond["table"], dtype=torch.float32)
            self.default_guidance_scale = float(cond.get("guidance_scale", 1.0))

    @classmethod
    def from_module(cls, module) -> MolDiffModel:
        """Wrap a :class:`~moldiff.training.module.DiffusionModule` (its EMA weights)."""
        sampling = module.run_config.get("sampling", {})
        cond = None
        if getattr(module, "condition_names", ()):
            cond = {"properties": module.condition_names, "mean": module.condition_mean.cpu(),
                    "mad": module.condition_mad.cpu(), "table": module.condition_table.cpu(),
                    "guidance_scale": module.run_config.get("conditioning", {}).get("guidance_scale", 1.0)}
        return cls(module.ema.module, module.schedule, module.codec, module.elements,
                   module.num_atoms_hist.cpu().numpy(), parameterization=module.parameterization,
                   default_steps=sampling.get("steps", 100), default_sampler=sampling.get("sampler", "ddpm"),
                   default_time_power=sampling.get("time_power", 1.0),
                   default_noise_scale=sampling.get("noise_scale", 1.0), config=module.run_config,
                   conditioning=cond)

    def property_range(self) -> dict:
        """Each conditioning property's (min, max) over the training molecules the model keeps."""
        values = self.condition_table[:, 1:]
        return {name: (float(values[:, j].min()), float(values[:, j].max()))
                for j, name in enumerate(self.condition_names)}

    def conditions(self, n: int, condition: dict | None, *, seed: int, num_atoms: int | None = None):
        """Atom counts (n,) and raw property values (n, P) to sample ``n`` molecules with.

        ``condition=None``: (count, values) pairs drawn jointly from the training molecules (the
        EDM protocol). Otherwise ``{name: value or n values}`` for every property the model was
        trained on; atom counts are drawn from the 50 training molecules nearest in the
        (normalised) requested values, p(N | c), unless ``num_atoms`` is fixed.

        Raises:
            InputError: an unconditional model given a condition, a property the model was not
                trained on (or one missing), a non-finite value or a list of the wrong length.
        Values outside the training range are sampled with a warning that gives the range.
        """
        import warnings

        from moldiff.checks import check_finite
        from moldiff.errors import InputError

        gen = torch.Generator().manual_seed(seed)
        if not self.condition_names:
            if condition:
                raise InputError(f"this model is unconditional; it takes no condition (got {', '.join(condition)})")
            return self._counts_n(n, seed, num_atoms), None
        table = self.condition_table
        if condition is None:
            rows = torch.randint(len(table), (n,), generator=gen)
            counts = table[rows, 0].long() if num_atoms is None else torch.full((n,), num_atoms, dtype=torch.long)
            return counts, table[rows, 1:].double()
        names = self.condition_names
        unknown = [k for k in condition if k not in names]
        if unknown:
            raise InputError(f"this model was trained on {', '.join(names)}, not {', '.join(unknown)}")
        missing = [k for k in names if k not in condition]
        if missing:
            raise InputError(f"give a value for every property the model was trained on: missing {', '.join(missing)}")
        cols = []
        for name in names:
            value = condition[name]
            vals = [value] * n if np.ndim(value) == 0 else list(np.asarray(value).reshape(-1))
            if len(vals) != n:
                raise InputError(f"condition {name}: {len(vals)} values for {n} molecules")
            cols.append([check_finite(v, f"condition {name}") for v in vals])
        values = torch.tensor(cols, dtype=torch.float64).T
        for j, (name, (lo, hi)) in enumerate(self.property_range().items()):
            outside = ((values[:, j] < lo) | (values[:, j] > hi)).sum().item()
            if outside:
                warnings.warn(f"condition {name}: {outside} value(s) outside the training range "
                              f"[{lo:.4g}, {hi:.4g}]; the model has not seen such molecules", stacklevel=3)
        if num_atoms is not None:
            return torch.full((n,), num_atoms, dtype=torch.long), values
        norm = (table[:, 1:].double() - self.condition_mean.double()) / self.condition_mad.double()
        want = (values - self.condition_mean.double()) / self.condition_mad.double()
        k = min(50, len(table))
        near = torch.cdist(want, norm).topk(k, largest=False).indices  # (n, k)
        pick = near[torch.arange(n), torch.randint(k, (n,), generator=gen)]
        return table[pick, 0].long(), values

    def _counts_n(self, n: int, seed: int, num_atoms: int | None) -> torch.Tensor:
        if num_atoms is not None:
            return torch.full((n,), num_atoms, dtype=torch.long)
        return self.sample_num_atoms(n, torch.Generator().manual_seed(seed))

    def sample_mol3d(self, n: int | None = None, *, options: SamplingOptions | None = None, progress: bool = False,
                     callback=None, as_arrays: bool = False, condition: dict | None = None, **kwargs):
        """Sample molecules as :class:`~moldiff.chem.Mol3D` (``None`` for numerical failures).

        Options (a :class:`~moldiff.options.SamplingOptions` or its fields as keywords): ``n``;
        ``steps``, ``sampler`` (``"ddpm"``, ``"ddim"``, ``"dpm2m"``), ``time_power`` (step grid
        ``t = u ** time_power``, see :func:`~moldiff.diffusion.sampler.time_grid`) and
        ``noise_scale`` (1 samples the model's distribution, < 1 is a lower temperature), each
        defaulting to the model's; ``num_atoms`` (default: the training histogram); ``seed``
        (exactly reproducible); ``batch_size``; ``guidance_scale`` (conditional models).

        ``condition`` (property-conditioned models): ``{name: value or n values}``, see
        :meth:`conditions`; omitted, values are drawn from the training data. Each molecule
        carries the values it was asked for as SD properties ``moldiff_condition_<name>`` and
        the scale as ``moldiff_guidance_scale``.

        ``progress``: a bar in molecules. ``callback``: called per sampler step.
        ``as_arrays``: ``(elements, positions, charges)`` tuples instead of ``Mol3D`` (the same
        molecules; RDKit is not imported, e.g. on a GPU machine without it).
        """
        from moldiff.diffusion.generate import sample_molecules
        from moldiff.diffusion.wrappers import ClassifierFreeGuidance
        from moldiff.errors import InputError

        if n is not None:
            kwargs["n"] = n
        opts = self.options(SamplingOptions, options, **kwargs)
        if opts.sampler == "flow":
            raise InputError("sampler 'flow' belongs to the bond-generating models; choose ddpm, ddim or dpm2m")
        counts, values = self.conditions(opts.n, condition, seed=opts.seed, num_atoms=opts.num_atoms)
        gen = torch.Generator(device=self.device).manual_seed(opts.seed)
        out = []
        with Progress(opts.n, "sampling", "mol", enabled=progress) as bar:
            for lo in range(0, opts.n, opts.batch_size):
                chunk = counts[lo:lo + opts.batch_size]
                denoiser = self.denoiser
                if values is not None:
                    c = ((values[lo:lo + len(chunk)] - self.condition_mean.double()) / self.condition_mad.double())
                    denoiser = ClassifierFreeGuidance(self.denoiser, c.float().to(self.device), opts.guidance_scale)
                mols = sample_molecules(denoiser, self.schedule, self.codec, self.elements, chunk,
                                        steps=opts.steps, sampler=opts.sampler, com_free=True,
                                        parameterization=self.parameterization, generator=gen,
                                        device=self.device, callback=bar.steps(len(chunk), opts.steps, callback),
                                        time_power=opts.time_power, noise_scale=opts.noise_scale,
                                        as_arrays=as_arrays)
                if values is not None and not as_arrays:
                    for k, m in enumerate(mols):
                        if m is not None:
                            m.props.update({f"moldiff_condition_{name}": float(values[lo + k, j])
                                            for j, name in enumerate(self.condition_names)})
                            m.props["moldiff_guidance_scale"] = float(opts.guidance_scale)
                out.extend(mols)
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
    categorical = True

    def __init__(self, network, elements, num_atoms_hist, priors: dict, charges, *, coord_scale: float = 1.0,
                 default_steps: int = 100, default_time_power: float = 1.0, cat_noise: float = 1.0,
                 last_step: str = "argmax", config: dict | None = None, card: dict | None = None) -> None:
        super().__init__(network, elements, num_atoms_hist, default_steps=default_steps, default_sampler="flow",
                         default_time_power=default_time_power, default_noise_scale=1.0, config=config, card=card)
        self.priors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in priors.items()}
        self.charges = [int(c) for c in charges]
        self.coord_scale, self.cat_noise, self.last_step = coord_scale, cat_noise, last_step

    @classmethod
    def from_module(cls, module) -> BondModel:
        """Wrap a :class:`~moldiff.training.module.FlowModule` (its EMA weights)."""
        sampling, flow = module.run_config.get("sampling", {}), module.run_config.get("flow", {})
        return cls(module.ema.module, module.elements, module.num_atoms_hist.cpu().numpy(),
                   {k: v.cpu() for k, v in module.priors.items()}, module.charges.tolist(),
                   coord_scale=module.coord_scale, default_steps=sampling.get("steps", 100),
                   default_time_power=sampling.get("time_power", 1.0),
                   cat_noise=flow.get("cat_noise", 1.0), last_step=flow.get("last_step", "argmax"),
                   config=module.run_config)

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
        opts.last_step = self.last_step if opts.last_step is None else opts.last_step
        return opts

    def sample_mol3d(self, n: int | None = None, *, options: SamplingOptions | None = None, progress: bool = False,
                     callback=None, as_arrays: bool = False, **kwargs):
        """Sample molecules as :class:`~moldiff.chem.Mol3D` records *with* their generated
        bonds (``bonds``: (i, j, order), aromatic = 1.5) and formal charges.

        Options as :meth:`MolDiffModel.sample_mol3d`, except: ``steps`` are network calls per
        molecule; ``time_power`` P makes the grid ``t_k = 1 - (1 - k/steps)^P`` (P > 1: more
        steps near the data); ``cat_noise``: strength of the categorical jumps' noise;
        ``last_step``: ``"argmax"`` decodes the last prediction's most probable classes,
        ``"sample"`` draws them (:func:`~moldiff.diffusion.flow.sample_flow`); this
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
                                  time_power=opts.time_power, cat_noise=opts.cat_noise, last_step=opts.last_step,
                                  generator=gen,
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
                "last_step": self.last_step,
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

    @property
    def pocket_drop_prob(self) -> float:
        """Share of training complexes seen without their pocket (> 0: pocket guidance works)."""
        return float(self.config.get("conditioning", {}).get("pocket_drop_prob", 0.0))

    def guidance_unavailable(self) -> str | None:
        if self.pocket_drop_prob <= 0:
            return ("guidance_scale needs a pocket model trained with pocket dropout (conditioning.pocket_drop_prob "
                    "> 0); this model was trained with every pocket")
        return None

    def info(self) -> dict:
        return {**super().info(), "pocket_radius": self.radius, "training_complexes": int(self.size_pairs.shape[1]),
                "pocket_drop_prob": self.pocket_drop_prob}
