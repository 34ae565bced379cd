"""An e3nn tensor-product denoiser (NequIP/Tensor-Field-Network style convolutions).

Each layer: spherical harmonics (l <= 1) of the edge vectors, a radial MLP on a
Gaussian basis of the edge length producing per-edge tensor-product weights, a
tensor-product convolution ``h_j (x) Y(r_ij)`` summed over neighbours, a gated
nonlinearity (Weiler et al. 2018) and a self-connection. The last layer emits
``F x 0e`` (feature output, invariant) and ``1 x 1o`` (position output, a vector that
rotates with the input and flips under reflection). Keep the irreps small on CPU.
"""
from __future__ import annotations

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn
from torch_geometric.utils import scatter

from moldiff.geometry import remove_mean
from moldiff.nn.graph import build_edges


class TPConvLayer(nn.Module):
    """Gated tensor-product convolution ``irreps_in -> scalars x 0e + vectors x 1o``."""

    def __init__(self, irreps_in: o3.Irreps, scalars: int, vectors: int, num_basis: int, radial_hidden: int,
                 avg_neighbors: float) -> None:
        super().__init__()
        self.irreps_sh = o3.Irreps.spherical_harmonics(1)
        gated = o3.Irreps(f"{vectors}x1o")
        self.gate = Gate(f"{scalars}x0e", [torch.nn.functional.silu], f"{vectors}x0e", [torch.sigmoid], gated)
        self.tp = o3.FullyConnectedTensorProduct(irreps_in, self.irreps_sh, self.gate.irreps_in, shared_weights=False)
        self.radial = FullyConnectedNet([num_basis, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu)
        self.self_connection = o3.Linear(irreps_in, self.gate.irreps_out)
        self.num_basis = num_basis
        self.avg_neighbors = avg_neighbors
        self.irreps_out = self.gate.irreps_out

    def forward(self, h, sh, radial_basis, edge_index):
        src, dst = edge_index
        msg = self.tp(h[src], sh, self.radial(radial_basis))
        agg = scatter(msg, dst, dim=0, dim_size=h.shape[0], reduce="sum") / self.avg_neighbors**0.5
        return self.gate(agg) + self.self_connection(h)


class E3NNDenoiser(nn.Module):
    """Tensor-product denoiser; same interface as :class:`moldiff.nn.egnn.EGNNDenoiser`.

    Args:
        num_features: atom feature channels.
        scalars, vectors: hidden irreps ``scalars x 0e + vectors x 1o``.
        layers: convolutions. num_basis: radial Gaussians on [0, max_radius] Å.
        radial_hidden: width of the radial MLP. avg_neighbors: message normaliser.
        cutoff, max_neighbors: optional distance graph instead of fully connected.
    """

    def __init__(self, num_features: int, scalars: int = 32, vectors: int = 8, layers: int = 4, num_basis: int = 16,
                 max_radius: float = 10.0, radial_hidden: int = 64, avg_neighbors: float = 18.0,
                 cutoff: float | None = None, max_neighbors: int | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.max_radius, self.num_basis = max_radius, num_basis
        self.embed = nn.Linear(num_features + 1, scalars)
        irreps = o3.Irreps(f"{scalars}x0e")
        self.convs = nn.ModuleList()
        for _ in range(layers):
            conv = TPConvLayer(irreps, scalars, vectors, num_basis, radial_hidden, avg_neighbors)
            self.convs.append(conv)
            irreps = conv.irreps_out
        self.readout = o3.Linear(irreps, o3.Irreps(f"{num_features}x0e + 1x1o"))

    def forward(self, pos, h, t, batch, num_graphs: int | None = None):
        edge_index = build_edges(pos, batch, self.cutoff, self.max_neighbors)
        src, dst = edge_index
        vec = pos[src] - pos[dst]
        sh = o3.spherical_harmonics([0, 1], vec, normalize=True, normalization="component")
        basis = soft_one_hot_linspace(vec.norm(dim=-1), 0.0, self.max_radius, self.num_basis, basis="gaussian",
                                      cutoff=False)
        feat = self.embed(torch.cat([h, t[batch].unsqueeze(-1).to(h.dtype)], dim=-1))
        for conv in self.convs:
            feat = conv(feat, sh, basis, edge_index)
        out = self.readout(feat)
        out_h, out_pos = out[:, : self.num_features], out[:, self.num_features :]
        return remove_mean(out_pos, batch, num_graphs), out_h
