"""Equivariance harness for denoisers ``f(pos, h, t, batch, num_graphs) -> (out_pos, out_h)``.

Expected symmetry of a molecular denoiser: for any orthogonal ``Q`` (det +-1), any
translation ``b`` and any permutation ``P`` of atoms within molecules,
``f(P(pos Q^T + b), P h) = (P out_pos Q^T, P out_h)``.
"""
from __future__ import annotations

import torch

from moldiff.geometry import random_orthogonal  # noqa: F401 -- part of the harness

#: (atol, rtol) per dtype: float32 accumulates ~1e-6 relative error per layer.
TOLERANCES = {torch.float32: (2e-4, 1e-3), torch.float64: (1e-9, 1e-8)}


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


def _pair_lookup(edge_index: torch.Tensor, num_nodes: int):
    """A function mapping (src, dst) index tensors to their positions in ``edge_index``."""
    keys = edge_index[0] * num_nodes + edge_index[1]
    order = keys.argsort()

    def find(src, dst):
        return order[torch.searchsorted(keys[order], src * num_nodes + dst)]

    return find


@torch.no_grad()
def assert_bond_denoiser_equivariant(network, dtype=torch.float64, *, trials: int = 2, sizes=(5, 3, 9),
                                     seed: int = 0, self_condition: bool = True) -> None:
    """Assert E(3) x permutation equivariance of a joint atoms/charges/bonds network with the
    interface of :class:`~moldiff.nn.bond_egnn.BondEGNN` (dict outputs ``pos``, ``atom_type``,
    ``charge``, ``bond_type``): positions rotate, reflect and permute with the input; class
    logits permute with atoms and pairs; bond logits are symmetric in (i, j). With
    ``self_condition`` the previous-prediction inputs are transformed alongside."""
    from moldiff.nn.graph import full_edges

    gen = torch.Generator().manual_seed(seed)
    network = network.to(dtype).eval()
    k, c, b = network.num_types, network.num_charges, network.num_bonds
    for trial in range(trials):
        pos, _, t, batch = random_batch(sizes, 1, dtype, generator=gen)
        n = len(batch)
        edges = full_edges(batch)
        find = _pair_lookup(edges, n)
        atom_type = torch.randint(k, (n,), generator=gen)
        charge = torch.randint(c, (n,), generator=gen)
        bond = torch.randint(b, (edges.shape[1],), generator=gen)
        bond = torch.where(edges[0] < edges[1], bond, bond[find(edges[1], edges[0])])
        sc = None
        if self_condition:
            sc = {"pos": pos + 0.3 * torch.randn(n, 3, generator=gen, dtype=dtype),
                  "atom_type": torch.rand(n, k, generator=gen, dtype=dtype),
                  "charge": torch.rand(n, c, generator=gen, dtype=dtype),
                  "bond_type": torch.rand(edges.shape[1], b, generator=gen, dtype=dtype)}
            sc["bond_type"] = (sc["bond_type"] + sc["bond_type"][find(edges[1], edges[0])]) / 2
        out = network(pos, atom_type, charge, bond, t, batch, edge_index=edges, num_graphs=len(sizes), self_cond=sc)
        rev = find(edges[1], edges[0])
        _close(out["bond_type"], out["bond_type"][rev], f"trial {trial}: bond logits not symmetric in (i, j)")
        for reflection in (False, True):
            q = random_orthogonal(dtype, generator=gen, reflection=reflection)
            shift = 5.0 * torch.randn(1, 3, generator=gen, dtype=dtype)
            perm = _within_graph_permutation(batch, gen)  # new atom a is old atom perm[a]
            old_pair = find(perm[edges[0]], perm[edges[1]])  # new pair e is old pair old_pair[e]
            new_sc = None if sc is None else {
                "pos": (sc["pos"] @ q.T + shift)[perm], "atom_type": sc["atom_type"][perm],
                "charge": sc["charge"][perm], "bond_type": sc["bond_type"][old_pair]}
            new = network((pos @ q.T + shift)[perm], atom_type[perm], charge[perm], bond[old_pair], t, batch,
                          edge_index=edges, num_graphs=len(sizes), self_cond=new_sc)
            kind = "reflection" if reflection else "rotation"
            _close(new["pos"], (out["pos"] @ q.T)[perm], f"trial {trial} {kind}: positions not equivariant")
            for key in ("atom_type", "charge"):
                _close(new[key], out[key][perm], f"trial {trial} {kind}: {key} logits not invariant")
            _close(new["bond_type"], out["bond_type"][old_pair], f"trial {trial} {kind}: bond logits not invariant")


