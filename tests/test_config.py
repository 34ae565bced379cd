from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import torch

from moldiff.training.build import build_datamodule
from moldiff.config import (
    ReleaseConfig,
    DesignConfig,
    DockConfig,
    EvaluateConfig,
    TrainConfig,
    QM9DataConfig,
    from_dict,
    load_config,
    option,
    parse_overrides,
    to_dict,
)
from moldiff.errors import InputError

REPO = Path(__file__).resolve().parents[1]

#: Every YAML in configs/ and the schema it maps onto. A new YAML must be added here.
CONFIG_SCHEMAS = {
    "data/qm9.yaml": QM9DataConfig,
    "evaluate_qm9.yaml": EvaluateConfig,
    "test/tiny.yaml": TrainConfig,
    "test/bonds_tiny.yaml": TrainConfig,
    "qm9_bonds_gpu.yaml": TrainConfig,
    "qm9_bonds_cpu.yaml": TrainConfig,
    "qm9_edm.yaml": TrainConfig,
    "qm9_cpu.yaml": TrainConfig,
    "qm9_gpu.yaml": TrainConfig,
    "qm9_e3nn_cpu.yaml": TrainConfig,
    "qm9_alpha_cpu.yaml": TrainConfig,
    "qm9_alpha_gpu.yaml": TrainConfig,
    "test/pocket_tiny.yaml": TrainConfig,
    "pocket/druglike_pretrain.yaml": TrainConfig,
    "pocket/fep_finetune.yaml": TrainConfig,
    "docking/posebusters_dev.yaml": DockConfig,
    "docking/screen_example.yaml": DockConfig,
    "design/posebusters_dev.yaml": DesignConfig,
    "release/qm9.yaml": ReleaseConfig,
    "release/pocket.yaml": ReleaseConfig,
    "release/pocket_design.yaml": ReleaseConfig,
}


@dataclass
class Inner:
    width: int = option(8, min=1, max=1024)
    kind: Literal["egnn", "e3nn"] = "egnn"


@dataclass
class Outer:
    name: str = "x"
    lr: float = option(1e-3, min=0.0)
    inner: Inner = field(default_factory=Inner)
    layers: list[int] = field(default_factory=lambda: [1, 2])
    limit: int | None = None


