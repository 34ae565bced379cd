"""Fragment-growing benchmark on posebusters_dev (evaluation only, never training).

    python benchmarks/grow_posebusters.py --n 4 --seed 0 --json out.json

For each complex of ``--data`` the crystal ligand is cut at its BRICS bonds and its largest
piece (at least 4 heavy atoms, not the whole ligand; a piece RDKit cannot sanitise on its own is
passed over for the next) is kept, in the crystal pose: ``--n`` ligands are grown from it with
the shipped design model (``moldiff.design(..., fixed=piece)``, the pocket around the crystal
ligand, as many heavy atoms as the crystal ligand). Each design is checked for the kept atoms
(elements, charges and coordinates bit for bit, every bond of the piece with its order, no
bond added between them) and scored with :func:`moldiff.metrics.pocket.evaluate_in_pocket`
(PoseBusters' dock checks with the protein, Vina score of the pose as designed, clashes, QED,
SA). Shares are of all designs (a design that could not be assembled counts as failing).
Prints one JSON line per complex and a summary; ``--json`` writes everything with the machine.

``--mode link`` cuts the crystal ligand at two acyclic single bonds into two end pieces (4+ heavy
atoms each) and the 2+ atoms between them (:func:`linker_cut`), keeps the two ends in the crystal
pose and generates a linker between them (``moldiff.design(..., fixed=[A, B])``, the linker's size
the model's choice from the gap it bridges): the same checks, and per complex the crystal
linker's size beside the designs' (``linker_atoms``, ``new_atoms``).

``--mode hop`` (scaffold hopping) keeps instead the crystal ligand's substituents (all but its
Murcko scaffold; complexes whose ligand has no ring or no substituent are passed over) and
generates a new core between them (``moldiff.design(..., hop=crystal)``, sizes about the old
core's): the same checks, and ``new_core``, the share of designs whose core (SMILES without
stereo) differs from the crystal ligand's.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BRICS

from _common import machine, report
from moldiff.api import load
from moldiff.chem.ligand import read_ligand
from moldiff.chem.sdf import write_sdf
from moldiff.data.complexes import find_complexes
from moldiff.errors import InputError
from moldiff.ligand_design import hop_fragment
from moldiff.metrics.pocket import evaluate_in_pocket, is_connected


def largest_piece(mol: Chem.Mol) -> Chem.Mol | None:
    """The largest BRICS piece of ``mol`` (heavy atoms, crystal coordinates) that sanitises alone."""
    cut = Chem.RWMol(mol)
    for (a, b), _ in BRICS.FindBRICSBonds(mol):
        cut.RemoveBond(a, b)
    pieces = sorted(Chem.GetMolFrags(cut.GetMol(), sanitizeFrags=False), key=len, reverse=True)
    for piece in pieces:
        if len(piece) < 4 or len(piece) == mol.GetNumAtoms():
            continue
        out = _sanitized_part(mol, piece)
        if out is not None:
            return out
    return None


def _sanitized_part(mol: Chem.Mol, atoms) -> Chem.Mol | None:
    """The atoms ``atoms`` of ``mol`` alone (crystal coordinates; an atom that loses a neighbour
    takes the hydrogen it leaves), or ``None`` where RDKit cannot sanitise them."""
    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():
        atom.SetNoImplicit(False)
    for i in sorted(set(range(mol.GetNumAtoms())) - set(atoms), reverse=True):
        rw.RemoveAtom(i)
    out = rw.GetMol()
    try:
        Chem.SanitizeMol(out)
    except (ValueError, RuntimeError):
        return None
    return out


def linker_cut(mol: Chem.Mol, min_end: int = 4, min_linker: int = 2) -> tuple | None:
    """Two fragments to link back, ``(A, B, linker heavy atoms)``: ``mol`` (heavy atoms, crystal
    coordinates) cut at two acyclic single bonds into three parts, the middle one (at least
    ``min_linker`` atoms, joined to both others) taken out; of all such cuts whose two end parts
    hold at least ``min_end`` atoms each and sanitise alone, the one with the largest smaller end,
    then the longest linker. ``None`` where there is none."""
    from itertools import combinations

    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # the cuts that do not sanitise are passed over, not reported
    singles = [b.GetIdx() for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.SINGLE and not b.IsInRing()]
    cuts = []
    for i, j in combinations(singles, 2):
        parts = Chem.GetMolFrags(Chem.FragmentOnBonds(mol, [i, j], addDummies=False), sanitizeFrags=False)
        if len(parts) != 3:
            continue
        ends = {mol.GetBondWithIdx(i).GetBeginAtomIdx(), mol.GetBondWithIdx(i).GetEndAtomIdx()}
        other = {mol.GetBondWithIdx(j).GetBeginAtomIdx(), mol.GetBondWithIdx(j).GetEndAtomIdx()}
        middle = [p for p in parts if set(p) & ends and set(p) & other]
        if len(middle) != 1 or len(middle[0]) < min_linker:
            continue
        a, b = sorted((p for p in parts if p is not middle[0]), key=min)
        if min(len(a), len(b)) < min_end:
            continue
        cuts.append(((min(len(a), len(b)), len(middle[0])), a, b))
    try:
        for (_, linker), a, b in sorted(cuts, key=lambda c: c[0], reverse=True):
            a, b = _sanitized_part(mol, a), _sanitized_part(mol, b)
            if a is not None and b is not None:
                return a, b, linker
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")


def kept_exactly(design: Chem.Mol, piece: Chem.Mol) -> bool:
    k = piece.GetNumAtoms()
    if design.GetNumAtoms() < k:
        return False
    same_atoms = all(design.GetAtomWithIdx(i).GetSymbol() == a.GetSymbol() and
                     design.GetAtomWithIdx(i).GetFormalCharge() == a.GetFormalCharge() for i, a in enumerate(piece.GetAtoms()))
    same_pos = np.array_equal(design.GetConformer().GetPositions()[:k], piece.GetConformer().GetPositions())
    bonds = [design.GetBondBetweenAtoms(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in piece.GetBonds()]
    same_bonds = all(x is not None and (x.GetIsAromatic() if b.GetIsAromatic() else x.GetBondType() == b.GetBondType())
                     for x, b in zip(bonds, piece.GetBonds()))
    inner = sum(1 for b in design.GetBonds() if b.GetBeginAtomIdx() < k and b.GetEndAtomIdx() < k)
    return same_atoms and same_pos and same_bonds and inner == piece.GetNumBonds()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/posebusters_dev")
    p.add_argument("--model", default="pocket_design")
    p.add_argument("--mode", choices=["grow", "hop", "link"], default="grow",
                   help="grow: the largest BRICS piece kept; hop: the substituents kept, the core generated anew; "
                        "link: two end pieces kept, a linker generated between them")
    p.add_argument("--n", type=int, default=4, help="designs per pocket")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--skip", type=int, default=0, help="skip the first K complexes (sorted by id) before --limit")
    p.add_argument("--ids", nargs="+", default=None, metavar="ID",
                   help="only these complexes (e.g. to rerun the ones a change can affect)")
    p.add_argument("--combine", nargs="+", default=None, metavar="RUN.json",
                   help="no designing: one summary over the designs of these runs (a run done in parts)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-vina-guidance", action="store_true", help="energy guidance off")
    p.add_argument("--drop-strays", type=int, default=None,
                   help="stray fragments of up to this many heavy atoms dropped (default: the model's, 3; 0: off)")
    p.add_argument("--posebusters", choices=["dock", "full", "fast", "off"], default="dock")
    p.add_argument("--sdf-dir", default=None, help="keep the designs (one SDF per complex)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.manual_seed(args.seed)

    if args.combine:
        import json

        runs = [json.loads(Path(f).read_text()) for f in args.combine]
        rows = [r for run in runs for r in run["designs"]]
        per_complex = [c for run in runs for c in run["per_complex"]]
        summarize(rows, per_complex, runs[0]["settings"]["n"], args, [run["settings"] for run in runs])
        return
    model = load(args.model)
    entries = find_complexes(args.data)
    if args.ids:
        unknown = sorted(set(args.ids) - {e.id for e in entries})
        if unknown:
            raise SystemExit(f"--ids: no complex {', '.join(unknown)} in {args.data}")
        entries = [e for e in entries if e.id in set(args.ids)]
    entries = entries[args.skip:][: args.limit]
    rows, per_complex = [], []
    for entry in entries:
        start = time.perf_counter()
        crystal = read_ligand(entry.ligand, hydrogens="remove")
        core = None
        if args.mode == "hop":
            try:
                _, piece, region, core, _, _ = hop_fragment(crystal)
            except InputError as e:
                piece, why = None, str(e).split(": ", 1)[-1]
        elif args.mode == "link":
            cut = linker_cut(crystal)
            piece, why = (None, "no two pieces of 4+ atoms joined by 2+ atoms") if cut is None else \
                (Chem.CombineMols(cut[0], cut[1]), None)
        else:
            piece, why = largest_piece(crystal), "no BRICS piece of 4+ atoms"
        if piece is None:
            per_complex.append({"id": entry.id, "skipped": why})
            print(per_complex[-1], flush=True)
            continue
        keep = ({"hop": crystal} if args.mode == "hop" else {"fixed": [cut[0], cut[1]]} if args.mode == "link" else
                {"fixed": piece, "num_atoms": crystal.GetNumHeavyAtoms()})  # a linker's size: the model's choice
        try:
            mols = model.design(entry.protein, ligand=crystal, n=args.n, steps=args.steps, seed=args.seed,
                                vina_guidance=not args.no_vina_guidance, **keep,
                                **({} if args.drop_strays is None else {"drop_strays": args.drop_strays}))
        except InputError as e:  # an element the model does not generate among the kept atoms
            per_complex.append({"id": entry.id, "skipped": str(e)})
            print(per_complex[-1], flush=True)
            continue
        seconds = time.perf_counter() - start
        reference = read_ligand(entry.ligand, hydrogens="add")
        metrics = evaluate_in_pocket(mols, entry.protein, reference=reference, vina=True, vina_minimise=False,
                                     posebusters=args.posebusters)  # Vina scores None where meeko cannot type it
        scored = {r["index"]: r for r in metrics["per_molecule"]}
        for k, m in enumerate(mols):
            r = scored.get(k, {})
            rows.append({"id": entry.id, "assembled": m is not None, "valid": k in scored,
                         "kept_exactly": m is not None and kept_exactly(m, piece),
                         "connected": m is not None and is_connected(m),
                         "dropped_atoms": m.GetIntProp("moldiff_dropped_atoms") if m is not None else None,
                         "new_core": None if core is None else m is not None and m.GetProp("moldiff_core") != core,
                         "posebusters": r.get("posebusters"), "clash": r.get("clash"), "vina": r.get("vina"),
                         "qed": r.get("qed"), "sa": r.get("sa"), "smiles": r.get("smiles")})
        mine = rows[-len(mols):]
        per_complex.append({"id": entry.id, "piece": Chem.MolToSmiles(piece), "piece_atoms": piece.GetNumAtoms(),
                            "ligand_atoms": crystal.GetNumHeavyAtoms(), "seconds_design": round(seconds, 2),
                            "kept_exactly": float(np.mean([r["kept_exactly"] for r in mine])),
                            "connected": float(np.mean([r["connected"] for r in mine])),
                            "posebusters": float(np.mean([bool(r["posebusters"]) for r in mine])),
                            **({} if core is None else {"core": core, "core_atoms": len(region)}),
                            **({"linker_atoms": cut[2], "new_atoms": [None if m is None else m.GetNumHeavyAtoms() -
                                                                       piece.GetNumAtoms() for m in mols]}
                               if args.mode == "link" else {}),
                            "vina": metrics.get("vina"), "reference_vina": metrics.get("reference_vina"),
                            "vina_error": metrics.get("vina_error")})
        print(per_complex[-1], flush=True)
        if args.sdf_dir:
            Path(args.sdf_dir).mkdir(parents=True, exist_ok=True)
            write_sdf([m for m in mols if m is not None], Path(args.sdf_dir) / f"{entry.id}.sdf")

    summarize(rows, per_complex, args.n, args, [vars(args)])


def summarize(rows: list, per_complex: list, n: int, args, settings: list) -> None:
    def share(key):
        return float(np.mean([bool(r[key]) for r in rows])) if rows else None

    def mean(key):
        values = [r[key] for r in rows if r.get(key) is not None and r[key] == r[key]]
        return float(np.mean(values)) if values else None

    done = [c for c in per_complex if "skipped" not in c]
    summary = {"complexes": len(per_complex), "grown": len(done), "designs": len(rows),
               "kept_exactly": share("kept_exactly"), "connected": share("connected"), "valid": share("valid"),
               # connected as generated: no stray fragment dropped (rows of runs before the option count as such)
               "connected_without_dropping": float(np.mean([bool(r["connected"]) and not r.get("dropped_atoms")
                                                            for r in rows])) if rows else None,
               "designs_with_atoms_dropped": sum(bool(r.get("dropped_atoms")) for r in rows),
               "valid_connected_kept": float(np.mean([r["valid"] and r["connected"] and r["kept_exactly"]
                                                      for r in rows])) if rows else None,
               "posebusters_valid": share("posebusters"),
               **({"new_core": share("new_core")} if rows and rows[0].get("new_core") is not None else {}), "clash_2A": mean("clash"), "vina": mean("vina"),
               "reference_vina": float(np.mean([c["reference_vina"] for c in done if c.get("reference_vina") is not None
                                                and c.get("vina") is not None])) if done else None,
               "vina_unavailable": sum(c.get("vina") is None for c in done),
               "qed": mean("qed"), "sa": mean("sa"),
               "seconds_per_design_median": float(np.median([c["seconds_design"] / n for c in done]))
               if done else None}
    print("summary:", summary)
    mode = (settings[0] if isinstance(settings[0], dict) else {}).get("mode", "grow")
    report({"benchmark": f"{mode}_posebusters", "settings": settings[0] if len(settings) == 1 else settings,
            "summary": summary, "per_complex": per_complex, "designs": rows, "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
