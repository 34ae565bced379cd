"""An E(3)-invariant regressor of molecular properties (the EDM protocol's property classifier).

EDM (Hoogeboom et al. 2022, Sec. 5.3) scores property-conditioned samples with an EGNN
(Satorras et al. 2021) regressor trained on the other half of QM9's training split: one-hot
elements in, EGNN blocks over the fully connected molecule, a node MLP, a sum over atoms, a
graph MLP, and the property normalised by its mean and mean absolute deviation out.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

from moldiff.nn.egnn import EGNNLayer
from moldiff.nn.graph import build_edges


class PropertyEGNN(nn.Module):
    """EGNN regressor ``(pos, atom_type, batch) -> (B, P)`` normalised property values.

    Args:
        num_types: element vocabulary size (``atom_type`` indexes it).
        num_outputs: P, properties predicted at once.
        hidden: width. layers: EGNN blocks.
        coords_range: bound of each block's coordinate step (Å), split over the blocks.
        norm_factor: aggregation divisor.
        cutoff: optional distance graph (Å) instead of the fully connected molecule.

    Shapes: ``pos`` (N, 3) Å, ``atom_type`` (N,) int, ``batch`` (N,) -> (B, P). The output is
    invariant to rotations, translations and reflections of ``pos`` and to the atom order
    within a molecule (sum readout).
    """

    def __init__(self, num_types: int, num_outputs: int = 1, hidden: int = 128, layers: int = 7,
                 coords_range: float = 15.0, norm_factor: float = 1.0, cutoff: float | None = None) -> None:
        super().__init__()
        self.num_types, self.num_outputs, self.cutoff = num_types, num_outputs, cutoff
        self.embed = nn.Linear(num_types, hidden)
        self.layers = nn.ModuleList(EGNNLayer(hidden, 1, coords_range / layers, norm_factor, True)
                                    for _ in range(layers))
        self.node_out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.graph_out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_outputs))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear) and module is not self.layers:
                module.reset_parameters()
        for layer in self.layers:  # keep EGNN's near-zero initial coordinate steps
            nn.init.xavier_uniform_(layer.coord_mlp[-1].weight, gain=0.001)

    def forward(self, pos: torch.Tensor, atom_type: torch.Tensor, batch: torch.Tensor,
                num_graphs: int | None = None) -> torch.Tensor:
        num_graphs = int(batch.max()) + 1 if num_graphs is None else num_graphs
        edge_index = build_edges(pos, batch, self.cutoff, None)
        src, dst = edge_index
        d2 = ((pos[dst] - pos[src]) ** 2).sum(-1, keepdim=True)
        h = self.embed(nn.functional.one_hot(atom_type, self.num_types).to(pos.dtype))
        x = pos
        for layer in self.layers:
            h, x = layer(h, x, edge_index, d2)
        pooled = scatter(self.node_out(h), batch, dim=0, dim_size=num_graphs, reduce="sum")
        return self.graph_out(pooled)
