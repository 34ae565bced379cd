import pytest
import torch

from moldiff.nn import E3NNDenoiser, EGNNDenoiser
from moldiff.nn.egnn import EGNNLayer
from moldiff.nn.graph import full_edges, radius_edges
from moldiff.testing import assert_batch_independent, assert_denoiser_equivariant, random_orthogonal

DTYPES = [torch.float32, torch.float64]


def make(name):
    torch.manual_seed(0)
    if name == "egnn":
        return EGNNDenoiser(6, hidden=32, layers=3)
    if name == "egnn-cutoff":
        return EGNNDenoiser(6, hidden=32, layers=2, cutoff=4.0, max_neighbors=6)
    return E3NNDenoiser(6, scalars=8, vectors=4, layers=2, num_basis=8, radial_hidden=16)


@pytest.mark.parametrize("name", ["egnn", "egnn-cutoff", "e3nn"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_denoisers_are_e3_and_permutation_equivariant(name, dtype):
    assert_denoiser_equivariant(make(name), dtype)


@pytest.mark.parametrize("name", ["egnn", "e3nn"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_denoisers_are_batch_independent(name, dtype):
    assert_batch_independent(make(name), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_egnn_layer_equivariance(dtype):
    torch.manual_seed(0)
    layer = EGNNLayer(16).to(dtype)
    gen = torch.Generator().manual_seed(1)
    batch = torch.tensor([0] * 6)
    h = torch.randn(6, 16, dtype=dtype, generator=gen)
    x = torch.randn(6, 3, dtype=dtype, generator=gen)
    e = full_edges(batch)
    attr = torch.rand(e.shape[1], 1, dtype=dtype, generator=gen)
    h1, x1 = layer(h, x, e, attr)
    for reflection in (False, True):
        q = random_orthogonal(dtype, generator=gen, reflection=reflection)
        h2, x2 = layer(h, x @ q.T + 1.0, e, attr)
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        assert torch.allclose(h2, h1, atol=tol) and torch.allclose(x2, x1 @ q.T + 1.0, atol=tol)


def test_a_broken_model_fails_the_harness():
    class Leaky(EGNNDenoiser):
        def forward(self, pos, h, t, batch, num_graphs=None):
            out_pos, out_h = super().forward(pos, h, t, batch, num_graphs)
            return out_pos, out_h + pos[:, :1]  # features see absolute coordinates

    torch.manual_seed(0)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_denoiser_equivariant(Leaky(6, hidden=16, layers=1))


def test_graph_builders():
    batch = torch.tensor([0, 0, 0, 1, 1, 2])
    e = full_edges(batch)
    assert e.shape == (2, 3 * 2 + 2 * 1 + 0)
    assert (batch[e[0]] == batch[e[1]]).all() and (e[0] != e[1]).all()
    assert len({tuple(p) for p in e.T.tolist()}) == e.shape[1]
    pos = torch.tensor([[0.0, 0, 0], [1, 0, 0], [5, 0, 0], [0, 0, 0], [0.5, 0, 0], [0, 0, 0]])
    r = radius_edges(pos, batch, cutoff=2.0)
    assert sorted(map(tuple, r.T.tolist())) == [(0, 1), (1, 0), (3, 4), (4, 3)]
    k = radius_edges(pos, batch, cutoff=10.0, max_neighbors=1)
    assert sorted(map(tuple, k.T.tolist())) == [(0, 1), (1, 0), (1, 2), (3, 4), (4, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_product_layer_equivariance(dtype):
    from e3nn import o3
    from e3nn.math import soft_one_hot_linspace

    from moldiff.nn.e3nn_denoiser import TPConvLayer

    torch.manual_seed(0)
    irreps_in = o3.Irreps("4x0e + 2x1o")
    layer = TPConvLayer(irreps_in, scalars=4, vectors=3, num_basis=6, radial_hidden=8, avg_neighbors=4.0).to(dtype)
    gen = torch.Generator().manual_seed(2)
    batch = torch.zeros(5, dtype=torch.long)
    pos = torch.randn(5, 3, dtype=dtype, generator=gen)
    h = torch.randn(5, irreps_in.dim, dtype=dtype, generator=gen)
    edges = full_edges(batch)

    def run(p, x):
        vec = p[edges[0]] - p[edges[1]]
        sh = o3.spherical_harmonics([0, 1], vec, normalize=True, normalization="component")
        basis = soft_one_hot_linspace(vec.norm(dim=-1), 0.0, 5.0, 6, basis="gaussian", cutoff=False)
        return layer(x, sh, basis, edges)

    out = run(pos, h)
    for reflection in (False, True):
        q = random_orthogonal(dtype, generator=gen, reflection=reflection)
        d_in = irreps_in.D_from_matrix(q)
        d_out = layer.irreps_out.D_from_matrix(q)
        rotated = run(pos @ q.T + 2.0, h @ d_in.T)
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        assert torch.allclose(rotated, out @ d_out.T, atol=tol)


def test_centre_of_mass_stays_zero_through_sampling():
    from moldiff.diffusion import FeatureCodec, PolynomialSchedule
    from moldiff.diffusion.generate import sample_molecules
    from torch_geometric.utils import scatter

    torch.manual_seed(0)
    codec = FeatureCodec(5)
    denoiser = EGNNDenoiser(codec.num_features, hidden=16, layers=2).eval()
    worst = []
    counts = torch.tensor([4, 9, 6])
    batch = torch.repeat_interleave(torch.arange(3), counts)

    def record(i, t, z, x0):
        worst.append(scatter(z[:, :3], batch, dim=0, reduce="mean").abs().max().item())
        worst.append(scatter(x0[:, :3], batch, dim=0, reduce="mean").abs().max().item())

    mols = sample_molecules(denoiser, PolynomialSchedule(), codec, ("H", "C", "N", "O", "F"), counts, steps=30,
                            generator=torch.Generator().manual_seed(0), callback=record)
    assert len(worst) == 60 and max(worst) < 1e-4  # float32; x0 estimates near t = 1 are ~100 Å
    assert all(abs(m.pos.mean(0)).max() < 1e-4 for m in mols)
