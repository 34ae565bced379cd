"""E(n)-equivariant graph network (Satorras et al. 2021) in EDM's denoiser variant.

EDM (Hoogeboom et al. 2022, App. C): attention-gated messages, coordinate updates
``x_i += sum_j (x_i - x_j) / (|x_i - x_j| + 1) * tanh(phi_x(m_ij)) * coords_range``
(normalised differences, tanh-bounded steps), squared distances of the current and the
input coordinates as edge features, sum aggregation divided by ``norm_factor``.

For speed, ``phi_x`` reads the layer's edge message ``m_ij`` (as in Satorras et al.)
rather than a second edge MLP over the updated features (EDM), and the first linear
layer of the edge MLP is split into per-node projections: one pass over the edges per
layer, where the edge count (sum of n^2) dominates the cost.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

from moldiff.geometry import remove_mean
from moldiff.nn.graph import build_edges


class _PairMLP(nn.Module):
    """``MLP([h_dst, h_src, e])`` for every edge, computed without materialising the concatenation.

    The first linear layer splits into per-node projections gathered onto edges
    (``W [a, b, e] = W_a a + W_b b + W_e e``): the same function class as the
    concatenating MLP at a fraction of the cost when edges outnumber nodes.
    """

    def __init__(self, hidden: int, edge_dim: int, out_layers: list[nn.Module]) -> None:
        super().__init__()
        self.dst = nn.Linear(hidden, hidden)
        self.src = nn.Linear(hidden, hidden, bias=False)
        self.edge = nn.Linear(edge_dim, hidden, bias=False)
        self.act = nn.SiLU()
        self.rest = nn.Sequential(*out_layers)

    def forward(self, h, edge_index, edge_feat):
        src, dst = edge_index
        return self.rest(self.act(self.dst(h)[dst] + self.src(h)[src] + self.edge(edge_feat)))


class EGNNLayer(nn.Module):
    """One EGNN block: invariant feature update, then an equivariant coordinate update.

    Args:
        hidden: feature width.
        edge_dim: extra edge features (here the squared input distance).
        coords_range: bound of each pair's coordinate step (Å), EDM's ``coords_range``.
        norm_factor: aggregation divisor (EDM ``normalization_factor``).
        attention: gate messages with a sigmoid attention weight.
    """

    def __init__(self, hidden: int, edge_dim: int = 1, coords_range: float = 15.0, norm_factor: float = 1.0,
                 attention: bool = True) -> None:
        super().__init__()
        act = nn.SiLU()
        self.edge_mlp = _PairMLP(hidden, 1 + edge_dim, [nn.Linear(hidden, hidden), act])
        self.att_mlp = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid()) if attention else None
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), act, nn.Linear(hidden, hidden))
        last = nn.Linear(max(hidden // 4, 1), 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        # phi_x reads the edge message m_ij, as in Satorras et al.: no second pass over the edges
        self.coord_mlp = nn.Sequential(nn.Linear(hidden, max(hidden // 4, 1)), act, last)
        self.coords_range = coords_range
        self.norm_factor = norm_factor

    def forward(self, h, x, edge_index, edge_attr, edge_weight=None):
        """h: (N, hidden), x: (N, 3) Å, edge_index: (2, E), edge_attr: (E, edge_dim) -> (h, x).

        ``edge_weight`` (E, 1): optional per-edge factor on messages and coordinate steps
        (e.g. a smaller weight for the many protein neighbours of a ligand atom)."""
        src, dst = edge_index
        diff = x[dst] - x[src]
        d2 = (diff**2).sum(-1, keepdim=True)
        edge_feat = torch.cat([d2, edge_attr], dim=-1)
        m = self.edge_mlp(h, edge_index, edge_feat)
        if self.att_mlp is not None:
            m = m * self.att_mlp(m)
        agg_m = m if edge_weight is None else m * edge_weight
        agg = scatter(agg_m, dst, dim=0, dim_size=h.shape[0], reduce="sum") / self.norm_factor
        h = h + self.node_mlp(torch.cat([h, agg], dim=-1))
        step = diff / (d2.sqrt() + 1.0) * torch.tanh(self.coord_mlp(m)) * self.coords_range
        if edge_weight is not None:
            step = step * edge_weight
        x = x + scatter(step, dst, dim=0, dim_size=x.shape[0], reduce="sum") / self.norm_factor
        return h, x


class EGNNDenoiser(nn.Module):
    """EGNN noise/x0 predictor for (positions, atom features) at time ``t``.

    Args:
        num_features: atom feature channels (one-hot types + charge).
        hidden: width. layers: number of EGNN blocks.
        coords_range, norm_factor, attention: see :class:`EGNNLayer`.
        cutoff, max_neighbors: if ``cutoff`` is set, edges within it (and the k nearest)
            instead of a fully connected graph per molecule (large systems).
        context_dim: C, per-molecule conditioning values (normalised properties; EDM feeds
            them to every atom's input features, Hoogeboom et al. 2022, Sec. 5.3). 0: none.

    ``forward(pos (N,3), h (N,F), t (B,), batch (N,), condition=None (B, C),
    condition_mask=None (B,) bool)`` returns ``(out_pos (N,3), out_h (N,F))``: the position
    output is CoM-free and E(3)-equivariant, the feature output invariant. A molecule whose
    ``condition_mask`` is False (or all molecules, with ``condition=None``) sees no condition:
    the values are zeroed and a presence channel tells the network so (classifier-free
    guidance trains both; Ho & Salimans 2022).
    """

    def __init__(self, num_features: int, hidden: int = 128, layers: int = 6, coords_range: float = 15.0,
                 norm_factor: float = 1.0, attention: bool = True, cutoff: float | None = None,
                 max_neighbors: int | None = None, context_dim: int = 0) -> None:
        super().__init__()
        self.num_features, self.context_dim = num_features, context_dim
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        # inputs: features, time, then (if conditional) the condition values and their presence
        self.embed = nn.Linear(num_features + 1 + (context_dim + 1 if context_dim else 0), hidden)
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, 1, coords_range / layers, norm_factor, attention) for _ in range(layers)
        )
        self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_features))

    def _condition_inputs(self, condition, condition_mask, batch, num_graphs, dtype):
        if condition is None:
            return torch.zeros(len(batch), self.context_dim + 1, dtype=dtype, device=batch.device)
        if condition.shape[-1] != self.context_dim:
            raise ValueError(f"condition has {condition.shape[-1]} values per molecule, the network takes "
                             f"{self.context_dim}")
        present = torch.ones(len(condition), 1, dtype=dtype, device=condition.device) if condition_mask is None \
            else condition_mask.to(dtype).reshape(-1, 1)
        return torch.cat([condition.to(dtype) * present, present], dim=-1)[batch]

    def forward(self, pos, h, t, batch, num_graphs: int | None = None, condition=None, condition_mask=None):
        if condition is not None and not self.context_dim:
            raise ValueError("this network was built without conditioning (context_dim=0)")
        edge_index = build_edges(pos, batch, self.cutoff, self.max_neighbors)
        src, dst = edge_index
        d2_input = ((pos[dst] - pos[src]) ** 2).sum(-1, keepdim=True)
        inputs = [h, t[batch].unsqueeze(-1).to(h.dtype)]
        if self.context_dim:
            inputs.append(self._condition_inputs(condition, condition_mask, batch, num_graphs, h.dtype))
        feat = self.embed(torch.cat(inputs, dim=-1))
        x = pos
        for layer in self.layers:
            feat, x = layer(feat, x, edge_index, d2_input)
        out_pos = remove_mean(x - pos, batch, num_graphs)
        return out_pos, self.out(feat)