def random_pocket(num_graphs: int, pocket_size: int = 12, num_pocket_features: int = 8, dtype=torch.float64, *,
                  generator: torch.Generator | None = None):
    """Random pockets, each centred on the origin: ``(pocket_pos (M, 3), pocket_h (M, F), pocket_batch (M,))``
    with atoms 3-6 Å from the centre (a shell around the ligand)."""
    pocket_batch = torch.arange(num_graphs).repeat_interleave(pocket_size)
    direction = torch.randn(len(pocket_batch), 3, generator=generator, dtype=dtype)
    radius = 3.0 + 3.0 * torch.rand(len(pocket_batch), 1, generator=generator, dtype=dtype)
    pocket_pos = direction / direction.norm(dim=-1, keepdim=True) * radius
    pocket_h = torch.randn(len(pocket_batch), num_pocket_features, generator=generator, dtype=dtype)
    return pocket_pos, pocket_h, pocket_batch


@torch.no_grad()
def assert_pocket_denoiser_equivariant(denoiser, dtype=torch.float64, *, trials: int = 2, sizes=(5, 3, 9),
                                       pocket_size: int = 12, num_features: int | None = None,
                                       num_pocket_features: int | None = None, seed: int = 0) -> None:
    """Assert E(3) x permutation equivariance of a pocket-conditioned denoiser
    ``f(pos, h, t, batch, num_graphs, pocket_pos=, pocket_h=, pocket_batch=)``: rotating (or
    reflecting) and translating ligand and pocket together rotates the position output;
    permuting ligand atoms within molecules and pocket atoms within pockets permutes the
    output with the ligand atoms; features stay invariant. In ``dtype`` (float32: the
    tolerances of :data:`TOLERANCES`)."""
    gen = torch.Generator().manual_seed(seed)
    denoiser = denoiser.to(dtype).eval()
    f = num_features if num_features is not None else denoiser.num_features
    fp = num_pocket_features if num_pocket_features is not None else denoiser.pocket_features
    for trial in range(trials):
        pos, h, t, batch = random_batch(sizes, f, dtype, generator=gen)
        pocket_pos, pocket_h, pocket_batch = random_pocket(len(sizes), pocket_size, fp, dtype, generator=gen)
        out_pos, out_h = denoiser(pos, h, t, batch, len(sizes), pocket_pos=pocket_pos, pocket_h=pocket_h,
                                  pocket_batch=pocket_batch)
        for reflection in (False, True):
            q = random_orthogonal(dtype, generator=gen, reflection=reflection)
            shift = 5.0 * torch.randn(1, 3, generator=gen, dtype=dtype)
            perm = _within_graph_permutation(batch, gen)
            pocket_perm = _within_graph_permutation(pocket_batch, gen)
            new_pos, new_h = denoiser((pos @ q.T + shift)[perm], h[perm], t, batch, len(sizes),
                                      pocket_pos=(pocket_pos @ q.T + shift)[pocket_perm],
                                      pocket_h=pocket_h[pocket_perm], pocket_batch=pocket_batch)
            kind = "reflection" if reflection else "rotation"
            _close(new_pos, (out_pos @ q.T)[perm], f"trial {trial} {kind}: position output not equivariant")
            _close(new_h, out_h[perm], f"trial {trial} {kind}: feature output not invariant")


@torch.no_grad()
def assert_x0_transform_equivariant(make, dtype=torch.float64, *, sizes=(6, 4), pocket_size: int = 20,
                                    num_features: int = 6, trials: int = 2, seed: int = 0,
                                    scale: float = 1.5) -> None:
    """Assert that a guidance transform commutes with rotations and reflections of the pocket
    frame (about the pocket centre, the origin): ``f(x0 Q^T) = f(x0) Q^T`` when the pocket is
    rotated too. ``make(frame)`` returns the transform for a
    :class:`~moldiff.diffusion.guidance.Frame`-like object (attributes ``batch``,
    ``num_graphs``, ``pocket_pos``, ``pocket_batch``, ``elements``, ``pocket_extent``)."""
    from types import SimpleNamespace

    gen = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        x0, h0, t, batch = random_batch(sizes, num_features, dtype, generator=gen)
        x0 = x0 * scale / 1.5
        pocket_pos, _, pocket_batch = random_pocket(len(sizes), pocket_size, 1, dtype, generator=gen)

        def frame(p):
            extent = torch.stack([p[pocket_batch == g].norm(dim=-1).max() for g in range(len(sizes))])
            return SimpleNamespace(batch=batch, num_graphs=len(sizes), pocket_pos=p, pocket_batch=pocket_batch,
                                   elements=("C", "N", "O", "S", "F", "Cl")[:num_features], pocket_extent=extent)

        out = make(frame(pocket_pos))(x0.clone(), h0, t[0])
        for reflection in (False, True):
            q = random_orthogonal(dtype, generator=gen, reflection=reflection)
            moved = make(frame(pocket_pos @ q.T))(x0 @ q.T, h0, t[0])
            kind = "reflection" if reflection else "rotation"
            _close(moved, out @ q.T, f"trial {trial} {kind}: transformed positions not equivariant")
