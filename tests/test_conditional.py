"""Property-conditioned generation: QM9 properties and EDM's halves, the conditional EGNN,
classifier-free guidance (exact on a toy Gaussian), conditional training and sampling, the
property classifier and the protocol's reference lines."""
from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from moldiff.diffusion.sampler import sample_ddim, sample_ddpm
from moldiff.diffusion.schedule import PolynomialSchedule
from moldiff.diffusion.wrappers import ClassifierFreeGuidance, MolecularEps, MolecularNoise
from moldiff.errors import InputError
from moldiff.nn.egnn import EGNNDenoiser
from moldiff.testing import assert_denoiser_equivariant
from moldiff.testing.equivariance import random_batch


# --- data ------------------------------------------------------------------------------
def test_qm9_properties_units_and_edm_halves():
    from moldiff.data.qm9 import QM9Dataset, load_qm9, split_indices
    from moldiff.data.qm9_properties import PROPERTIES, edm_half, load_qm9_properties, mean_mad

    values = load_qm9_properties()
    arrays = load_qm9()
    assert values.shape == (len(arrays), len(PROPERTIES))
    first, second = edm_half("first"), edm_half("second")
    train = split_indices("train")
    assert len(first) == len(second) == 50_000 and not set(first) & set(second)
    assert set(first) | set(second) == set(train)
    # EDM's own permutation: numpy.random.seed(42); permutation(100000), cut in the middle
    np.random.seed(42)
    perm = np.random.permutation(100_000)
    assert np.array_equal(first, train[perm[:50_000]])
    # methane (gdb 1): alpha 13.21 Bohr^3, gap 0.5048 Ha = 13,736 meV, Cv 6.469
    row = int(np.flatnonzero(arrays.index.numpy() == 1)[0])
    alpha, gap, homo, lumo, mu, cv = values[row].tolist()
    assert alpha == pytest.approx(13.21) and gap == pytest.approx(0.5048 * 27211.386, rel=1e-6)
    assert homo == pytest.approx(-0.3877 * 27211.386, rel=1e-6) and mu == 0.0 and cv == pytest.approx(6.469)
    assert gap == pytest.approx(lumo - homo, abs=1.0)
    # EDM's normalisation figures for alpha on the generator's half: mean ~75, MAD ~6.3
    mean, mad = mean_mad(values[second][:, 0:1])
    assert 74 < float(mean) < 77 and 5.8 < float(mad) < 6.8
    ds = QM9Dataset("train", half="second", properties=["alpha", "gap"], limit=5)
    b = ds.collate(range(5))
    assert b.y.shape == (5, 2) and torch.allclose(b.y.double(), values[second[:5]][:, :2].float().double())
    assert torch.equal(ds[3].y, b.y[3:4])
    with pytest.raises(InputError, match="train split only"):
        QM9Dataset("val", half="first")
    with pytest.raises(InputError, match="unknown QM9 property"):
        QM9Dataset("val", properties=["polarisability"])


# --- the conditional network -------------------------------------------------------------
def _conditional_egnn(context_dim=2, seed=0):
    torch.manual_seed(seed)
    net = EGNNDenoiser(6, hidden=16, layers=2, context_dim=context_dim).double().eval()
    with torch.no_grad():  # make the condition matter (a fresh layer's weights are small but not zero)
        net.embed.weight[:, -context_dim - 1:].normal_()
    return net


