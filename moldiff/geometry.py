"""Coordinates and graphs, the one home of each operation every layer uses: centring,
superposition (Kabsch), rotations and neighbour graphs.

A leaf module (torch, numpy, e3nn only): chemistry, data, networks, diffusion and docking
import from here rather than keeping their own copies.

Conventions: positions are rows, ``(N, 3)``; a rotation ``R`` acts as ``x @ R.T``;
``batch`` (N,) assigns rows to graphs and is sorted, as PyG batching produces.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.utils import scatter


# --- centring -----------------------------------------------------------------------
def graph_means(x: torch.Tensor, batch: torch.Tensor, num_graphs: int | None = None) -> torch.Tensor:
    """Per-graph mean of ``x`` (N, D): (G, D)."""
    return scatter(x, batch, dim=0, dim_size=num_graphs, reduce="mean")


def remove_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int | None = None) -> torch.Tensor:
    """``x`` (N, D) with each graph's mean subtracted (zero centre of geometry, EDM's
    centre-of-mass-free subspace)."""
    return x - graph_means(x, batch, num_graphs)[batch]


# --- superposition ------------------------------------------------------------------
def kabsch_rotation(a: torch.Tensor, b: torch.Tensor, *, proper: bool = True) -> torch.Tensor:
    """The orthogonal ``R`` (..., 3, 3) minimising ``|a @ R.T - b|`` for centred point sets
    ``a``, ``b`` (..., n, 3) (Kabsch 1976). ``proper``: a rotation (det +1, chirality kept);
    ``False``: reflections allowed (orthogonal Procrustes)."""
    return rotation_from_covariance(a.transpose(-1, -2) @ b, proper=proper)


def rotation_from_covariance(cov: torch.Tensor, *, proper: bool = True) -> torch.Tensor:
    """:func:`kabsch_rotation` from the covariance ``a.T @ b`` (..., 3, 3) (molecules of
    different sizes in one batch: sum per molecule first)."""
    u, _, vt = torch.linalg.svd(cov)
    if proper:
        d = torch.sign(torch.linalg.det(vt.transpose(-1, -2) @ u.transpose(-1, -2)))
        d = torch.where(d == 0, torch.ones_like(d), d)
        fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
        return vt.transpose(-1, -2) @ fix @ u.transpose(-1, -2)
    return vt.transpose(-1, -2) @ u.transpose(-1, -2)


def kabsch(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Proper rotation ``R`` and translation ``t`` minimising ``|mobile @ R.T + t - target|``
    for two (n, 3) arrays; returns ``(R, t, rmsd)`` (numpy, float64)."""
    mobile, target = np.asarray(mobile, dtype=np.float64), np.asarray(target, dtype=np.float64)
    mc, tc = mobile.mean(0), target.mean(0)
    rot = kabsch_rotation(torch.from_numpy(mobile - mc), torch.from_numpy(target - tc)).numpy()
    moved = (mobile - mc) @ rot.T + tc
    return rot, tc - mc @ rot.T, float(np.sqrt(((moved - target) ** 2).sum(-1).mean()))


def superpose(pos: np.ndarray, target: np.ndarray, atoms) -> tuple[np.ndarray, float]:
    """All of ``pos`` moved by the rigid motion that best fits ``pos[atoms]`` onto ``target``
    (:func:`kabsch`); returns ``(moved positions, fit RMSD)``."""
    rot, shift, rmsd = kabsch(pos[atoms], target)
    return pos @ rot.T + shift, rmsd


