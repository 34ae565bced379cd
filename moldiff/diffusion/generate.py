"""Sampling whole molecules: atom counts -> noise -> sampler -> decoded 3D molecules."""
from __future__ import annotations

import logging

import torch

from moldiff.diffusion.features import FeatureCodec
from moldiff.diffusion.sampler import get_sampler
from moldiff.diffusion.schedule import VPSchedule
from moldiff.diffusion.wrappers import FixedFeatures, KnownAtoms, MolecularEps, MolecularNoise

log = logging.getLogger(__name__)


@torch.no_grad()
def sample_molecules(
    denoiser,
    schedule: VPSchedule,
    codec: FeatureCodec,
    elements: tuple[str, ...],
    num_atoms: torch.Tensor,
    *,
    steps: int,
    sampler: str = "ddpm",
    parameterization: str = "eps",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    callback=None,
    context: dict | None = None,
    offset: torch.Tensor | None = None,
    com_free: bool | None = None,
    fixed_h: torch.Tensor | None = None,
    known: tuple[torch.Tensor, torch.Tensor] | None = None,
    x0_transforms=(),
    time_power: float = 1.0,
    noise_scale: float = 1.0,
    as_arrays: bool = False,
) -> list:
    """Generate one batch of molecules.

    Args:
        denoiser: the (EMA) network, in eval mode.
        num_atoms: (B,) atoms per molecule.
        steps: sampler steps; sampler: a name of :data:`~moldiff.diffusion.sampler.SAMPLERS`; time_power: the step grid
            (``t = u ** time_power`` over a uniform ``u``; > 1 puts more steps at low noise);
            noise_scale: scale of the noise added per stochastic step (< 1: lower temperature).
        generator: seeds the initial noise and every sampling step (on ``device``).
        callback: ``callback(i, t, z, x0_pred)`` per step, ``z`` packed as ``[pos | h]``.
        context: pocket-conditioned sampling: extra denoiser kwargs (``pocket_pos``,
            ``pocket_h``, ``pocket_batch``, in a frame centred on each pocket); the ligand
            positions are then not CoM-free. offset: (B, 3) added to each molecule's
            final positions (the pocket centres, back to the protein frame).
        com_free: zero-CoM position noise (default: only without ``context``; a ligand
            sampled with an empty pocket, e.g. from a pre-trained ligand prior, needs it).
        fixed_h: (N, F) encoded atom features to condition on (docking: the ligand's atom
            types and charges are given, only positions are generated); see
            :class:`~moldiff.diffusion.wrappers.FixedFeatures`.
        known: ``(state (N, 3 + F), mask (N,))``: atoms given in full (positions in the sampling
            frame, encoded features), generated around (:class:`~moldiff.diffusion.wrappers.KnownAtoms`);
            they come out exactly as given.
        x0_transforms: guidance transforms of the implied clean structure at every step, in
            order (:mod:`moldiff.diffusion.guidance`, :class:`~moldiff.diffusion.wrappers.MolecularEps`).
        as_arrays: return ``(elements, positions, charges)`` tuples instead of
            :class:`Mol3D` (RDKit is then not imported: sampling on a machine without it).

    Returns:
        B :class:`~moldiff.chem.Mol3D` records (positions in Å, CoM at the origin, no bonds
        yet); ``None`` for a molecule whose coordinates became non-finite (counted and logged).
    """
    device = torch.device(device) if device is not None else next(denoiser.parameters()).device
    num_atoms = num_atoms.to(device)
    b = len(num_atoms)
    batch = torch.repeat_interleave(torch.arange(b, device=device), num_atoms)
    com_free = context is None if com_free is None else com_free
    noise = MolecularNoise(batch, b, com_free=com_free)
    z = noise(torch.zeros(len(batch), 3 + codec.num_features, dtype=dtype, device=device), generator)
    eps_fn = MolecularEps(denoiser, schedule, parameterization, batch, b, com_free=com_free, context=context,
                          x0_transforms=x0_transforms)
    if fixed_h is not None:
        eps_fn = FixedFeatures(eps_fn, schedule, fixed_h.to(device=device, dtype=dtype), generator)
        z = torch.cat([z[:, :3], fixed_h.to(device=device, dtype=dtype)], dim=1)
    if known is not None:
        state, mask = known[0].to(device=device, dtype=dtype), known[1].to(device)
        eps_fn = KnownAtoms(eps_fn, schedule, state, mask, generator)
    z = get_sampler(sampler)(eps_fn, schedule, z, steps, noise_fn=noise, generator=generator, callback=callback,
                             time_power=time_power, noise_scale=noise_scale)
    if fixed_h is not None:
        z = torch.cat([z[:, :3], fixed_h.to(device=device, dtype=dtype)], dim=1)
    if known is not None:
        z = torch.where(mask[:, None], state, z)
    if offset is not None:
        z = torch.cat([z[:, :3] + offset.to(device=device, dtype=z.dtype)[batch], z[:, 3:]], dim=1)
    atom_type, charge = codec.decode(z[:, 3:])
    if not as_arrays:
        from moldiff.chem.molecule import Mol3D
    out: list = []
    bad = 0
    for g, (pos, types, q) in enumerate(zip(z[:, :3].split(num_atoms.tolist()), atom_type.split(num_atoms.tolist()),
                                            charge.split(num_atoms.tolist()))):
        if not torch.isfinite(pos).all():
            bad += 1
            out.append(None)
            continue
        record = ([elements[i] for i in types.tolist()], pos.double().cpu().numpy(), q.cpu().numpy())
        out.append(record if as_arrays else Mol3D(*record))
    if bad:
        log.warning("%d of %d sampled molecules had non-finite coordinates (returned as None)", bad, b)
    return out
