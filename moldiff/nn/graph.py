"""Graph construction in plain torch (no torch-cluster / pyg-lib needed)."""
from __future__ import annotations

import torch


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
