"""Training, checkpoints, resume, the Python API and the train -> sample -> evaluate CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import moldiff
from moldiff.api import load
from moldiff.config import TrainConfig, load_config
from moldiff.errors import InputError

from helpers import run_cli
from moldiff.training.run import read_metrics, train

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "test" / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={out}", "trainer.max_epochs=2"])
    last = train(cfg)
    return out, last


def _metrics(out: Path) -> list[dict]:
    return read_metrics(out)


def test_training_writes_checkpoints_logs_samples_and_config(tiny_run):
    out, last = tiny_run
    assert last.is_file() and (out / "checkpoints" / "best.ckpt").is_file()
    assert load_config(out / "config.yaml", TrainConfig).model.hidden == 16
    rows = _metrics(out)
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert len(losses) == 16 and all(l == l for l in losses)
    assert any(r.get("val/loss") for r in rows) and any(r.get("sample/mol_stability") for r in rows)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch0000.sdf", "epoch0001.sdf"]
    ckpt = torch.load(last, weights_only=False)
    meta = ckpt["moldiff"]
    assert meta["format"] == "moldiff.diffusion" and meta["moldiff_version"] == moldiff.__version__
    assert meta["config"]["model"]["name"] == "egnn" and meta["elements"] == ["H", "C", "N", "O", "F"]
    assert any(k.startswith("ema.") for k in ckpt["state_dict"])


def test_resume_continues_from_last_checkpoint(tiny_run, tmp_path):
    out, last = tiny_run
    cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={out}", "trainer.max_epochs=3",
                                          "sampling.every_n_epochs=0"])
    train(cfg)
    steps = [int(r["step"]) for r in _metrics(out) if r.get("train/loss")]
    assert steps == list(range(24))  # 8 steps per epoch, epochs 0-2: earlier logs kept, no step repeated
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2


def test_sampling_as_arrays_does_not_need_rdkit(tiny_run):
    # a GPU machine without RDKit samples there and scores here (benchmarks/qm9_gpu_stage.py)
    _, last = tiny_run
    code = ("import sys; sys.modules['rdkit'] = None; import moldiff; "
            f"r = moldiff.load({str(last)!r}).sample_mol3d(2, steps=2, seed=0, as_arrays=True); "
            "assert 'moldiff.chem.molecule' not in sys.modules; "
            "print(len(r), r[0][1].shape[1])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.split() == ["2", "3"], proc.stderr[-1500:]


def test_load_and_sample_is_reproducible(tiny_run):
    _, last = tiny_run
    model = moldiff.load(last)
    a = model.sample(3, steps=5, seed=7, return_invalid=True)  # a 5-step tiny model: mostly invalid
    b = model.sample(3, steps=5, seed=7, return_invalid=True)
    c = model.sample(3, steps=5, seed=8, return_invalid=True)
    pos = lambda ms: [m.GetConformer().GetPositions().tolist() for m in ms]
    assert pos(a) == pos(b) and pos(a) != pos(c)
    assert all(m.GetNumConformers() == 1 for m in a)
    fixed = model.sample_mol3d(2, steps=3, seed=0, num_atoms=7, sampler="ddim")
    assert [m.num_atoms for m in fixed] == [7, 7]
    arrays = model.sample_mol3d(2, steps=3, seed=0, num_atoms=7, sampler="ddim", as_arrays=True)
    for m, (elements, pos, charges) in zip(fixed, arrays):  # the same molecules, as plain arrays
        assert elements == m.symbols and (pos == m.pos).all() and (charges == m.charge).all()
    for m in fixed:  # centre of mass stays at the origin through the whole run
        assert abs(m.pos.mean(0)).max() < 1e-4
    with pytest.raises(InputError, match="n: 0 is below the minimum 1"):
        model.sample(0)
    with pytest.raises(InputError, match="steps: 0 is below the minimum 1"):
        model.sample(2, steps=0)
    with pytest.raises(InputError, match="time_power must be positive"):
        model.sample(2, steps=3, time_power=-1.0)
    dense = model.sample_mol3d(2, steps=3, seed=0, time_power=2.0)  # another step grid, another path
    assert all(m is not None for m in dense) and not (dense[0].pos == model.sample_mol3d(2, steps=3, seed=0)[0].pos).all()
    with pytest.raises(InputError, match="sampler: .euler. is not one of"):
        model.sample(2, steps=3, sampler="euler")


def test_sampling_defaults_come_from_the_model(tiny_run):
    _, last = tiny_run
    model = moldiff.load(last)
    assert (model.default_sampler, model.default_noise_scale) == ("ddpm", 1.0)  # tiny.yaml: the config defaults
    base = model.sample_mol3d(2, steps=4, seed=0)[0].pos
    cold = model.sample_mol3d(2, steps=4, seed=0, noise_scale=0.5)[0].pos
    second = model.sample_mol3d(2, steps=4, seed=0, sampler="dpm2m")[0].pos
    assert not (cold == base).all() and not (second == base).all()
    model.default_sampler, model.default_noise_scale = "dpm2m", 0.5  # as a shipped model's config sets them
    assert (model.sample_mol3d(2, steps=4, seed=0)[0].pos == model.sample_mol3d(
        2, steps=4, seed=0, sampler="dpm2m", noise_scale=0.5)[0].pos).all()
    info = model.info()
    assert info["default_sampler"] == "dpm2m" and info["default_noise_scale"] == 0.5


def test_export_keeps_exactly_what_sampling_needs(tiny_run, tmp_path):
    _, last = tiny_run
    out = tmp_path / "model.pt"
    meta = moldiff.api.export_model(last, out)
    stored = torch.load(last, weights_only=False)
    assert meta["training"]["epoch"] == stored["epoch"] and meta["training"]["source"] == "last.ckpt"
    assert meta["training"]["global_step"] == stored["global_step"]
    assert out.stat().st_size < 0.6 * last.stat().st_size  # no optimiser state, no raw weights
    state = torch.load(out, weights_only=False)["state_dict"]
    assert all(k.startswith("ema.module.") for k in state if k != "num_atoms_hist")
    full, exported = load(last), load(out)
    a, b = full.sample_mol3d(3, steps=4, seed=3), exported.sample_mol3d(3, steps=4, seed=3)
    assert all((x.pos == y.pos).all() and x.symbols == y.symbols for x, y in zip(a, b))
    assert exported.info()["training"]["global_step"] == meta["training"]["global_step"]
    proc = _cli("model", "export", str(tmp_path / "model.pt"), "-o", str(tmp_path / "no" / "x.pt"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_init_from_starts_a_new_run_with_trained_weights(tiny_run, tmp_path):
    _, last = tiny_run
    out = tmp_path / "finetune"
    cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={out}", "trainer.max_epochs=1",
                                          f"trainer.init_from={last}", "diffusion.parameterization=v"])
    seen = {}

    class Spy(pl.Callback):
        def on_train_start(self, trainer, module):
            seen["weights"] = {k: v.clone() for k, v in module.denoiser.state_dict().items()}
            seen["step"] = trainer.global_step

    train(cfg, callbacks=[Spy()])
    source = load(last).denoiser.state_dict()
    assert seen["step"] == 0 and all(torch.equal(seen["weights"][k], source[k]) for k in source)
    assert load(out / "checkpoints" / "last.ckpt").parameterization == "v"
    bad = load_config(TINY, TrainConfig, [f"trainer.output_dir={tmp_path / 'bad'}", "model.hidden=24",
                                          f"trainer.init_from={last}"])
    with pytest.raises(InputError, match="weights do not fit this model"):
        train(bad)


def test_every_checkpoint_finds_the_rows_of_the_steps_it_covers_on_disk(tmp_path):
    """A run killed right after a checkpoint at step s resumes at s: the rows of steps 0..s-1
    must be in metrics.csv before that checkpoint is written (Lightning logs a step's row only
    after the hooks that save checkpoints)."""
    out = tmp_path / "run"
    cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={out}", "trainer.max_epochs=2",
                                          "sampling.every_n_epochs=0", "trainer.checkpoint_every_n_steps=3"])
    seen = []

    class Spy(pl.Callback):
        def on_save_checkpoint(self, trainer, module, checkpoint):
            steps = {int(r["step"]) for r in read_metrics(out) if r.get("train/loss")}
            seen.append((trainer.global_step, steps))

    train(cfg, callbacks=[Spy()], progress=False)
    assert len(seen) >= 4
    for global_step, steps in seen:
        assert set(range(global_step)) <= steps, (global_step, sorted(steps))
    steps = [int(r["step"]) for r in read_metrics(out) if r.get("train/loss")]
    assert steps == list(range(16))  # each step once: Lightning's own copy of a row is dropped


def test_bad_checkpoints_give_clear_errors(tmp_path, tiny_run):
    with pytest.raises(InputError, match="no such checkpoint"):
        load(tmp_path / "none.ckpt")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            load(tiny_run[1], device="cuda")
    with pytest.raises(InputError, match="invalid device"):
        load(tiny_run[1], device="gpu9")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load(junk)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "epoch": 1}, foreign)
    with pytest.raises(InputError, match="not a moldiff checkpoint"):
        load(foreign)
    other = torch.load(tiny_run[1], weights_only=False)
    other["moldiff"]["format"] = "moldiff.docking"
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(InputError, match="of another kind"):
        load(tmp_path / "other.ckpt")


def _cli(*args):
    return run_cli(*args)  # in process: moldiff.cli.main


def test_cli_train_sample_evaluate_end_to_end(tmp_path):
    run = tmp_path / "run"
    proc = _cli("train", str(TINY), f"trainer.output_dir={run}", "trainer.max_epochs=1", "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Epoch 0" not in proc.stderr  # -q hides Lightning's progress bar
    ckpt = run / "checkpoints" / "last.ckpt"
    out = tmp_path / "samples.sdf"
    proc = _cli("sample", "--checkpoint", str(ckpt), "-n", "6", "--steps", "5", "--seed", "1", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote 6 molecules" in proc.stdout and "mol_stability" in proc.stdout
    metrics_json = tmp_path / "m.json"
    proc = _cli("evaluate", str(out), "--json", str(metrics_json), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(metrics_json.read_text())["n"] == 6
    # bad input: one line, exit 2, nothing written
    for args, fragment in [
        (["-n", "0"], "-n: 0 is below the minimum 1"),
        (["--steps", "-1"], "--steps: -1 is below the minimum 1"),
        (["--time-power", "0"], "--time-power must be positive"),
        (["--noise-scale", "1.5"], "--noise-scale: 1.5 is above the maximum 1.0"),
        (["-o", str(tmp_path / "missing" / "x.sdf")], "does not exist"),
    ]:
        base = ["sample", "--checkpoint", str(ckpt), "-o", str(tmp_path / "never.sdf")]
        proc = _cli(*base, *args)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("sample", "--checkpoint", str(out), "-o", str(tmp_path / "never.sdf"))
    assert proc.returncode == 2 and "not a readable checkpoint" in proc.stderr
    assert not (tmp_path / "never.sdf").exists()
    proc = _cli("train", str(TINY), "model.widht=3")
    assert proc.returncode == 2 and "unknown key(s) model.widht" in proc.stderr
    if not torch.cuda.is_available():
        proc = _cli("train", str(TINY), "trainer.accelerator=gpu", f"trainer.output_dir={tmp_path / 'gpu'}")
        assert proc.returncode == 2 and "tiny.yaml: trainer.accelerator=gpu but no CUDA GPU" in proc.stderr, \
            proc.stderr[-1000:]
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "gpu").exists()  # checked before the run folder is made


def test_training_is_reproducible_on_cpu(tmp_path):
    states = []
    for k in range(2):
        cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={tmp_path / str(k)}", "trainer.max_epochs=1",
                                              "sampling.every_n_epochs=0"])
        states.append(torch.load(train(cfg), weights_only=False)["state_dict"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_ema_warm_up_forgets_the_initial_weights():
    from torch.optim.swa_utils import AveragedModel

    from moldiff.training.module import ema_with_warmup

    model = torch.nn.Linear(3, 1)
    ema = AveragedModel(model, multi_avg_fn=ema_with_warmup(0.999), use_buffers=True)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(100):
        ema.update_parameters(model)
    # a plain 0.999 EMA would still hold 0.999**99 = 91 % of the random initial weights
    assert torch.allclose(ema.module.weight, torch.ones(1, 3), atol=1e-3)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update_parameters(model)
    # 100 updates so far: this one uses d = min(0.999, 101 / 110)
    assert torch.allclose(ema.module.weight, torch.full((1, 3), 1.0 + (1 - 101 / 110)), atol=1e-5)


def test_a_run_stopped_by_max_steps_keeps_its_last_steps(tmp_path):
    # periodic saves at steps 4 and 8; the run ends at 11: last.ckpt must hold step 11, not 8
    cfg = load_config(TINY, TrainConfig, [f"trainer.output_dir={tmp_path}", "trainer.max_epochs=-1",
                                          "trainer.max_steps=11", "trainer.checkpoint_every_n_steps=4",
                                          "sampling.every_n_epochs=0", "trainer.max_time=00:00:10:00"])
    last = train(cfg, progress=False)
    assert torch.load(last, weights_only=False)["global_step"] == 11
