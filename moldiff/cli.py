"""``moldiff`` command line: parse arguments, call a library function, report.

User mistakes (:class:`moldiff.errors.InputError`) end with a one-line message on
stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from moldiff import __version__
from moldiff.checks import SEED_MAX, check_finite, check_seed
from moldiff.options import DesignOptions, DockOptions, SamplingOptions, add_flags, flag_name, from_args
from moldiff.errors import InputError
from moldiff.paths import check_writable, write_json

#: flags whose names are not ``--field-name`` (:func:`moldiff.options.add_flags`)
SAMPLE_FLAGS = {"n": ["-n"]}
DESIGN_FLAGS = {"n": ["-n"], "join_fragments": ["--no-join"], "relax": ["--no-relax"],
                "vina_guidance": ["--no-vina-guidance"], "center_radius": ["--center-radius", "--centre-radius"]}
DOCK_FLAGS = {"num_poses": ["-k"], "refine": ["--no-refine"]}

log = logging.getLogger("moldiff.cli")

#: Published figures for the QM9 data itself (EDM, Hoogeboom et al. 2022, Table 2 / text).
QM9_DATA_PUBLISHED = {"atom_stability": 0.990, "mol_stability": 0.952, "validity": 0.977}


def format_table(metrics: dict, published: dict | None = None) -> str:
    """A plain-text table of the metrics (percentages), optionally beside published figures."""
    rows = [("metric", "value", "QM9 data (published)" if published else "")]
    for key, value in metrics.items():
        if key in ("n", "n_malformed") or value is None or isinstance(value, str):
            shown = "-" if value is None else str(value)
        elif key in ("qed", "sa", "logp"):
            shown = f"{value:.3f}"
        else:
            shown = f"{100 * value:.2f} %"
        ref = f"{100 * published[key]:.1f} %" if published and key in published else ""
        rows.append((key, shown, ref))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]}".rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _check_plot_dir(path: Path) -> None:
    """Fail fast when figures cannot be written to ``path`` or matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("--plots needs matplotlib: pip install 'moldiff[notebooks]'")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: --plots must name a folder, not a file")
    check_writable(path / "metrics.png" if path.is_dir() else path)


# --- commands -------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from moldiff.chem.molecule import from_rdkit
    from moldiff.chem.sdf import read_sdf
    from moldiff.chem.tables import SUPPORTED_ELEMENTS
    from moldiff.config import EvaluateConfig, from_dict, load_config
    from moldiff.metrics import evaluate, reference_smiles

    _use_example(args, protein="protein", ligand="ligand")
    if args.protein:
        return _evaluate_in_pocket(args)
    if args.ligand or args.center:
        raise InputError("--ligand/--center define a binding site and need --protein P.pdb")
    cfg = load_config(args.config, EvaluateConfig) if args.config else EvaluateConfig()
    given = {k: getattr(args, k) for k in ("bonds", "reference", "druglike", "strict") if getattr(args, k) is not None}
    cfg = from_dict(EvaluateConfig, {**vars(cfg), **given}, where="command line")
    if args.json:
        check_writable(Path(args.json))
    if args.plots:
        _check_plot_dir(Path(args.plots))
    records = read_sdf(args.file, strict=cfg.strict, allowed_elements=SUPPORTED_ELEMENTS)
    reference = reference_smiles(cfg.reference, progress=not args.quiet) if cfg.reference else None
    metrics = evaluate(
        records.mols, bonds=cfg.bonds, reference=reference, druglike=cfg.druglike, progress=not args.quiet
    )
    published = QM9_DATA_PUBLISHED if cfg.reference and str(cfg.reference).lower() == "qm9" else None
    print(f"{records.path}: {metrics['n']} molecules, bonds from {cfg.bonds}")
    print(format_table(metrics, published))
    if records.errors:
        print(f"{len(records.errors)} malformed record(s) counted as invalid: "
              + ", ".join(str(k) for k, _ in records.errors[:10]) + (" ..." if len(records.errors) > 10 else ""))
    if args.plots:
        from moldiff.metrics.geometry import with_bonds
        from moldiff.viz.report import reference_molecules, write_evaluation_plots

        mols = ([m for m in records.mols if m is not None] if cfg.bonds == "file" else
                with_bonds((from_rdkit(m, with_bonds=False) for m in records.mols if m is not None), cfg.bonds))
        written = write_evaluation_plots(mols, args.plots, metrics=metrics, published=published,
                                         reference=reference_molecules(cfg.reference, bonds=cfg.bonds))
        print(f"wrote {len(written)} figures to {args.plots}")
    if args.json:
        out = {
            **metrics,
            "file": str(records.path),
            "bonds": cfg.bonds,
            "reference": cfg.reference,
            "malformed_records": [{"record": k, "error": e} for k, e in records.errors],
            "moldiff_version": __version__,
        }
        write_json(out, Path(args.json))
        log.info("wrote %s", args.json)
    return 0


