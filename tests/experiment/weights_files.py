"""Checkpoint files of the experiment tests, read with h5py (independently of Keras' loader).

Import as `from tests.experiment import weights_files`.

Example:
    >>> arrays = weights_files.read("runs/00000-x/checkpoints/ckpt-000040.weights.h5")   # doctest: +SKIP
    >>> arrays["vars/step"]                                                               # doctest: +SKIP
    array(40)
"""

import os

import h5py
import numpy as np


def read(path):
    """`{entry name: array}` of every dataset in a Keras `.weights.h5` file."""
    arrays = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            arrays[name] = np.array(item[()])

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return arrays


def non_finite(path):
    """Entries of `path` holding a NaN or infinite value (computed here, not by the package)."""
    return sorted(
        name for name, value in read(path).items() if value.dtype.kind == "f" and not np.all(np.isfinite(value))
    )


def checkpoint_files(checkpoint_dir):
    """The sorted `ckpt-*.weights.h5` names of a checkpoint folder (and nothing else ending in .h5)."""
    return sorted(name for name in os.listdir(checkpoint_dir) if name.endswith(".h5"))


def assert_same(a, b):
    """Every entry of weights files `a` and `b` is equal (same names, bit for bit)."""
    first, second = read(a), read(b)
    assert sorted(first) == sorted(second)
    different = [name for name in first if not np.array_equal(first[name], second[name])]
    assert not different, f"{len(different)} of {len(first)} entries differ, e.g. {different[:5]}"
    return first
