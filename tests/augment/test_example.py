"""examples/augment_grid.py (called from the README) writes the grid it promises."""

import importlib.util
import pathlib
import sys

import numpy as np
from PIL import Image

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "augment_grid.py"


def test_augment_grid_writes_originals_then_augmented_rows(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("augment_grid", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "grid.png"
    monkeypatch.setattr(
        sys, "argv", ["augment_grid.py", "--synthetic", "--resolution", "16", "--rows", "3", "--out", str(out)]
    )
    example.main()
    canvas = np.asarray(Image.open(out))
    assert canvas.shape == (3 * 18 + 2, 16 * 18 + 2, 3)
    originals = example.synthetic_batch(16, 16)
    np.testing.assert_array_equal(canvas[2:18, 2:18], originals[0])
    np.testing.assert_array_equal(canvas[2:18, 2 + 18 * 5 : 18 + 18 * 5], originals[5])
    assert not np.array_equal(canvas[20:36, 2:18], originals[0])  # second row is augmented