def format_pocket_table(metrics: dict) -> str:
    """Designed ligands beside the reference ligand (where the metric applies to one molecule)."""
    percent = {"validity", "connectivity", "valid_and_connected", "uniqueness", "lipinski", "clash_2A", "clash_vdw",
               "posebusters_valid", "unusual_ring", "at_least_reference_docked"}
    reference = {"qed": "reference_qed", "sa": "reference_sa", "logp": "reference_logp", "vina": "reference_vina",
                 "vina_min": "reference_vina_min", "vina_docked": "reference_vina_docked",
                 "clash_2A": "reference_clash", "clash_vdw": "reference_clash_vdw",
                 "posebusters_valid": "reference_posebusters", "unusual_ring": "reference_unusual_ring",
                 "heavy_atoms": "reference_heavy_atoms"}
    checks = metrics.get("posebusters_checks")
    rows = [("metric", "designed", "reference")]
    for key in ("n", "validity", "connectivity", "uniqueness", "diversity", "qed", "sa", "logp", "lipinski",
                "clash_2A", "clash_vdw", "posebusters_valid", "vina", "vina_min", "vina_docked",
                "at_least_reference_docked", "unusual_ring", "heavy_atoms"):
        if key not in metrics:
            continue
        value = metrics.get(key)

        def show(v, k=key):
            if v is None or (isinstance(v, float) and v != v):
                return "-"
            if isinstance(v, bool):
                return "yes" if v else "no"
            if k == "n":
                return str(v)
            return f"{100 * v:.1f} %" if k in percent else f"{v:.2f}"

        label = f"posebusters_valid ({checks})" if key == "posebusters_valid" and checks else key
        rows.append((label, show(value), show(metrics.get(reference.get(key, ""))) if key in reference else ""))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}".rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _evaluate_in_pocket(args: argparse.Namespace) -> int:
    from moldiff.chem.ligand import read_ligand
    from moldiff.chem.sdf import read_sdf
    from moldiff.chem.tables import SUPPORTED_ELEMENTS
    from moldiff.metrics.pocket import evaluate_in_pocket

    if args.ligand and args.center:
        raise InputError("give the site by --ligand or --center, not both")
    if args.time_limit < 0:
        raise InputError(f"--time-limit must be >= 0 (0: no limit), got {args.time_limit:g}")
    if args.json:
        check_writable(Path(args.json))
    records = read_sdf(args.file, allowed_elements=SUPPORTED_ELEMENTS)
    reference = read_ligand(args.ligand, hydrogens="add") if args.ligand else None
    if reference is not None and reference.GetNumConformers() == 0:
        raise InputError(f"{args.ligand}: the reference ligand has no 3D coordinates")
    if reference is None and args.center is None:
        raise InputError("--protein needs the site: --ligand REF.sdf (also scored as the reference) or --center X Y Z")
    metrics = evaluate_in_pocket(records.mols, args.protein, reference=reference, center=args.center,
                                 radius=args.radius, vina=not args.no_vina, progress=not args.quiet,
                                 posebusters=args.posebusters, seconds=args.time_limit or None)
    print(f"{records.path}: {metrics['n']} ligands in the pocket of {args.protein}")
    print(format_pocket_table(metrics))
    for key, step in (("posebusters_timed_out", "PoseBusters checks"), ("vina_timed_out", "Vina scoring")):
        if metrics.get(key):
            print(f"{metrics[key]} molecule(s) timed out in the {step} (over {args.time_limit:g} s; "
                  "counted as failing, see per_molecule in --json)")
    if args.json:
        write_json({**metrics, "file": str(records.path), "protein": str(args.protein),
                    "reference_file": args.ligand, "moldiff_version": __version__}, Path(args.json))
    return 0


def cmd_qm9_export(args: argparse.Namespace) -> int:
    from moldiff.chem.molecule import infer_bonds, to_rdkit
    from moldiff.chem.sdf import write_sdf
    from moldiff.data.qm9 import qm9_molecules

    if args.limit is not None and args.limit <= 0:
        raise InputError(f"--limit must be positive, got {args.limit}")
    out = Path(args.output)
    check_writable(out)
    mols = qm9_molecules(args.split, limit=args.limit)
    count = write_sdf((to_rdkit(infer_bonds(m, "table")) for m in mols), out)
    print(f"wrote {count} QM9 {args.split} molecules to {out}")
    return 0