def test_conditional_egnn_is_equivariant_and_masks_its_condition():
    net = _conditional_egnn()
    cond = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.0]], dtype=torch.float64)

    class WithCondition(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.num_features = net, net.num_features

        def forward(self, *args):
            return self.net(*args, condition=cond)

    assert_denoiser_equivariant(WithCondition(), sizes=(5, 3, 9))
    pos, h, t, batch = random_batch((5, 3, 9), 6, torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = net(pos, h, t, batch, 3)
        masked = net(pos, h, t, batch, 3, condition=cond, condition_mask=torch.zeros(3, dtype=torch.bool))
        given = net(pos, h, t, batch, 3, condition=cond)
        other = net(pos, h, t, batch, 3, condition=cond + 1.0)
    assert torch.equal(plain[0], masked[0]) and torch.equal(plain[1], masked[1])
    assert (given[1] - other[1]).abs().max() > 1e-3 and (given[1] - plain[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="3 values per molecule"):
        net(pos, h, t, batch, 3, condition=torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="without conditioning"):
        EGNNDenoiser(6, hidden=8, layers=1)(pos.float(), h.float(), t.float(), batch, 3, condition=cond.float())


def test_guidance_batches_both_passes_into_one_call():
    net = _conditional_egnn()
    cond = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.0]], dtype=torch.float64)
    pos, h, t, batch = random_batch((5, 3, 9), 6, torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        c = net(pos, h, t, batch, 3, condition=cond)
        u = net(pos, h, t, batch, 3)
        for scale in (0.0, 1.0, 2.5):
            out = ClassifierFreeGuidance(net, cond, scale)(pos, h, t, batch, 3)
            for k in range(2):
                assert torch.allclose(out[k], u[k] + scale * (c[k] - u[k]), atol=1e-10)


def test_widened_input_layer_starts_as_the_unconditional_model():
    from moldiff.training.run import _widen_inputs

    torch.manual_seed(0)
    plain = EGNNDenoiser(6, hidden=16, layers=2).double().eval()
    cond = EGNNDenoiser(6, hidden=16, layers=2, context_dim=1).double().eval()
    cond.load_state_dict(_widen_inputs(cond.state_dict(), plain.state_dict(), "test"))
    pos, h, t, batch = random_batch((4, 6), 6, torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = plain(pos, h, t, batch, 2)
        b = cond(pos, h, t, batch, 2, condition=torch.tensor([[1.5], [-2.0]], dtype=torch.float64))
    assert torch.allclose(a[0], b[0], atol=1e-12) and torch.allclose(a[1], b[1], atol=1e-12)


# --- classifier-free guidance on a toy with exact denoisers ----------------------------------
SIGMA = 0.5  # data: c ~ N(0, 1), h | c ~ N(c, SIGMA^2); so h ~ N(0, 1 + SIGMA^2) without c


class ExactToy(torch.nn.Module):
    """The exact noise prediction E[eps | z_t] of a one-atom "molecule" whose feature h given the
    condition c is N(c, SIGMA^2) (and N(0, 1 + SIGMA^2) without it); positions are N(0, I)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, pos, h, t, batch, num_graphs, condition=None, condition_mask=None):
        a, s = self.schedule.alpha(t)[batch, None], self.schedule.sigma(t)[batch, None]
        eps_pos = s * pos / (a**2 + s**2)
        if condition is None:
            mean, var = torch.zeros_like(h), torch.full_like(h, 1 + SIGMA**2)
        else:
            keep = torch.ones(len(condition), dtype=torch.bool) if condition_mask is None else condition_mask
            mean = torch.where(keep[:, None], condition, 0.0)[batch]
            var = torch.where(keep[:, None], torch.full_like(condition, SIGMA**2),
                              torch.full_like(condition, 1 + SIGMA**2))[batch]
        return eps_pos, s * (h - a * mean) / (a**2 * var + s**2)


@pytest.mark.parametrize("sampler", [sample_ddpm, sample_ddim], ids=["ddpm", "ddim"])
def test_guidance_scale_one_is_the_conditional_and_zero_the_unconditional_distribution(sampler):
    schedule = PolynomialSchedule()
    n, c = 20_000, 1.2
    toy = ExactToy(schedule).double()
    batch = torch.arange(n)
    gen = torch.Generator().manual_seed(0)
    stats = {}
    for scale in (0.0, 1.0, 3.0):
        guided = ClassifierFreeGuidance(toy, torch.full((n, 1), c, dtype=torch.float64), scale)
        eps_fn = MolecularEps(guided, schedule, "eps", batch, n, com_free=False)
        noise = MolecularNoise(batch, n, com_free=False)
        z = noise(torch.zeros(n, 4, dtype=torch.float64), gen)
        x = sampler(eps_fn, schedule, z, 200, noise_fn=noise, generator=gen)
        stats[scale] = (float(x[:, 3].mean()), float(x[:, 3].std()))
    assert stats[1.0][0] == pytest.approx(c, abs=0.02) and stats[1.0][1] == pytest.approx(SIGMA, rel=0.05)
    assert stats[0.0][0] == pytest.approx(0.0, abs=0.03) and stats[0.0][1] == pytest.approx((1 + SIGMA**2) ** 0.5,
                                                                                             rel=0.05)
    # a scale > 1 pushes past the conditional mean, away from the unconditional one
    assert stats[3.0][0] > c + 0.1 and stats[3.0][1] < SIGMA


# --- conditional training and sampling end to end ----------------------------------------
@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.run import train

    out = tmp_path_factory.mktemp("cond")
    path = out / "cond.yaml"
    path.write_text(f"""
data: {{name: qm9, half: second, batch_size: 8, limit_train: 64, limit_val: 16}}
model: {{name: egnn, hidden: 16, layers: 2}}
conditioning: {{properties: [alpha, gap], drop_prob: 0.2, guidance_scale: 1.5}}
sampling: {{every_n_epochs: 0, steps: 5}}
trainer: {{output_dir: {out / 'run'}, max_epochs: 1, accelerator: cpu, devices: 1, tensorboard: false}}
""")
    return train(load_config(path, TrainConfig), progress=False)


def test_conditional_model_samples_what_it_is_asked_for(conditional_run, tmp_path):
    import moldiff
    from moldiff.data.qm9_properties import edm_half, load_qm9_properties

    model = moldiff.load(conditional_run)
    assert model.condition_names == ("alpha", "gap") and model.default_guidance_scale == 1.5
    # the kept (count, value) rows come from the second half, the one trained on
    second = load_qm9_properties()[edm_half("second")[:64]][:, :2].float()
    assert all((second == row).all(1).any() for row in model.condition_table[:, 1:])
    info = model.info()["conditioning"]
    assert info["properties"] == ["alpha", "gap"] and info["range"]["alpha"][0] < info["range"]["alpha"][1]
    kw = dict(steps=4, seed=3, condition={"alpha": 80.0, "gap": [6000.0, 7000.0, 8000.0]}, guidance_scale=2.0)
    a, b = model.sample_mol3d(3, **kw), model.sample_mol3d(3, **kw)
    assert all(np.array_equal(x.pos, y.pos) and x.symbols == y.symbols for x, y in zip(a, b))
    assert [m.props["moldiff_condition_gap"] for m in a] == [6000.0, 7000.0, 8000.0]
    c = model.sample_mol3d(3, **{**kw, "guidance_scale": 0.0})
    assert any(not np.array_equal(x.pos, y.pos) for x, y in zip(a, c) if len(x.pos) == len(y.pos))
    mols = model.sample(2, steps=3, seed=1, condition={"alpha": 70.0, "gap": 7000.0}, return_invalid=True)
    assert mols[0].GetDoubleProp("moldiff_condition_alpha") == 70.0
    assert mols[0].GetDoubleProp("moldiff_guidance_scale") == 1.5
    drawn = model.sample_mol3d(4, steps=2, seed=0)  # no condition: (count, values) rows of the training data
    rows = {tuple(r) for r in model.condition_table.tolist()}
    assert all((float(m.num_atoms), np.float32(m.props["moldiff_condition_alpha"]).item(),
                np.float32(m.props["moldiff_condition_gap"]).item()) in rows for m in drawn)
    for bad, match in (({"alpha": 80.0}, "missing gap"), ({"alpha": 80.0, "gap": 1.0, "mu": 2.0}, "not mu"),
                       ({"alpha": float("inf"), "gap": 1.0}, "finite"), ({"alpha": [1.0], "gap": 1.0}, "1 values")):
        with pytest.raises(InputError, match=match):
            model.sample_mol3d(3, steps=2, condition=bad)
    from moldiff.checkpoint import export_model

    export_model(conditional_run, tmp_path / "exported.pt")  # what sampling needs, conditioning included
    exported = moldiff.load(tmp_path / "exported.pt")
    assert exported.condition_names == model.condition_names
    assert torch.equal(exported.condition_table, model.condition_table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.sample_mol3d(1, steps=2, seed=0, condition={"alpha": 500.0, "gap": 7000.0})
    assert any("outside the training range" in str(w.message) for w in caught)


def test_conditional_command_line(conditional_run, tmp_path):
    out = tmp_path / "c.sdf"
    cmd = [sys.executable, "-m", "moldiff", "sample", "-q", "--model", str(conditional_run), "-n", "2",
           "--steps", "3", "-o", str(out)]
    ok = subprocess.run(cmd + ["--condition", "alpha=75", "--condition", "gap=7000", "--guidance-scale", "2"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "<moldiff_condition_alpha>" in out.read_text() and "<moldiff_guidance_scale>" in out.read_text()
    for extra, message in ((["--condition", "alpha"], "write NAME=VALUE"),
                           (["--condition", "alpha=big", "--condition", "gap=1"], "not a number"),
                           (["--condition", "alpha=1", "--condition", "mu=1"], "not mu")):
        bad = subprocess.run(cmd + extra, capture_output=True, text=True)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr
    plain = subprocess.run([sys.executable, "-m", "moldiff", "sample", "-q", "-n", "1", "--steps", "2", "-o",
                            str(tmp_path / "p.sdf"), "--condition", "alpha=80"], capture_output=True, text=True)
    assert plain.returncode != 0 and "unconditional model" in plain.stderr


def test_conditioning_config_is_checked():
    from moldiff.config import TrainConfig, from_dict
    from moldiff.training.build import check_task

    with pytest.raises(InputError, match="unknown property"):
        from_dict(TrainConfig, {"conditioning": {"properties": ["beta"]}})
    with pytest.raises(InputError, match="half"):
        from_dict(TrainConfig, {"data": {"name": "qm9", "half": "third"}})
    cfg = from_dict(TrainConfig, {"conditioning": {"properties": ["alpha"]}, "model": {"name": "e3nn"}})
    with pytest.raises(InputError, match="model.name egnn"):
        check_task(cfg)


# --- the property classifier --------------------------------------------------------------
def test_property_classifier_trains_resumes_and_scores(tmp_path):
    from moldiff.chem.molecule import Mol3D
    from moldiff.data.qm9 import qm9_molecules
    from moldiff.property_classifier import PropertyClassifier, reference_lines, train_classifier

    kw = dict(steps=30, batch_size=16, hidden=16, layers=2, limit=256, val_limit=32, val_every=10, progress=False)
    clf = train_classifier("alpha", tmp_path / "clf", max_minutes=None, **{**kw, "steps": 30})
    history = (tmp_path / "clf" / "history.json").read_text()
    assert clf.names == ("alpha",) and '"step": 30' in history
    # a rerun with the same settings continues (nothing left to do); other settings are refused
    again = train_classifier("alpha", tmp_path / "clf", **kw)
    assert again.card["step"] == clf.card["step"]
    with pytest.raises(InputError, match="other settings"):
        train_classifier("alpha", tmp_path / "clf", **{**kw, "lr": 0.5})
    mols = qm9_molecules("val", limit=4)
    pred = clf.predict(mols)
    assert pred.shape == (4, 1) and np.isfinite(pred).all()
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    moved = [Mol3D(m.symbols, m.pos @ q.T + 3.0, m.charge) for m in mols]
    assert np.allclose(clf.predict(moved), pred, atol=1e-3)
    loaded = PropertyClassifier.load(tmp_path / "clf" / "classifier.pt")
    assert np.allclose(loaded.predict(mols), pred)
    with pytest.raises(InputError, match="vocabulary"):
        clf.predict([Mol3D(["C", "Cl"], np.zeros((2, 3)))])
    lines = reference_lines(clf, limit=200)["alpha"]
    assert lines["molecules"] == 200 and 0 < lines["atoms_only"] < lines["upper_bound"]
    # a crafted file is refused without running it
    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "moldiff-property-classifier", "x": Boom()}, evil)
    with pytest.raises(InputError):
        PropertyClassifier.load(evil)


def test_shipped_alpha_classifier_predicts_real_molecules():
    from moldiff.data.qm9 import qm9_molecules
    from moldiff.data.qm9_properties import load_qm9_properties
    from moldiff.data.qm9 import split_indices
    from moldiff.property_classifier import PropertyClassifier

    clf = PropertyClassifier.load("alpha")
    assert clf.names == ("alpha",) and clf.card["reference_lines_on_second_half"]["lower_bound_classifier_on_real_molecules"] < 1
    mols = qm9_molecules("test", limit=300)  # never seen in training (first half of the training split)
    true = load_qm9_properties()[split_indices("test")[:300], 0].numpy()
    mae = float(np.abs(clf.predict(mols)[:, 0] - true).mean())
    assert mae < 1.0, mae  # its card: 0.52 on the second half; the atom count alone gives 3.8
    with pytest.raises(InputError, match="no shipped property classifier"):
        PropertyClassifier.load("beta")


def test_shipped_qm9_classifier_predicts_five_properties_of_real_molecules():
    from moldiff.data.qm9 import qm9_molecules, split_indices
    from moldiff.data.qm9_properties import PROPERTIES, load_qm9_properties
    from moldiff.property_classifier import PropertyClassifier

    clf = PropertyClassifier.load("gap")
    assert clf.names == ("gap", "homo", "lumo", "mu", "Cv") and PropertyClassifier.load("Cv").names == clf.names
    mols = qm9_molecules("test", limit=300)  # never seen in training (first half of the training split)
    columns = [list(PROPERTIES).index(k) for k in clf.names]
    true = load_qm9_properties()[split_indices("test")[:300]][:, columns].numpy()
    mae = np.abs(clf.predict(mols) - true).mean(0)
    lines = clf.card["reference_lines_on_second_half"]
    for k, name in enumerate(clf.names):
        lower, atoms_only = (lines[name]["lower_bound_classifier_on_real_molecules"],
                             lines[name]["atoms_only_median_per_count"])
        assert lower < atoms_only  # the classifier knows more than the atom count
        assert mae[k] < 0.5 * (lower + atoms_only), (name, mae[k], lower, atoms_only)
