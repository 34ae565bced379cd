"""Sampler-level symmetry: a whole guided sampling run in a rotated pocket is the rotated run."""
from __future__ import annotations

import torch

from moldiff.testing.equivariance import _close, random_batch, random_orthogonal, random_pocket


@torch.no_grad()
def assert_pocket_sampler_equivariant(denoiser, schedule, *, guidance=(), parameterization: str = "eps",
                                      steps: int = 6, sizes=(5, 7), pocket_size: int = 20,
                                      elements=("C", "N", "O", "S", "F", "Cl"), dtype=torch.float64,
                                      seed: int = 0) -> None:
    """Assert that sampling ligands in a pocket commutes with rotations and reflections of the
    protein: with the pocket atoms and the initial noise's positions rotated by ``Q`` (about the
    pocket centre), the deterministic DDIM sampler -- network, ``guidance`` specs or transforms
    (:mod:`moldiff.diffusion.guidance`) and all -- returns the design rotated by ``Q``, with the
    same atom features. ``denoiser``: a pocket denoiser (``num_features``,
    ``pocket_features``); ``schedule``: its noise schedule."""
    from moldiff.diffusion.guidance import Frame, bind_all
    from moldiff.diffusion.sampler import sample_ddim
    from moldiff.diffusion.wrappers import MolecularEps
    from moldiff.testing.equivariance import random_pocket as pockets

    gen = torch.Generator().manual_seed(seed)
    denoiser = denoiser.to(dtype).eval()
    pos, h, _, batch = random_batch(sizes, denoiser.num_features, dtype, generator=gen)
    pocket_pos, pocket_h, pocket_batch = pockets(len(sizes), pocket_size, denoiser.pocket_features, dtype,
                                                 generator=gen)

    def run(pocket, z):
        frame = Frame(batch, len(sizes), pocket, pocket_batch, tuple(elements))
        eps = MolecularEps(denoiser, schedule, parameterization, batch, len(sizes), com_free=False,
                           context={"pocket_pos": pocket, "pocket_h": pocket_h, "pocket_batch": pocket_batch},
                           x0_transforms=bind_all(guidance, frame))
        return sample_ddim(eps, schedule, z, steps)

    out = run(pocket_pos, torch.cat([pos, h], dim=-1))
    for reflection in (False, True):
        q = random_orthogonal(dtype, generator=gen, reflection=reflection)
        moved = run(pocket_pos @ q.T, torch.cat([pos @ q.T, h], dim=-1))
        kind = "reflection" if reflection else "rotation"
        _close(moved[:, :3], out[:, :3] @ q.T, f"{kind}: sampled positions not equivariant")
        _close(moved[:, 3:], out[:, 3:], f"{kind}: sampled features not invariant")


__all__ = ["assert_pocket_sampler_equivariant", "random_pocket"]