def cmd_qm9_info(args: argparse.Namespace) -> int:
    from moldiff.data.qm9 import SPLIT_SIZES, qm9_stats

    stats = qm9_stats(args.split)
    info = {"split_sizes": SPLIT_SIZES, "split": args.split, **stats.to_dict()}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"QM9 split sizes: {SPLIT_SIZES}")
    print(f"{args.split}: {stats.num_molecules} molecules")
    print("atom-type marginals: " + ", ".join(f"{k} {v:.4f}" for k, v in info["atom_type_marginals"].items()))
    print("atom-count histogram: " + ", ".join(f"{k}:{v}" for k, v in info["num_atoms_hist"].items()))
    print(f"formal charges: {info['charge_counts']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.run import train

    cfg = load_config(args.config, TrainConfig, args.overrides)
    try:
        last = train(cfg, progress=not args.quiet)
    except InputError as exc:
        raise InputError(f"{args.config}: {exc}") from exc
    print(f"training finished; last checkpoint: {last}")
    return 0


def format_card(info: dict, prefix: str = "") -> str:
    """A model card (nested dict) as indented ``key: value`` lines."""
    lines = []
    for key, value in info.items():
        if isinstance(value, dict):
            lines.append(f"{prefix}{key}:")
            lines.append(format_card(value, prefix + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{prefix}{key}:")
            lines.extend(f"{prefix}  - " + ", ".join(f"{k} {v}" for k, v in row.items()) for row in value)
        else:
            lines.append(f"{prefix}{key}: {value}")
    return "\n".join(line for line in lines if line)


def _print_info(model, as_json: bool) -> None:
    info = model.info()
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        info.pop("config", None)  # the full config is in --json
        print(format_card(info))


def cmd_sample(args: argparse.Namespace) -> int:
    from moldiff.api import load
    from moldiff.chem.sdf import write_sdf
    from moldiff.metrics import evaluate

    opts = from_args(SamplingOptions, args, {"seed": 0}, flags=SAMPLE_FLAGS)  # validated before any work
    if args.info:
        _print_info(load(args.model, device=args.device), as_json=False)
        return 0
    if args.output is None:
        raise InputError("an output file is required: -o OUT.sdf")
    out = Path(args.output)
    check_writable(out)
    model = load(args.model, device=args.device)
    if not hasattr(model, "sample_mol3d"):
        raise InputError(f"{args.model}: a pocket model (it generates ligands inside a protein pocket); "
                         "use moldiff design or moldiff dock with it")
    condition = _parse_condition(args.condition)
    if condition is not None and not getattr(model, "condition_names", ()):
        raise InputError(f"{args.model or 'qm9'}: an unconditional model; --condition needs a property-conditioned "
                         "model (moldiff model info FILE lists what a model was trained on)")
    mols3d = model.sample_mol3d(options=opts, progress=not args.quiet,
                                **({} if condition is None else {"condition": condition}))
    count = write_sdf(model.to_rdkit(mols3d), out)
    print(f"wrote {count} molecules to {out}")
    if getattr(model, "default_sampler", None) == "flow":  # the bond family: its own bonds first
        print("with the generated bonds (--bonds file):")
        print(format_table(evaluate(mols3d, bonds="file")))
        print("with bonds inferred from distances (EDM protocol):")
    print(format_table(evaluate(mols3d)))
    return 0


def _parse_condition(items) -> dict | None:
    """``--condition NAME=VALUE`` (repeated) -> ``{name: value}``; errors name the bad item."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--condition {item!r}: write NAME=VALUE, e.g. --condition alpha=80.5")
        if name in out:
            raise InputError(f"--condition: {name} given twice")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(f"--condition {item!r}: {value!r} is not a number") from None
    return out


def _use_example(args: argparse.Namespace, **fields: str) -> None:
    """``--example``: fill ``fields`` (argument name -> ``protein`` / ``ligand``) from the shipped
    example complex (:mod:`moldiff.examples`); giving those arguments as well is an error."""
    if not getattr(args, "example", False):
        return
    from moldiff.examples import example_files

    given = [f"--{k}" for k in (*fields, "center", "box") if getattr(args, k, None) is not None]
    if given:
        raise InputError(f"--example brings its own protein and ligand; leave out {', '.join(given)}")
    files = example_files()
    for name, which in fields.items():
        setattr(args, name, str(files[which]))


def _site(args: argparse.Namespace, reference: str = "ligand") -> dict:
    """The binding-site keyword (``reference`` / center / box) from ``--<reference>`` /
    ``--center`` / ``--box`` (``moldiff design`` calls the reference ``--ligand``, ``moldiff
    dock`` ``--reference``)."""
    given = [x for x in (reference, "center", "box") if getattr(args, x, None) is not None]
    if len(given) != 1:
        raise InputError(f"define the binding site with exactly one of --{reference} REF.sdf, --center X Y Z or "
                         "--box X Y Z SX SY SZ")
    if args.box is not None:
        return {"box": (args.box[:3], args.box[3:])}
    return {given[0]: getattr(args, given[0])}


def _load_pocket_model(name, device):
    from moldiff.api import PocketModel, load

    model = load(name or "pocket", device=device)
    if not isinstance(model, PocketModel):
        raise InputError(f"{name}: not a pocket model (it generates free molecules; use moldiff sample)")
    return model


def cmd_design(args: argparse.Namespace) -> int:
    from moldiff.chem.sdf import write_sdf
    from moldiff.pretrained import DESIGN
    from moldiff.metrics.pocket import is_connected

    if args.config:
        return _design_experiment(args)
    if args.overrides:
        raise InputError(f"unexpected arguments {' '.join(args.overrides)} (key=value overrides need a config file)")
    _use_example(args, protein="protein", ligand="ligand")
    if not args.protein:
        raise InputError("moldiff design needs --protein P.pdb with a site (--ligand, --center or --box), "
                         "or --example, or a CONFIG.yaml (a design experiment)")
    if not args.output:
        raise InputError("an output file is required: -o OUT.sdf")
    opts = from_args(DesignOptions, args, {"seed": 0}, flags=DESIGN_FLAGS)  # validated before any work
    if opts.num_atoms == "reference" and args.ligand is None:
        raise InputError("--num-atoms ref needs --ligand (the reference ligand)")
    fixed = hop = kept = None
    if sum(x is not None for x in (args.fix, args.link, args.hop)) > 1:
        raise InputError("give one of --fix FRAGMENT.sdf (growing), --link A.sdf B.sdf (linking) and --hop LIGAND.sdf "
                         "(scaffold hopping)")
    if args.core is not None and args.hop is None:
        raise InputError("--core needs --hop LIGAND.sdf (the ligand whose core it names)")
    kept_files = [args.fix] if args.fix is not None else [args.hop] if args.hop is not None else list(args.link or [])
    if kept_files:
        from moldiff.chem.ligand import read_ligand

        read = [read_ligand(f, hydrogens="remove") for f in kept_files]  # names the file on any problem
        for mol, name in zip(read, kept_files):
            mol.SetProp("_Name", name)
        fixed, hop = (None, read[0]) if args.hop is not None else (read, None)
    site = {} if kept_files and args.ligand is None and args.center is None and args.box is None \
        else _site(args)
    out = Path(args.output)
    check_writable(out)
    model = _load_pocket_model(args.model or DESIGN, args.device)
    if kept_files:
        from moldiff.ligand_design import kept_atoms

        kept = kept_atoms(model, fixed, hop=hop, core=args.core)  # coordinates, pieces, elements, core: checked first
    mols = model.design(args.protein, **site, options=opts, progress=not args.quiet, fixed=fixed, hop=hop,
                        core=args.core)
    made = [m for m in mols if m is not None]
    if not made:
        raise InputError(f"none of the {opts.n} generated structures could be assembled into a molecule; "
                         "nothing written (try more --steps or another --num-atoms)")
    count = write_sdf(made, out)
    connected = sum(is_connected(m) for m in made)
    sizes = [m.GetNumHeavyAtoms() for m in made]
    print(f"wrote {count} ligands to {out} (protein frame, hydrogens added; model "
          f"{model.card.get('name') or model.card.get('file')})")
    print(f"  assembled: {count}/{opts.n}   connected: {connected}/{opts.n}   heavy atoms: "
          f"{min(sizes)}-{max(sizes)} (median {sorted(sizes)[len(sizes) // 2]})")
    redrawn = sum(m.GetIntProp("moldiff_draws") > 1 for m in made)
    overlapping = sum(not m.GetDoubleProp("moldiff_fit_energy") <= 0 for m in made if m.HasProp("moldiff_fit_energy"))
    why = "overlapped the protein" + (" or fell apart" if kept is not None else "")
    print(f"  drawn again ({why}): {redrawn}   overlapping the protein (SD property "
          f"moldiff_fit_energy > 0): {overlapping}")
    if kept is not None and hop is not None:
        changed = sum(m.GetProp("moldiff_core") != kept.core_smiles for m in made)
        print(f"  kept: the first {len(kept.pos)} atoms of each ligand are {kept_files[0]}'s substituents, as given; "
              f"new core (SD property moldiff_core) differs from {kept.core_smiles}: {changed}/{count}")
    elif kept is not None:
        print(f"  kept: the first {len(kept.pos)} atoms of each ligand are {' and '.join(kept_files)}'s heavy "
              "atoms, as given")
    centre = args.center if args.center is not None else args.box[:3] if args.box is not None else None
    reference = args.ligand or (kept_files[0] if centre is None and kept_files else None)
    site_args = "--example" if args.example else f"--protein {args.protein}" + (
        f" --ligand {reference}" if reference else f" --center {' '.join(f'{v:g}' for v in centre)}")
    print(f"  score them: moldiff evaluate {out} {site_args}   (or moldiff report {out} {site_args})")
    return 0


def format_dock_summary(summaries: dict) -> str:
    """Methods side by side: success rates, median RMSD, PoseBusters-valid, time."""
    keys = [("n", "complexes"), ("n_error", "errors"), ("success_top1", "top-1 RMSD < 2 Å"),
            ("success_top5", "top-5 RMSD < 2 Å"), ("median_top1_rmsd", "median top-1 RMSD (Å)"),
            ("posebusters_valid_top1", "top-1 PoseBusters-valid"),
            ("success_top1_and_pb_valid", "top-1 < 2 Å and PB-valid"),
            ("seconds_per_complex_median", "seconds per complex (median)")]
    methods = list(summaries)

    def show(key, v):
        if v is None:
            return "-"
        if key in ("n", "n_error"):
            return str(v)
        if key.startswith(("success", "posebusters")):
            return f"{100 * v:.1f} %"
        return f"{v:.2f}"

    rows = [("", *methods)] + [(label, *(show(k, summaries[m].get(k)) for m in methods)) for k, label in keys]
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{c:<{width[0]}}" if i == 0 else f"{c:>{width[i]}}" for i, c in enumerate(r)).rstrip()
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _design_experiment(args: argparse.Namespace) -> int:
    """``moldiff design CONFIG.yaml [key=value ...]``: a design experiment over many pockets."""
    from moldiff.config import DesignConfig, load_config
    from moldiff.design_experiment import run_design_experiment

    given = [flag for flag, value in (("--protein", args.protein), ("--ligand", args.ligand), ("--center", args.center),
                                      ("--box", args.box), ("--example", args.example or None),
                                      ("-o", args.output), ("--device", None if args.device == "cpu" else args.device))
             if value is not None]
    given += [DESIGN_FLAGS.get(f.name, [flag_name(f.name)])[0] for f in dataclasses.fields(DesignOptions)
              if getattr(args, f.name, None) is not None]
    if given:
        raise InputError(f"a design experiment takes its settings from the config file: leave out {', '.join(given)} "
                         "and give key=value overrides after it (e.g. n=8 steps=100 output.dir=runs/x)")
    cfg = load_config(args.config, DesignConfig, args.overrides)
    summary = run_design_experiment(cfg, progress=not args.quiet)
    print(format_design_summary(summary))
    print(f"results: {Path(cfg.output.dir) / 'results.csv'}   summary: {Path(cfg.output.dir) / 'summary.json'}")
    return 0


def format_design_summary(summary: dict) -> str:
    """Designs beside the reference ligands (over all pockets) of a design experiment."""
    percent = {"validity", "valid_and_connected", "posebusters_valid", "clash_2A", "clash_vdw", "unusual_ring",
               "lipinski", "at_least_reference_docked", "uniqueness"}
    designs, reference = summary["designs"], summary["reference"]
    pockets = summary.get("pockets", {})
    rows = [("metric", "designs", "reference ligands")]

    def show(v, k):
        if v is None or (isinstance(v, float) and v != v):
            return "-"
        return str(v) if k == "n" else f"{100 * v:.1f} %" if k in percent else f"{v:.2f}"

    for key in ("n", "validity", "valid_and_connected", "posebusters_valid", "clash_2A", "clash_vdw", "qed", "sa",
                "logp", "lipinski", "unusual_ring", "heavy_atoms", "vina", "vina_min", "vina_docked",
                "at_least_reference_docked", "uniqueness", "diversity"):
        rows.append((key, show(designs.get(key), key), show(reference.get(key), key) if key in reference else ""))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}".rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    head = f"{pockets.get('n_ok', 0)} of {pockets.get('n', 0)} pockets designed"
    if pockets.get("n_error"):
        failed = [k for k, v in summary.get("per_pocket", {}).items() if v.get("status") == "error"]
        head += f"; failed: {', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''} (see results.csv)"
    return head + "\n" + "\n".join(lines)


def cmd_dock(args: argparse.Namespace) -> int:
    if args.example and args.config:
        raise InputError("--example docks the shipped complex; give no config file with it")
    _use_example(args, protein="protein", ligand="ligand", reference="ligand")
    if args.library:
        if args.config or args.ligand:
            raise InputError("--library screens a library from the command line; give no config file or --ligand with it")
        return _screen(args)
    if args.protein or args.ligand:
        if args.config:
            raise InputError("give either a config file (experiment) or --protein/--ligand (one complex), not both")
        return _dock_one(args)
    if not args.config:
        raise InputError("moldiff dock needs a CONFIG.yaml, or --protein P.pdb --ligand L.sdf|SMILES with a site")
    from moldiff.config import DockConfig, load_config
    from moldiff.docking.experiment import run_experiment

    cfg = load_config(args.config, DockConfig, args.overrides)
    summaries = run_experiment(cfg, progress=not args.quiet)
    print(format_screen_summary(summaries, cfg.output.dir) if cfg.screen is not None else format_dock_summary(summaries))
    print(f"results: {Path(cfg.output.dir) / 'results.csv'}   summary: {Path(cfg.output.dir) / 'summary.json'}")
    return 0


def _screen(args: argparse.Namespace) -> int:
    """``moldiff dock --protein P --library LIB (site) -o DIR``: a screen without a config file."""
    from moldiff.config import DockConfig
    from moldiff.docking.experiment import run_experiment
    from moldiff.schema import from_dict, to_dict

    if args.overrides:
        raise InputError(f"unexpected arguments {' '.join(args.overrides)} (key=value overrides need a config file)")
    if not args.protein:
        raise InputError("--library needs the receptor: --protein P.pdb")
    if args.refine is False and args.ranking is None:
        args.ranking = "fit"
    opts = to_dict(from_args(DockOptions, args, flags=DOCK_FLAGS))
    site = _site(args, reference="reference")
    if "box" in site:
        site = {"box": [*site["box"][0], *site["box"][1]]}
    elif "center" in site:
        site = {"center": list(site["center"])}
    screen = {"receptor": args.protein, "library": args.library, **site, "workers": args.workers,
              "protonation_ph": None if args.no_protonation else args.ph}
    if args.radius is not None:
        screen["radius"] = args.radius
    data = {**opts, "screen": screen, "method": args.method, "model": args.model or "pocket",
            "posebusters": not args.no_posebusters, "vina": {"exhaustiveness": args.exhaustiveness},
            "output": {"dir": args.output if args.output != "poses.sdf" else "runs/screen"}}
    cfg = from_dict(DockConfig, data, where="command line")
    summaries = run_experiment(cfg, progress=not args.quiet)
    print(format_screen_summary(summaries, cfg.output.dir))
    return 0


def format_screen_summary(summaries: dict, folder) -> str:
    """Per method: ligands docked and failed, best and median score, PoseBusters-valid, speed;
    then the five best ligands of the first method."""
    import csv

    lines = []
    for method, s in summaries.items():
        pb = s.get("posebusters_valid_top1")
        rate = s.get("ligands_per_minute_this_run")
        lines.append(f"{method}: {s['n_ok']} of {s['n']} ligands docked, {s['n_error']} failed"
                     + (f"; best score {s['best_score']:.2f}, median {s['median_score']:.2f} kcal/mol"
                        if s.get("best_score") is not None else "")
                     + (f"; top pose PoseBusters-valid {100 * pb:.0f} %" if pb is not None else "")
                     + (f"; {rate:.2f} ligands/min on {s['workers']} worker(s)" if rate else ""))
    first = next(iter(summaries), None)
    table = Path(folder) / (first or "") / "results.csv"
    if first and table.is_file():
        with open(table, newline="") as fh:
            best = [r for r in csv.DictReader(fh) if r["rank"]][:5]
        for r in best:
            lines.append(f"  {r['rank']:>3}  {r['score']:>7}  {r['id']}  {r['smiles_docked']}")
    lines.append(f"results: {Path(folder) / (first or '') / 'results.csv'}   poses: {Path(folder) / (first or '') / 'poses'}")
    return "\n".join(lines)


def _dock_one(args: argparse.Namespace) -> int:
    from moldiff.docking.dock import Docker, vina_dock, write_poses
    from moldiff.docking.pose import symmetric_rmsd

    if args.overrides:
        raise InputError(f"unexpected arguments {' '.join(args.overrides)} (key=value overrides need a config file)")
    if not args.protein or not args.ligand:
        raise InputError("docking one complex needs both --protein P.pdb and --ligand L.sdf|SMILES")
    if args.refine is False and args.ranking is None:
        args.ranking = "fit"  # no refinement: rank by conformer fit
    opts = from_args(DockOptions, args, flags=DOCK_FLAGS)  # validated before any work
    if args.exhaustiveness <= 0 or (args.radius is not None and args.radius <= 0):
        raise InputError("--exhaustiveness and --radius must be positive")
    site = _site(args, reference="reference")
    out = Path(args.output)
    check_writable(out)
    if args.method == "vina":
        result = vina_dock(args.protein, args.ligand, **site, radius=args.radius or 10.0, k=opts.num_poses,
                           seed=opts.seed, exhaustiveness=args.exhaustiveness, conformers=opts.conformers)
    else:
        model = _load_pocket_model(args.model, args.device)
        result = Docker(model, opts).dock(args.protein, args.ligand, **site, radius=args.radius,
                                          progress=not args.quiet)
    reference = None
    if args.reference is not None:
        from moldiff.chem.ligand import read_ligand

        reference = read_ligand(args.reference)
    for pose in result.poses:
        if reference is not None:
            pose.SetDoubleProp("rmsd", symmetric_rmsd(pose, reference))
    write_poses(result, out)
    print(f"wrote {len(result.poses)} poses to {out} ({result.method}, {result.seconds:.1f} s), best first:")
    for pose in result.poses[: min(5, len(result.poses))]:
        rmsd = pose.GetDoubleProp("rmsd") if pose.HasProp("rmsd") else float("nan")
        extra = "" if rmsd != rmsd else f"   RMSD to reference {rmsd:.2f} Å"
        print(f"  {pose.GetIntProp('rank'):>2}  score {pose.GetDoubleProp('score'):7.2f} kcal/mol{extra}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from moldiff.viz.html import write_report

    _use_example(args, protein="protein", ligand="ligand")
    out = Path(args.output) if args.output else Path(args.path).with_suffix(".html") if Path(args.path).is_file() \
        else Path(args.path) / "report.html"
    written = write_report(args.path, out, protein=args.protein, ligand=args.ligand, center=args.center,
                           posebusters=args.posebusters, progress=not args.quiet)
    print(f"wrote {written} (open it in a browser)")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    from moldiff.api import load

    _print_info(load(args.model), as_json=args.json)
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from moldiff.api import export_model

    out = Path(args.output)
    check_writable(out)
    meta = export_model(args.checkpoint, out)
    training = meta.get("training", {})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; epoch {training.get('epoch')}, "
          f"step {training.get('global_step')})")
    return 0


def cmd_model_release(args: argparse.Namespace) -> int:
    from moldiff.checkpoint import release_model
    from moldiff.config import ReleaseConfig, load_config

    cfg = load_config(args.config, ReleaseConfig, args.overrides)
    checkpoint = args.checkpoint or cfg.checkpoint
    if not checkpoint:
        raise InputError(f"{args.config}: no checkpoint to release from; give --checkpoint CKPT")
    out = Path(args.output or cfg.output)
    check_writable(out)
    card = None
    if cfg.card:
        from moldiff.paths import read_text

        try:
            card = json.loads(read_text(cfg.card, "card"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{cfg.card}: not a JSON card ({exc.msg}, line {exc.lineno})") from None
    meta = release_model(checkpoint, out, sampling=cfg.sampling, card=card)
    training = meta.get("training", {})
    print(f"released {cfg.name}: {out} ({out.stat().st_size / 1e6:.1f} MB; epoch {training.get('epoch')}, "
          f"step {training.get('global_step')}; sampling {meta['config']['sampling']})")
    return 0


# --- parser ---------------------------------------------------------------------------
def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        return check_finite(text, "value")
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}") from exc


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2^32 - 1]."""
    try:
        return check_seed(int(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_MAX}, got {text!r}") from None


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already says it or there is
    none to show (``None``, ``False``: a flag that is off)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" not in text and action.default not in (None, False, argparse.SUPPRESS)
                and action.option_strings and action.nargs != 0):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``moldiff sample: error: ... (see --help)``), exit status 2;
    help shows defaults (:class:`_HelpFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="moldiff", description="Diffusion models for 3D molecules.")
    parser.add_argument("--version", action="version", version=f"moldiff {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info messages")
    common.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser("evaluate", parents=[common], help="score the molecules of an SDF file",
                        description="Score 3D molecules with the EDM/QM9 protocol (stability, validity, "
                        "connectivity, uniqueness, novelty).")
    ev.add_argument("file", help="SDF file (.sdf or .sdf.gz); elements and coordinates are read")
    ev.add_argument("--config", help="YAML with EvaluateConfig keys (command-line flags win)")
    ev.add_argument("--reference", default=None, help="novelty reference: 'qm9' (training split) or a SMILES file")
    ev.add_argument("--bonds", choices=["table", "rdkit", "file"], default=None,
                    help="bond source: table = EDM bond-length protocol (default), rdkit = rdDetermineBonds, "
                    "file = trust the bonds in the file")
    ev.add_argument("--druglike", action="store_const", const=True, default=None, help="add QED, SA, logP, Lipinski")
    ev.add_argument("--strict", action="store_const", const=True, default=None,
                    help="fail on the first malformed record instead of counting it as invalid")
    ev.add_argument("--json", help="also write the metrics to this JSON file")
    ev.add_argument("--plots", help="write figures (metrics, atom counts, elements, bond lengths/angles, torsions; "
                    "against QM9 training molecules with --reference qm9) as PNG into this folder")
    ev.add_argument("--protein", help="score ligands in this protein's pocket: validity, connectivity, diversity, "
                    "QED/SA/logP/Lipinski, clashes, PoseBusters checks, Vina scores")
    ev.add_argument("--ligand", help="with --protein: the reference ligand (defines the site, scored alongside)")
    ev.add_argument("--center", type=finite_float, nargs=3, metavar=("X", "Y", "Z"), help="with --protein: site centre")
    ev.add_argument("--radius", type=finite_float, default=10.0, help="with --protein: pocket radius, Å")
    ev.add_argument("--example", action="store_true",
                    help="score in the shipped example complex's pocket (--protein and --ligand from moldiff.examples)")
    ev.add_argument("--no-vina", action="store_true", help="with --protein: skip the Vina scores")
    ev.add_argument("--posebusters", choices=["full", "fast", "off"], default="full",
                    help="with --protein: PoseBusters' intramolecular checks; fast leaves out the internal-energy "
                    "check (50 conformers per molecule, the slow one) (default: %(default)s)")
    ev.add_argument("--time-limit", type=finite_float, default=60.0, metavar="SECONDS",
                    help="with --protein: at most this long per molecule for PoseBusters and for Vina; a molecule "
                    "over it is recorded as timed out and counted as failing (0: no limit; default: %(default)s)")
    ev.set_defaults(func=cmd_evaluate)

    tr = sub.add_parser("train", parents=[common], help="train a diffusion model from a YAML config")
    tr.add_argument("config", help="YAML file (moldiff.config.TrainConfig)")
    tr.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. trainer.max_epochs=5")
    tr.set_defaults(func=cmd_train)

    sa = sub.add_parser("sample", parents=[common], help="sample molecules from a trained model")
    sa.add_argument("--model", "--checkpoint", dest="model", default=None,
                    help="a shipped model's name (qm9) or a checkpoint file; default: the shipped QM9 model")
    sa.add_argument("-o", "--output", help="output SDF (written atomically)")
    add_flags(sa, SamplingOptions, flags=SAMPLE_FLAGS, defaults={"seed": 0})
    sa.add_argument("--condition", action="append", metavar="NAME=VALUE",
                    help="property-conditioned models: the value every molecule is asked for, e.g. alpha=80.5 "
                         "(repeat for each property the model was trained on); default: values drawn from the "
                         "training data")
    sa.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda, cuda:1, ...")
    sa.add_argument("--info", action="store_true", help="print the model card and exit")
    sa.set_defaults(func=cmd_sample)

    de = sub.add_parser("design", parents=[common], help="design ligands for a protein pocket, or run a design "
                                                        "experiment from config",
                        description="moldiff design --protein P (--ligand REF | --center X Y Z | --box ...) -o OUT.sdf "
                        "generates ligands inside one binding site with a pocket-conditioned model and writes them "
                        "with bonds and hydrogens in the protein's frame; moldiff design CONFIG.yaml [key=value ...] "
                        "designs for every pocket of a data set and scores designs and reference ligands side by side "
                        "(configs/design/posebusters_dev.yaml).")
    de.add_argument("config", nargs="?", help="design experiment YAML (moldiff.config.DesignConfig)")
    de.add_argument("overrides", nargs="*", help="key.sub=value overrides of the config, e.g. n=8 output.dir=runs/x")
    de.add_argument("--protein", help="protein PDB or mmCIF file")
    de.add_argument("--example", action="store_true",
                    help="design for the shipped example complex (PDB 1S3V: protein and reference ligand)")
    de.add_argument("--ligand", help="reference ligand (SDF/MOL2/PDB) defining the site")
    de.add_argument("--center", type=finite_float, nargs=3, metavar=("X", "Y", "Z"), help="site centre, Å")
    de.add_argument("--box", type=finite_float, nargs=6, metavar=("X", "Y", "Z", "SX", "SY", "SZ"),
                    help="site box: centre and size, Å")
    de.add_argument("--fix", metavar="FRAGMENT.sdf",
                    help="fragment growing: keep this fragment's heavy atoms (protein frame) exactly and generate the "
                         "rest around them; alone it also defines the site; --num-atoms counts its atoms too")
    de.add_argument("--link", nargs=2, metavar=("A.sdf", "B.sdf"),
                    help="linking: keep two placed fragments exactly and generate a linker between them (its size from "
                         "their distance unless --num-atoms, which counts every atom); alone they define the site")
    de.add_argument("--hop", metavar="LIGAND.sdf",
                    help="scaffold hopping: keep this placed ligand's substituents exactly and generate a new core "
                         "between them (about the old core's size unless --num-atoms, which counts every atom); alone "
                         "it also defines the site")
    de.add_argument("--core", metavar="SMARTS",
                    help="with --hop: the core to replace, as a SMARTS matched on the ligand (default: its Murcko "
                         "scaffold, the ring systems and the chains between them)")
    de.add_argument("-o", "--output", help="output SDF (written atomically)")
    add_flags(de, DesignOptions, flags=DESIGN_FLAGS, defaults={"seed": 0}, skip=("cat_noise", "last_step"))
    de.add_argument("--model", default=None,
                    help="shipped model name (default pocket_design; pocket: the docking model) or a checkpoint")
    de.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda, cuda:1, ...")
    de.set_defaults(func=cmd_design)

    do = sub.add_parser("dock", parents=[common], help="dock ligands: an experiment from config, or one complex",
                        description="moldiff dock CONFIG.yaml [key=value ...] runs a docking experiment "
                        "(configs/docking/posebusters_dev.yaml); moldiff dock --protein P --ligand L "
                        "(--reference REF | --center X Y Z | --box ...) -o poses.sdf docks one ligand; "
                        "moldiff dock --protein P --library LIB (site) -o DIR screens a library.")
    do.add_argument("config", nargs="?", default=None, help="experiment config (YAML)")
    do.add_argument("overrides", nargs="*", help="config overrides, e.g. data.root=/path limit=20")
    do.add_argument("--protein", help="one complex: protein PDB or mmCIF")
    do.add_argument("--example", action="store_true",
                    help="dock the shipped example complex's ligand back into its protein (PDB 1S3V) and report RMSDs")
    do.add_argument("--ligand", help="one complex: ligand to dock (SDF/MOL2 with bond orders, or SMILES); "
                    "its coordinates are not used")
    do.add_argument("--reference", help="ligand with 3D coordinates defining the site (RMSDs are reported "
                    "against it when it is the same molecule)")
    do.add_argument("--center", type=finite_float, nargs=3, metavar=("X", "Y", "Z"), help="site centre, Å")
    do.add_argument("--box", type=finite_float, nargs=6, metavar=("X", "Y", "Z", "SX", "SY", "SZ"),
                    help="site box: centre and size, Å")
    do.add_argument("--radius", type=finite_float, default=None, help="pocket radius, Å (default 10)")
    do.add_argument("-o", "--output", default="poses.sdf", help="output SDF (one complex)")
    do.add_argument("--library", help="screen a ligand library against --protein: SMILES file (SMILES [id] per line), "
                    "CSV/TSV with id,smiles columns, multi-record SDF, or a folder; -o names the output folder")
    do.add_argument("--workers", type=int, default=None, help="--library: worker processes (default: every core)")
    do.add_argument("--ph", type=finite_float, default=7.4, help="--library: give each ligand its most probable "
                    "charge state at this pH (default 7.4)")
    do.add_argument("--no-protonation", action="store_true", help="--library: dock the charge states as given")
    do.add_argument("--no-posebusters", action="store_true", help="--library: skip PoseBusters checks of top poses")
    do.add_argument("--method", choices=["moldiff", "vina"], default="moldiff",
                    help="moldiff (diffusion placement + search) or vina (AutoDock Vina alone)")
    do.add_argument("--exhaustiveness", type=int, default=8, help="--method vina: search effort")
    add_flags(do, DockOptions, flags=DOCK_FLAGS)
    do.add_argument("--model", default=None, help="pocket model: a shipped name or a checkpoint (default: pocket)")
    do.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda, cuda:1, ...")
    do.set_defaults(func=cmd_dock)

    rp = sub.add_parser("report", parents=[common], help="one HTML page for a sampling, design or docking run",
                        description="Write a self-contained HTML page (metrics, plots, interactive 3D views of the best "
                        "and worst results) for an SDF of samples, an SDF of designs or poses with --protein, or a "
                        "docking experiment folder.")
    rp.add_argument("path", help="an SDF file (samples; designs or poses with --protein) or a moldiff dock output folder")
    rp.add_argument("-o", "--output", help="the HTML file (default: PATH with .html, or PATH/report.html for a folder)")
    rp.add_argument("--protein", help="the protein of designs or poses (PDB or mmCIF)")
    rp.add_argument("--ligand", help="with --protein: the reference ligand (the site; drawn in the views)")
    rp.add_argument("--center", type=finite_float, nargs=3, metavar=("X", "Y", "Z"), help="with --protein: site centre")
    rp.add_argument("--example", action="store_true", help="the shipped example complex's protein and ligand")
    rp.add_argument("--posebusters", choices=["full", "fast", "off"], default="fast",
                    help="PoseBusters checks of designs (full adds the slow internal-energy check)")
    rp.set_defaults(func=cmd_report)

    mo = sub.add_parser("model", help="model cards; export a training checkpoint for sampling")
    msub = mo.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    mi = msub.add_parser("info", parents=[common], help="print a model card")
    mi.add_argument("model", nargs="?", default=None, help="shipped model name or checkpoint (default: qm9)")
    mi.add_argument("--json", action="store_true", help="print JSON (includes the full training config)")
    mi.set_defaults(func=cmd_model_info)
    me = msub.add_parser("export", parents=[common], help="strip a training checkpoint to its EMA weights")
    me.add_argument("checkpoint", help="last.ckpt / best.ckpt of a run")
    me.add_argument("-o", "--output", required=True, help="output file (.pt, written atomically)")
    me.set_defaults(func=cmd_model_export)
    mr = msub.add_parser("release", parents=[common], help="make a shipped model file and its card from a "
                         "release config (configs/release/) and a checkpoint")
    mr.add_argument("config", help="release config (moldiff.config.ReleaseConfig)")
    mr.add_argument("overrides", nargs="*", help="key=value overrides, e.g. sampling.steps=50")
    mr.add_argument("--checkpoint", help="training checkpoint or exported model (default: the config's)")
    mr.add_argument("-o", "--output", help="model file to write (default: the config's)")
    mr.set_defaults(func=cmd_model_release)

    qm9 = sub.add_parser("qm9", help="QM9 data: export a split, show statistics")
    qsub = qm9.add_subparsers(dest="qm9_command", required=True, metavar="ACTION")
    ex = qsub.add_parser("export", parents=[common], help="write a QM9 split as SDF (bonds by the QM9 protocol)")
    ex.add_argument("--split", choices=["train", "val", "test"], default="test", help="which split")
    ex.add_argument("--limit", type=int, default=None, help="first N molecules of the split")
    ex.add_argument("-o", "--output", required=True, help="output SDF")
    ex.set_defaults(func=cmd_qm9_export)
    inf = qsub.add_parser("info", parents=[common], help="split sizes, atom-count histogram, type marginals")
    inf.add_argument("--split", choices=["train", "val", "test"], default="train", help="which split")
    inf.add_argument("--json", action="store_true", help="print JSON")
    inf.set_defaults(func=cmd_qm9_info)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message (not the stream of the
    first call: ``main`` may run in a notebook or under a test's captured, later closed, stderr)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _ours_or_warning(record: logging.LogRecord) -> bool:
    """Other libraries' info messages (Lightning's, torch's) stay out of the command's output."""
    return record.name.startswith("moldiff") or record.levelno >= logging.WARNING


#: third-party warnings a normal run would print and a user can do nothing about
KNOWN_WARNINGS = (
    ("ignore", r".*torch\.jit\.script.*", None),                  # torch_geometric, at import
    ("ignore", r".*LeafSpec.*", None),                              # Lightning's _pytree on new torch
    ("ignore", r"Checkpoint directory .* exists and is not empty", None),  # resuming a run is intended
    ("ignore", r".*does not have many workers.*", None),            # Lightning's hint; workers are a config key
    ("ignore", r".*litlogger.*", None),
)


def _quiet_known_warnings() -> None:
    import warnings

    for action, message, category in KNOWN_WARNINGS:
        warnings.filterwarnings(action, message=message, category=category or Warning)


def _setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = _StderrHandler()
    handler.addFilter(_ours_or_warning)
    logging.basicConfig(level=logging.WARNING, format="moldiff: %(levelname)s: %(message)s", handlers=[handler])
    logging.getLogger("moldiff").setLevel(level)


def _one_line(message: str) -> str:
    """An error message on one line (RDKit and Lightning messages may span several)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def main(argv: list | None = None) -> int:
    """Run ``moldiff`` with ``argv`` (default ``sys.argv[1:]``; items may be paths or numbers) and
    return the exit status: 0 done, 1 an unforeseen OS error, 2 a user mistake or usage error,
    130 interrupted. Never raises for bad input, so tests and notebooks can call it."""
    parser = build_parser()
    if argv is not None:  # paths and numbers from Python callers
        argv = [str(a) for a in argv]
    try:  # usage errors, --help and --version end here with their status (main is called in-process too)
        args, extra = parser.parse_known_args(argv)
        if extra:  # key=value overrides may follow options: moldiff dock CFG -q limit=2
            if hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
                args.overrides = [*(args.overrides or []), *extra]
            else:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    _setup_logging(getattr(args, "quiet", False), getattr(args, "verbose", False))
    if not getattr(args, "verbose", False):
        _quiet_known_warnings()
    try:
        return args.func(args)
    except InputError as exc:
        print(f"moldiff: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("moldiff: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an optional dependency this command needs
        extra = {"vina": "eval", "meeko": "eval", "posebusters": "eval", "gemmi": "eval", "matplotlib": "notebooks",
                 "py3Dmol": "notebooks", "qm9pack": "qm9", "tensorboard": "train"}.get((exc.name or "").split(".")[0])
        hint = f"pip install 'moldiff[{extra}]'" if extra else "reinstall moldiff"
        print(f"moldiff: error: this command needs the package {exc.name!r}, which is not installed: {hint}",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file the checks could not foresee (a full disk, a vanished folder)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"moldiff: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
