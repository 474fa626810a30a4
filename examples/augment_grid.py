"""Augment a batch of images with DiffAugment("color,translation,cutout") and write a PNG grid.

Loads 16 faces of the embedded emoji few-shot set (``td.data.load_array("emoji-faces")``) or, with
``--synthetic`` or when that set is unavailable, a procedurally drawn batch (colored discs and
stripes), augments them ``--rows - 1`` times and writes a grid: first row the originals, each
further row one independent draw of the augmentation per image (Zhao et al., "Differentiable
Augmentation for Data-Efficient GAN Training", NeurIPS 2020, arXiv:2006.10738).

Usage: python examples/augment_grid.py [--out augment_grid.png] [--policy color,translation,cutout]
"""

import argparse

import numpy as np
from PIL import Image


def synthetic_batch(n=16, size=64, seed=0):
    """uint8 [n, size, size, 3]: a colored disc on a striped background per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(n):
        background = rng.uniform(0, 1, 3) * (0.6 + 0.4 * np.sin(2 * np.pi * rng.integers(2, 6) * (xx + yy)))[..., None]
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)[..., None]
        images.append(np.where(disc, rng.uniform(0, 1, 3), background))
    return (np.clip(np.stack(images), 0, 1) * 255).round().astype("uint8")


def load_images(n, resolution, synthetic):
    if not synthetic:
        try:
            from tf_diffaug import data

            return data.load_array("emoji-faces", resolution=resolution, channels=3)[:n]
        except Exception as error:  # the data package is optional for this example
            print(f"emoji-faces unavailable ({error}); using a synthetic batch")
    return synthetic_batch(n, resolution)


def grid(rows):
    """rows: list of uint8 [n, h, w, 3] -> one uint8 image with a 2-pixel white gutter."""
    n, h, w, _ = rows[0].shape
    canvas = np.full((len(rows) * (h + 2) + 2, n * (w + 2) + 2, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            canvas[2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + c * (w + 2) : 2 + c * (w + 2) + w] = image
    return canvas


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="augment_grid.png")
    parser.add_argument("--policy", default="color,translation,cutout")
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="skip the emoji set")
    args = parser.parse_args()

    from tf_diffaug.augment import DiffAugment

    images = load_images(16, args.resolution, args.synthetic)
    x = images.astype("float32") / 127.5 - 1.0  # DiffAugment's default value_range (-1, 1)
    augment = DiffAugment(args.policy, seed=args.seed)
    rows = [images]
    for _ in range(args.rows - 1):
        y = np.asarray(augment(x, training=True))
        rows.append(np.clip(np.round((y + 1.0) * 127.5), 0, 255).astype("uint8"))  # clip for display only
    Image.fromarray(grid(rows)).save(args.out)
    print(f"wrote {args.out}: {len(rows)} rows x {len(images)} images, policy {args.policy!r}")


if __name__ == "__main__":
    main()
