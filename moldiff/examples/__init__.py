"""A small protein-ligand complex shipped with the package, so that the quick starts run as
pasted with no data of your own: ``moldiff design --example``, ``moldiff dock --example``,
``moldiff evaluate FILE --example``.

The complex is PDB entry 1S3V (a dihydrofolate reductase with the inhibitor TQD; wwPDB data
are CC0): ``1s3v_protein.pdb`` is the protein without the ligand (186 residues, heavy atoms,
prepared with OpenMM) and ``1s3v_ligand.sdf`` the crystal ligand, both as distributed in the
PoseBusters package's example data (MIT licence); only the REMARK line was removed.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: the example complex's PDB id
EXAMPLE = "1s3v"


def example_files() -> dict[str, Path]:
    """``{"protein": PDB file, "ligand": SDF file}`` of the shipped example complex."""
    root = Path(str(files(__name__)))
    return {"protein": root / f"{EXAMPLE}_protein.pdb", "ligand": root / f"{EXAMPLE}_ligand.sdf"}
