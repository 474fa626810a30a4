"""Plain NumPy (loop-based where it matters) references for the DiffAugment ops.

Written independently of the library: explicit loops over pixels for translate and cutout, the
textbook formulas for the color ops. Imported as `tests.helpers.numpy_reference` (subprocesses get the
repository root on PYTHONPATH, see `tests.helpers.processes`).
"""

import numpy as np


def brightness(x, delta):
    return x + np.asarray(delta, np.float64).reshape(-1, 1, 1, 1)


def saturation(x, factor):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) * np.asarray(factor, np.float64).reshape(-1, 1, 1, 1) + mean


def contrast(x, factor):
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * np.asarray(factor, np.float64).reshape(-1, 1, 1, 1) + mean


def translate(x, offsets, fill=0.0):
    """out[b, i, j] = x[b, i - dy, j - dx] when inside the image, else fill."""
    batch, height, width, _ = x.shape
    out = np.full(x.shape, fill, np.float64)
    for b in range(batch):
        dy, dx = (int(v) for v in offsets[b])
        for i in range(height):
            for j in range(width):
                si, sj = i - dy, j - dx
                if 0 <= si < height and 0 <= sj < width:
                    out[b, i, j] = x[b, si, sj]
    return out


def translate_keep(shape, offsets):
    """1 where the translated output has a source pixel."""
    return translate(np.ones(shape), offsets, 0.0)


def cutout(x, centers, size, fill=0.0):
    """rows [cy - h//2, cy - h//2 + h) x cols [cx - w//2, cx - w//2 + w), clipped, set to fill."""
    out = np.array(x, np.float64)
    h, w = size
    for b in range(x.shape[0]):
        cy, cx = (int(v) for v in centers[b])
        for i in range(cy - h // 2, cy - h // 2 + h):
            for j in range(cx - w // 2, cx - w // 2 + w):
                if 0 <= i < x.shape[1] and 0 <= j < x.shape[2]:
                    out[b, i, j] = fill
    return out


def translate_transpose(g, offsets):
    """The adjoint of translate (zero fill): scatter each output gradient back to its source."""
    batch, height, width, _ = g.shape
    out = np.zeros(g.shape, np.float64)
    for b in range(batch):
        dy, dx = (int(v) for v in offsets[b])
        for i in range(height):
            for j in range(width):
                si, sj = i - dy, j - dx
                if 0 <= si < height and 0 <= sj < width:
                    out[b, si, sj] += g[b, i, j]
    return out


def diffaugment(x, t, value_range=(-1.0, 1.0), cutout_ratio=0.5):
    """The official policy applied sequentially with explicit parameters t (a transformation dict)."""
    fill = (value_range[0] + value_range[1]) / 2.0
    y = contrast(saturation(brightness(x, t["brightness"]), t["saturation"]), t["contrast"])
    y = translate(y, t["translation"], fill)
    size = (int(x.shape[1] * cutout_ratio + 0.5), int(x.shape[2] * cutout_ratio + 0.5))
    return cutout(y, t["cutout"], size, fill)
