"""Checks of user-given values, shared by the command line, the configs and the Python API.

One rule per kind of value, so a seed, an atom count or a distance is accepted or
rejected the same way wherever it enters (a flag, a YAML key, a keyword argument).
Each check raises :class:`~moldiff.errors.InputError` naming the value; none imports
torch, so argument parsers stay fast.
"""
from __future__ import annotations

import math
import operator

from moldiff.errors import InputError

#: seeds are integers in [0, SEED_MAX]: numpy's legacy generators, torch and every
#: seeded library moldiff drives accept them (RDKit and Vina get a seed derived from them)
SEED_MAX = 2**32 - 1
#: the most atoms (heavy atoms for pocket models) one generated molecule may have
MAX_NUM_ATOMS = 150


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int in ``[0, SEED_MAX]``."""
    if isinstance(seed, bool):
        raise InputError(f"{name} must be an integer, got {seed!r}")
    try:
        seed = operator.index(seed)  # ints and numpy integers; never floats or strings
    except TypeError:
        raise InputError(f"{name} must be an integer, got {seed!r}") from None
    if not 0 <= seed <= SEED_MAX:
        raise InputError(f"{name} must be between 0 and {SEED_MAX} (2^32 - 1), got {seed}")
    return seed


def check_finite(value, name: str) -> float:
    """``value`` as a finite float (NaN and infinities are refused)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return out


def check_positive(value, name: str):
    """``value`` (finite) > 0; returned unchanged (ints stay ints)."""
    check_finite(value, name)
    if not value > 0:
        raise InputError(f"{name} must be positive, got {value}")
    return value


def check_non_negative(value, name: str, off: str = "") -> float:
    """``value`` (finite) >= 0; ``off`` says what 0 means in the message (e.g. ``"0: off"``)."""
    check_finite(value, name)
    if value < 0:
        raise InputError(f"{name} must be >= 0{f' ({off})' if off else ''}, got {value}")
    return value


def check_num_atoms(value, name: str = "num_atoms", low: int = 1) -> int:
    """An atom count in ``[low, MAX_NUM_ATOMS]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= MAX_NUM_ATOMS:
        raise InputError(f"{name} must be between {low} and {MAX_NUM_ATOMS}, got {value}")
    return value


def derived_seed(seed: int, modulus: int = 2**31 - 1, *, nonzero: bool = False) -> int:
    """A seed for a library with a smaller range (RDKit and Vina take a C ``int``): ``seed mod
    modulus`` (seeds below ``modulus`` are kept as they are). ``nonzero``: 0 becomes ``modulus``,
    for Vina, which draws a random seed for 0 and would make the run irreproducible."""
    out = check_seed(seed) % modulus
    return modulus if nonzero and out == 0 else out


#: RDKit's embedding draws from a generator with modulus 2^31 - 1 (minimal standard): a seed of 0,
#: or any multiple of the modulus, puts it in its fixed point and every conformer comes out the same
RDKIT_SEED_MODULUS = 2**31 - 2


def rdkit_seed(seed: int) -> int:
    """``randomSeed`` for RDKit's ETKDG from any user seed, in ``[1, 2^31 - 2]``: seeds
    ``1 .. 2^31 - 3`` are kept as they are; 0 (and multiples of 2^31 - 2) become 2^31 - 2.
    RDKit's ``randomSeed=0`` (and ``2^31 - 1``) returns identical conformers, which pruning
    collapses to one."""
    return derived_seed(seed, RDKIT_SEED_MODULUS, nonzero=True)
