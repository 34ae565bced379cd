"""Equivariance harness for denoisers ``f(pos, h, t, batch, num_graphs) -> (out_pos, out_h)``.

Expected symmetry of a molecular denoiser: for any orthogonal ``Q`` (det +-1), any
translation ``b`` and any permutation ``P`` of atoms within molecules,
``f(P(pos Q^T + b), P h) = (P out_pos Q^T, P out_h)``.
"""
from __future__ import annotations

import torch

#: (atol, rtol) per dtype: float32 accumulates ~1e-6 relative error per layer.
TOLERANCES = {torch.float32: (2e-4, 1e-3), torch.float64: (1e-9, 1e-8)}


def random_orthogonal(dtype=torch.float64, *, generator: torch.Generator | None = None,
                      reflection: bool | None = None) -> torch.Tensor:
    """A Haar-random 3x3 orthogonal matrix; ``reflection`` forces det = -1 (True) or +1 (False),
    ``None`` picks either at random."""
    a = torch.randn(3, 3, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))[None, :]
    want_reflection = bool(torch.randint(2, (1,), generator=generator)) if reflection is None else reflection
    if (torch.det(q) < 0) != want_reflection:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def random_batch(sizes=(5, 3, 9), num_features: int = 6, dtype=torch.float64, *,
                 generator: torch.Generator | None = None):
    """Random molecules: ``(pos, h, t, batch)`` with positions spread like small molecules."""
    batch = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    pos = 1.5 * torch.randn(len(batch), 3, generator=generator, dtype=dtype)
    h = torch.randn(len(batch), num_features, generator=generator, dtype=dtype)
    t = torch.rand(len(sizes), generator=generator, dtype=dtype)
    return pos, h, t, batch


def _within_graph_permutation(batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    perm = torch.arange(len(batch))
    for g in batch.unique():
        idx = (batch == g).nonzero().flatten()
        perm[idx] = idx[torch.randperm(len(idx), generator=generator)]
    return perm


def _close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    atol, rtol = TOLERANCES[a.dtype]
    err = (a - b).abs().max().item()
    assert torch.allclose(a, b, atol=atol, rtol=rtol), f"{what}: max abs error {err:.3e} (atol {atol}, rtol {rtol})"


@torch.no_grad()
def assert_denoiser_equivariant(denoiser, dtype=torch.float64, *, trials: int = 3, sizes=(5, 3, 9),
                                num_features: int | None = None, seed: int = 0) -> None:
    """Assert O(3) x translation x permutation equivariance of a denoiser in ``dtype``.

    Each trial draws a fresh batch, a random orthogonal matrix (both a proper rotation
    and a reflection are tested), a random translation and a random permutation.
    """
    gen = torch.Generator().manual_seed(seed)
    denoiser = denoiser.to(dtype).eval()
    f = num_features if num_features is not None else denoiser.num_features
    for trial in range(trials):
        pos, h, t, batch = random_batch(sizes, f, dtype, generator=gen)
        out_pos, out_h = denoiser(pos, h, t, batch, len(sizes))
        for reflection in (False, True):
            q = random_orthogonal(dtype, generator=gen, reflection=reflection)
            shift = 5.0 * torch.randn(1, 3, generator=gen, dtype=dtype)
            perm = _within_graph_permutation(batch, gen)
            new_pos, new_h = denoiser((pos @ q.T + shift)[perm], h[perm], t, batch, len(sizes))
            kind = "reflection" if reflection else "rotation"
            _close(new_pos, (out_pos @ q.T)[perm], f"trial {trial} {kind}: position output not equivariant")
            _close(new_h, out_h[perm], f"trial {trial} {kind}: feature output not invariant")


@torch.no_grad()
def assert_batch_independent(denoiser, dtype=torch.float64, *, sizes=(4, 7, 3), num_features: int | None = None,
                             seed: int = 0) -> None:
    """Assert each molecule's output equals the output of that molecule alone."""
    gen = torch.Generator().manual_seed(seed)
    denoiser = denoiser.to(dtype).eval()
    f = num_features if num_features is not None else denoiser.num_features
    pos, h, t, batch = random_batch(sizes, f, dtype, generator=gen)
    out_pos, out_h = denoiser(pos, h, t, batch, len(sizes))
    for g in range(len(sizes)):
        m = batch == g
        one_pos, one_h = denoiser(pos[m], h[m], t[g : g + 1], torch.zeros(int(m.sum()), dtype=torch.long), 1)
        _close(one_pos, out_pos[m], f"graph {g}: position output depends on the rest of the batch")
        _close(one_h, out_h[m], f"graph {g}: feature output depends on the rest of the batch")
