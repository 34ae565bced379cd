"""Field names of the PyG ``Data``/``Batch`` objects moldiff passes around.

Every module reads and writes graphs through these names (see DESIGN.md):

==============  ==========  ====================================================
key             shape       meaning
==============  ==========  ====================================================
``pos``         (N, 3)      float32 coordinates, Å
``atom_type``   (N,)        int64 index into the dataset's element vocabulary
``charge``      (N,)        int64 formal charge
``batch``       (N,)        int64 graph index of each atom (added by PyG batching)
``edge_index``  (2, E)      int64 source/target atom indices
``bond_type``   (E,)        int64 bond order class
``num_atoms``   (B,)        int64 atoms per graph
``idx``         (B,)        int64 row of the molecule in its dataset
==============  ==========  ====================================================
"""
POS = "pos"
ATOM_TYPE = "atom_type"
CHARGE = "charge"
BATCH = "batch"
EDGE_INDEX = "edge_index"
BOND_TYPE = "bond_type"
NUM_ATOMS = "num_atoms"
IDX = "idx"