def test_every_yaml_in_configs_is_listed_and_loads():
    found = {str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml")}
    assert found == set(CONFIG_SCHEMAS), "add new config files to CONFIG_SCHEMAS"
    for rel, schema in CONFIG_SCHEMAS.items():
        cfg = load_config(REPO / "configs" / rel, schema)
        assert isinstance(cfg, schema)
        assert from_dict(schema, to_dict(cfg)) == cfg  # round trip


@pytest.mark.parametrize("rel", sorted(k for k, v in CONFIG_SCHEMAS.items() if v is TrainConfig))
def test_every_training_config_builds_its_model(rel):
    from moldiff.training.build import build_module
    from moldiff.data import QM9_ELEMENTS
    from moldiff.testing import assert_denoiser_equivariant

    cfg = load_config(REPO / "configs" / rel, TrainConfig)
    if cfg.model.name == "bond_egnn":  # the bond family: its own equivariance harness
        from moldiff.testing import assert_bond_denoiser_equivariant
        from moldiff.training.module import FlowModule

        priors = {"atom_type": torch.full((5,), 0.2), "charge": torch.tensor([0.1, 0.8, 0.1]),
                  "bond_type": torch.full((5,), 0.2)}
        module = build_module(cfg, QM9_ELEMENTS, [0, 0, 1], priors=priors)
        assert isinstance(module, FlowModule) and torch.equal(module.prior_charge, priors["charge"])
        assert_bond_denoiser_equivariant(module.denoiser, torch.float64, trials=1, sizes=(4, 3))
        return
    if cfg.data.name != "qm9":  # pocket models: equivariance on real complexes in test_pocket_model.py
        from moldiff.data.complexes import HEAVY_LIGAND_ELEMENTS
        from moldiff.diffusion.pocket import POCKET_FEATURES
        from moldiff.training.module import PocketDiffusionModule

        module = build_module(cfg, HEAVY_LIGAND_ELEMENTS, [0, 0, 1], size_pairs=torch.tensor([[300], [20]]))
        assert isinstance(module, PocketDiffusionModule) and module.size_pairs.shape == (2, 1)
        pos, pocket = torch.randn(5, 3), torch.randn(40, 3)
        out_pos, out_h = module.denoiser(pos, torch.randn(5, 11), torch.rand(1), torch.zeros(5, dtype=torch.long),
                                         1, pocket, torch.randn(40, POCKET_FEATURES), torch.zeros(40, dtype=torch.long))
        assert out_pos.shape == (5, 3) and out_h.shape == (5, 11) and torch.isfinite(out_pos).all()
        return
    p = len(cfg.conditioning.properties)
    stats = {"mean": torch.zeros(p), "mad": torch.ones(p), "table": torch.ones(3, 1 + p)} if p else None
    module = build_module(cfg, QM9_ELEMENTS, [0, 0, 0, 1, 2], conditioning=stats)
    assert module.denoiser.num_features == 6 and module.parameterization == cfg.diffusion.parameterization
    assert getattr(module.denoiser, "context_dim", 0) == p and module.condition_names == tuple(cfg.conditioning.properties)
    assert_denoiser_equivariant(module.denoiser, torch.float64, trials=1, sizes=(4, 3))


def test_data_config_builds_a_datamodule():
    cfg = load_config(REPO / "configs/data/qm9.yaml", QM9DataConfig, ["batch_size=3", "limit_train=5"])
    dm = build_datamodule(cfg)
    assert dm.batch_size == 3 and dm.limits["train"] == 5


def test_nested_values_and_overrides():
    cfg = from_dict(Outer, {"inner": {"width": 4}, "lr": 1, "layers": [3]})
    assert cfg.inner.width == 4 and cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.layers == [3]
    # YAML 1.1 reads 4e-4 (no dot) as a string; a float field still takes it
    assert from_dict(Outer, parse_overrides(["lr=4e-4"])).lr == 4e-4
    assert parse_overrides(["inner.width=16", "name=abc", "limit=null"]) == {
        "inner": {"width": 16},
        "name": "abc",
        "limit": None,
    }


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nme": "x"}, "unknown key(s) nme"),
        ({"inner": {"widht": 3}}, "unknown key(s) inner.widht"),
        ({"inner": {"width": 0}}, "inner.width: 0 is below the minimum 1"),
        ({"inner": {"width": 4096}}, "above the maximum"),
        ({"inner": {"kind": "mace"}}, "inner.kind: 'mace' is not one of"),
        ({"lr": "fast"}, "lr: expected a number"),
        ({"inner": {"width": 2.5}}, "expected an integer"),
        ({"inner": {"width": True}}, "expected an integer"),
        ({"layers": 3}, "expected a list"),
        ({"inner": 5}, "expected a mapping"),
    ],
)
def test_bad_values_raise_naming_the_key_and_source(data, message):
    with pytest.raises(InputError) as err:
        from_dict(Outer, data, where="run.yaml")
    assert "run.yaml" in str(err.value) and message in str(err.value)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "missing.yaml", QM9DataConfig)
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_size: [1,\n")
    with pytest.raises(InputError, match="bad.yaml: invalid YAML"):
        load_config(bad, QM9DataConfig)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(InputError, match="top level must be a mapping"):
        load_config(scalar, QM9DataConfig)
    with pytest.raises(InputError, match="expected key.sub=value"):
        parse_overrides(["batch_size"])


def test_data_and_network_must_go_together(tmp_path):
    """A pocket data set with a free-molecule network (or the reverse) fails before any work."""
    from moldiff.training.build import check_task

    from moldiff.config import EGNNConfig

    cfg = load_config(REPO / "configs/test/pocket_tiny.yaml", TrainConfig)
    cfg.model = EGNNConfig()
    with pytest.raises(InputError, match="needs model.name: pocket_egnn"):
        check_task(cfg)
    cfg = load_config(REPO / "configs/test/tiny.yaml", TrainConfig, ["model.name=pocket_egnn"])
    with pytest.raises(InputError, match="egnn or e3nn"):
        check_task(cfg)


def test_a_section_of_the_other_model_family_is_an_error():
    from moldiff.training.build import check_task

    cfg = load_config(REPO / "configs/test/tiny.yaml", TrainConfig, ["flow.time_alpha=1.0"])
    with pytest.raises(InputError, match="flow section applies to model.name bond_egnn only"):
        check_task(cfg)
    cfg = load_config(REPO / "configs/test/bonds_tiny.yaml", TrainConfig, ["diffusion.type_scale=1.0"])
    with pytest.raises(InputError, match="diffusion section does not apply to model.name bond_egnn"):
        check_task(cfg)


def test_sections_are_tagged_unions_keyed_on_name():
    """A key of another data set or network is an error naming it, not silently ignored; each
    section gets its own class; ``1`` stays an int where a field takes ``float | int``."""
    from moldiff.config import ComplexesDataConfig, E3NNConfig

    with pytest.raises(InputError, match="unknown key.*data.smiles"):
        load_config(REPO / "configs/test/tiny.yaml", TrainConfig, ["data.smiles=x.smi"])
    with pytest.raises(InputError, match="model.name: 'gnn' is not one of 'egnn', 'e3nn'"):
        load_config(REPO / "configs/test/tiny.yaml", TrainConfig, ["model.name=gnn"])
    cfg = load_config(REPO / "configs/test/pocket_tiny.yaml", TrainConfig, ["trainer.limit_val_batches=1"])
    assert isinstance(cfg.data, ComplexesDataConfig) and cfg.data.root.startswith("smoke")
    assert type(cfg.trainer.limit_val_batches) is int  # 1 batch, not 100 % of them
    e3nn = load_config(REPO / "configs/qm9_e3nn_cpu.yaml", TrainConfig)
    assert isinstance(e3nn.model, E3NNConfig)


def test_config_paths_are_read_against_the_data_root(tmp_path, monkeypatch):
    from moldiff.paths import data_path

    monkeypatch.setenv("MOLDIFF_DATA", str(tmp_path))
    assert data_path("smoke", "x", "data.root") == tmp_path / "smoke"
    assert data_path(None, "posebusters_dev", "data.root") == tmp_path / "posebusters_dev"
    assert data_path("/abs/dir", "x", "data.root") == Path("/abs/dir")
    assert data_path("./here", "x", "data.root") == Path("here")  # explicitly the working directory
    monkeypatch.delenv("MOLDIFF_DATA")
    with pytest.raises(InputError, match="data.root: 'smoke' is read against the data root"):
        data_path("smoke", "x", "data.root")


def test_yaml_booleans_read_as_the_words_a_choice_lists():
    """YAML 1.1 reads ``off`` as False: a choice that lists 'off' gets the word back; a choice
    that lists no such word still refuses the boolean."""
    from moldiff.config import DesignEvaluateConfig

    cfg = from_dict(DesignEvaluateConfig, parse_overrides(["posebusters=off"]))
    assert cfg.posebusters == "off"
    with pytest.raises(InputError, match="kind: False is not one of"):
        from_dict(Outer, {"inner": {"kind": False}})
