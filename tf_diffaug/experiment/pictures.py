"""The pictures of a run folder that show the data and what D sees: `reals.png` and the augment grids.

- `samples/reals.png`: a grid of training images (written once, when training starts), in the
  layout of the sample grids, so generated and real images compare at a glance;
- `samples/augment-XXXXXX.png` (at every sample-grid step): the grid of `T(real)` (the same real
  images as `reals.png`) beside the grid of `T(G(z))` (the fixed latents of the sample grids, from
  the trained generator whose outputs D sees), augmented by a copy of the GAN's own augmentation
  (`augment_copy`: same policy, the current `p` when adaptive, its own fixed seed so every augment
  grid draws the same `T` parameters and does not move the training's random streams). A leak of
  the augmentation into G (Zhao et al. 2020, arXiv:2006.10738, Section 3: augmenting the reals only)
  shows as fakes that look augmented before `T`; too strong an augmentation as reals D cannot tell
  apart.

A class-conditional run lays every grid out with one row per class (`class_layout`): row `c`
holds `k = max(1, grid_size // num_classes)` images of class `c` (reals: the first `k` of that
class in the dataset's order; samples: label `c`).

Example:
    >>> labels, columns = class_layout(36, None)        # unconditional: a square grid
    >>> labels, columns
    (None, 6)
    >>> labels, columns = class_layout(7, 2)            # 2 classes: 2 rows of 3
    >>> labels.tolist(), columns
    ([0, 0, 0, 1, 1, 1], 3)
"""

import math

import numpy as np

REALS_FILE = "reals.png"
AUGMENT_PREFIX = "augment-"


def class_layout(num_samples, num_classes):
    """`(labels, columns)` of a grid: None and `ceil(sqrt(n))` unconditionally, else one row per class.

    With classes: `labels = repeat(arange(num_classes), k)` and `columns = k`,
    `k = max(1, num_samples // num_classes)` (so a grid has `num_classes * k` images).
    """
    if num_classes is None:
        return None, max(1, math.ceil(math.sqrt(num_samples)))
    per_class = max(1, num_samples // num_classes)
    return np.repeat(np.arange(num_classes), per_class), per_class


def grid_reals(config, num_samples):
    """The training images of `reals.png` as uint8 `[n, H, W, C]` (and their int labels, or None).

    The first `num_samples` images of the training split in the dataset's order (`td.data.load`
    with `shuffle=False`: the pixels the loader feeds D, before the flips), or with classes the first
    `k` of each class (`class_layout`), class by class (black where a class has fewer than `k`).
    Images are streamed, so a large dataset is not read whole.
    """
    import tf_diffaug as td
    from tf_diffaug.experiment import build

    labels, _ = class_layout(num_samples, config["num_classes"])
    conditional = labels is not None
    stream = td.data.load(
        config["dataset"],
        split=config["split"],
        with_labels=conditional,
        shuffle=False,
        cache=False,
        subset_size=config["subset_size"],
        subset_seed=config["subset_seed"],
        **build.data_options(config),
    )
    if not conditional:
        images = [image for image in stream.take(num_samples).as_numpy_iterator()]
        return td.metrics.to_uint8(np.stack(images)), None
    per_class = len(labels) // config["num_classes"]
    found = {c: [] for c in range(config["num_classes"])}
    for image, label in stream.as_numpy_iterator():
        if len(found[int(label)]) < per_class:
            found[int(label)].append(image)
        if all(len(images) == per_class for images in found.values()):
            break
    blank = -np.ones_like(next(images for images in found.values() if images)[0])
    images = [
        found[c][i] if i < len(found[c]) else blank for c in range(config["num_classes"]) for i in range(per_class)
    ]
    return td.metrics.to_uint8(np.stack(images)), labels


def augment_copy(augment, seed):
    """A new layer with `augment`'s configuration (policy, ops, wrapped layer) and seed `seed`.

    For `td.augment.AdaptiveAugment` the wrapped DiffAugment gets `seed + 1` and the copy's `p` is
    the current `p` of `augment`.
    """
    config = augment.get_config()
    config["seed"] = seed
    inner = config.get("augment")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        inner = dict(inner, config=dict(inner["config"], seed=seed + 1))
        config["augment"] = inner
    copy = type(augment).from_config(config)
    if hasattr(augment, "p") and hasattr(copy, "p"):
        copy.p.assign(augment.p)
    return copy


def augmented(augment, images_uint8, seed):
    """`T(images)` as uint8, `T` drawn by `augment_copy(augment, seed)` (the same draws for the same seed)."""
    from tf_diffaug.gan.callbacks import to_uint8

    copy = augment_copy(augment, seed)
    images = np.asarray(images_uint8, np.float32) / 127.5 - 1.0
    return to_uint8(np.asarray(copy(images, training=True)))


def augment_grid(augment, reals_uint8, fakes_uint8, columns, seed):
    """`[grid of T(reals) | grid of T(fakes)]` side by side (uint8); each half is `td.gan.image_grid(columns)`.

    Reals and fakes are augmented by two copies of `augment` seeded `seed` and `seed + 2`.
    """
    from tf_diffaug.gan.callbacks import image_grid

    left = image_grid(augmented(augment, reals_uint8, seed), columns=columns)
    right = image_grid(augmented(augment, fakes_uint8, seed + 2), columns=columns)
    if left.shape[0] != right.shape[0]:  # fewer reals than samples: pad the shorter half with black
        height = max(left.shape[0], right.shape[0])
        left, right = (np.pad(g, ((0, height - g.shape[0]), (0, 0), (0, 0))) for g in (left, right))
    return np.concatenate([left, right], axis=1)


def save_png(path, image):
    """Writes a uint8 `[H, W, C]` image (C = 1 as grey) to `path`."""
    from PIL import Image

    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    return path


__all__ = [
    "AUGMENT_PREFIX",
    "REALS_FILE",
    "augment_copy",
    "augment_grid",
    "augmented",
    "class_layout",
    "grid_reals",
    "save_png",
]