# --- rotations ----------------------------------------------------------------------
def random_orthogonal(dtype=torch.float64, *, generator: torch.Generator | None = None,
                      reflection: bool | None = None, n: int | None = None) -> torch.Tensor:
    """A Haar-random 3x3 orthogonal matrix (``n``: a stack of ``n``, (n, 3, 3)): the Q of a
    Gaussian matrix's QR decomposition with the signs of R's diagonal taken out (Mezzadri
    2007). ``reflection`` forces det = -1 (True) or +1 (False, a rotation), ``None`` picks
    either at random. A seeded ``generator`` makes it reproducible."""
    a = torch.randn(1 if n is None else n, 3, 3, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    if reflection is None:
        want = torch.randint(2, (len(q),), generator=generator).bool()
    else:
        want = torch.full((len(q),), bool(reflection))
    flip = (torch.linalg.det(q) < 0) != want
    q[flip, :, 0] = -q[flip, :, 0]
    q = q.to(dtype)
    return q[0] if n is None else q


def random_rotations(n: int, *, generator: torch.Generator | None = None, dtype=torch.float64) -> torch.Tensor:
    """``n`` Haar-uniform rotations (n, 3, 3) (:func:`random_orthogonal` with det +1)."""
    return random_orthogonal(dtype, generator=generator, reflection=False, n=n)


def rotvec_to_matrix(w: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotations of rotation vectors ``w`` (B, 3) (Rodrigues' formula, series-expanded
    near 0 so it stays differentiable there, which e3nn's axis-angle form is not)."""
    theta2 = (w * w).sum(-1)[:, None, None]
    k = torch.zeros(len(w), 3, 3, dtype=w.dtype, device=w.device)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    k = k - k.transpose(1, 2)
    theta = torch.sqrt(theta2 + 1e-24)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp(min=1e-24))
    return torch.eye(3, dtype=w.dtype, device=w.device) + a * k + b * (k @ k)


# --- neighbour graphs (plain torch: no torch-cluster / pyg-lib needed) -------------------
def full_edges(batch: torch.Tensor) -> torch.Tensor:
    """All ordered pairs ``i != j`` within each graph: (2, E) ``[source, target]``.

    ``batch`` must be sorted (as PyG batching produces). Memory is O(sum n_g^2).
    """
    counts = torch.bincount(batch)
    ptr = torch.zeros(len(counts) + 1, dtype=torch.long, device=batch.device)
    ptr[1:] = counts.cumsum(0)
    edges = []
    for n in counts.unique().tolist():  # one vectorised block per distinct graph size
        graphs = (counts == n).nonzero().flatten()
        local = torch.ones(n, n, dtype=torch.bool, device=batch.device).fill_diagonal_(False).nonzero()
        offsets = ptr[graphs][:, None, None]  # (G, 1, 1)
        edges.append((local.T[None] + offsets).permute(1, 0, 2).reshape(2, -1))
    if not edges:
        return torch.zeros(2, 0, dtype=torch.long, device=batch.device)
    return torch.cat(edges, dim=1)


def radius_edges(pos: torch.Tensor, batch: torch.Tensor, cutoff: float, max_neighbors: int | None = None) -> torch.Tensor:
    """Pairs within ``cutoff`` Å in the same graph, optionally the ``max_neighbors`` nearest: (2, E).

    Dense ``torch.cdist`` per call: fine up to a few thousand atoms per batch.
    """
    dist = torch.cdist(pos, pos)
    same = batch[:, None] == batch[None, :]
    dist = dist.masked_fill(~same, float("inf")).fill_diagonal_(float("inf"))
    if max_neighbors is not None and max_neighbors < pos.shape[0] - 1:
        k = max_neighbors
        vals, idx = dist.topk(k, dim=1, largest=False)
        target = torch.arange(pos.shape[0], device=pos.device)[:, None].expand(-1, k)
        keep = vals <= cutoff
        return torch.stack([idx[keep], target[keep]])
    source, target = (dist <= cutoff).nonzero().T
    return torch.stack([source, target])


def build_edges(pos: torch.Tensor, batch: torch.Tensor, cutoff: float | None = None,
                max_neighbors: int | None = None) -> torch.Tensor:
    """Fully connected within each molecule when ``cutoff`` is None, else :func:`radius_edges`."""
    if cutoff is None:
        return full_edges(batch)
    return radius_edges(pos, batch, cutoff, max_neighbors)
