"""Interactive 3D views with py3Dmol (notebooks): molecule grids, denoising trajectories,
ligands in their pockets. Each function returns a ``py3Dmol.view``; call ``.show()`` or
let the notebook display it.
"""
from __future__ import annotations

from pathlib import Path

from rdkit import Chem


def _py3dmol():
    try:
        import py3Dmol
    except ImportError as exc:  # an optional dependency: say how to get it
        from moldiff.errors import InputError

        raise InputError("3D views need py3Dmol: pip install 'moldiff[notebooks]'") from exc
    return py3Dmol


def molecule_grid(mols, *, cols: int = 4, size: int = 220, style: str = "stick"):
    """Molecules (RDKit, with conformers) in a grid of ``cols`` columns."""
    py3Dmol = _py3dmol()
    mols = [m for m in mols if m is not None]
    rows = max(1, -(-len(mols) // cols))
    view = py3Dmol.view(width=size * cols, height=size * rows, viewergrid=(rows, cols), linked=False)
    for k, mol in enumerate(mols):
        view.addModel(Chem.MolToMolBlock(mol), "sdf", viewer=(k // cols, k % cols))
    view.setStyle({style: {}, "sphere": {"scale": 0.25}})
    view.zoomTo()
    return view


def trajectory(frames, *, width: int = 420, height: int = 360, interval_ms: int = 80):
    """An animation of a denoising trajectory: ``frames`` is a list of (symbols, pos (N,3)) or
    RDKit molecules (same atoms), e.g. collected with ``model.sample_mol3d(..., callback=...)``."""
    py3Dmol = _py3dmol()
    blocks = []
    for frame in frames:
        if isinstance(frame, Chem.Mol):
            symbols = [a.GetSymbol() for a in frame.GetAtoms()]
            pos = frame.GetConformer().GetPositions()
        else:
            symbols, pos = frame
        lines = [str(len(symbols)), ""] + [f"{s} {x:.4f} {y:.4f} {z:.4f}" for s, (x, y, z) in zip(symbols, pos)]
        blocks.append("\n".join(lines))
    view = py3Dmol.view(width=width, height=height)
    view.addModelsAsFrames("\n".join(blocks), "xyz")
    view.setStyle({"sphere": {"scale": 0.3}, "stick": {"radius": 0.12}})
    view.animate({"loop": "forward", "interval": interval_ms})
    view.zoomTo()
    return view


def complex_view(protein: str | Path, ligands, *, crystal: Chem.Mol | None = None, width: int = 640,
                 height: int = 480, pocket_radius: float = 8.0):
    """A protein (cartoon, pocket residues as lines) with ligand poses (sticks) and the
    crystal pose (green) overlaid. ``ligands``: an RDKit molecule or a list of them."""
    py3Dmol = _py3dmol()
    view = py3Dmol.view(width=width, height=height)
    view.addModel(Path(protein).read_text(), "pdb")
    view.setStyle({"model": 0}, {"cartoon": {"color": "lightgrey", "opacity": 0.8}})
    ligands = [ligands] if isinstance(ligands, Chem.Mol) else list(ligands)
    for k, lig in enumerate(ligands, start=1):
        view.addModel(Chem.MolToMolBlock(lig), "sdf")
        view.setStyle({"model": k}, {"stick": {"colorscheme": "cyanCarbon" if k == 1 else "whiteCarbon"}})
    if crystal is not None:
        view.addModel(Chem.MolToMolBlock(crystal), "sdf")
        view.setStyle({"model": len(ligands) + 1}, {"stick": {"colorscheme": "greenCarbon", "radius": 0.12}})
    if ligands:
        view.addStyle({"model": 0, "within": {"distance": pocket_radius, "sel": {"model": 1}}}, {"line": {}})
        view.zoomTo({"model": 1})
    return view
