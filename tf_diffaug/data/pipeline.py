"""``td.data.load`` and ``td.data.load_array``: any image source to training batches in [-1, 1].

A source is named by one string (or path):

- ``"emoji-faces"``: the embedded 112-image few-shot set (RGB, no labels; ``builtin.py``);
- ``"fashion-mnist"``: Fashion-MNIST (grey, 10 labels), from a prepared tfds ``fashion_mnist`` copy
  when there is one, else from Debian's ``dataset-fashion-mnist`` files (else, with
  ``download=True``, from a tfds download);
- an existing folder of images (``folder.py``); a path-like string (``/``, ``.``, ``~`` first) that
  is not a folder is an error;
- any other string is a tfds name (``"cifar10"``, ``"mnist:3.*.*"``), opened only when prepared in
  ``data_dir`` unless ``download=True`` (``tfds_source.py``).

Our two names are checked first, then folders, then tfds. Every source goes through the same
preprocessing (``transforms.preprocess``: alpha composited on ``alpha_background``, resized to a
``resolution`` square by the ``crop`` mode with an antialiased filter, channel conversion, uint8
rounding), so ``load_array`` (uint8, e.g. for FID reference statistics) and ``load`` (float32 in
[-1, 1] for training) give the same pixels. The training pipeline is: preprocess -> cache (uint8,
in memory) -> shuffle -> mirror -> to [-1, 1] -> batch -> repeat -> prefetch.

``class_names(name_or_path)`` gives the names of the labels (class sub-folders of a folder, the
Fashion-MNIST classes, a prepared tfds dataset's ``ClassLabel`` names).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tf_diffaug.data import builtin, folder, splits, tfds_source, transforms
from tf_diffaug.data.source import Source, check_split

BUILTIN_NAMES = (builtin.EMOJI_FACES, builtin.FASHION_MNIST)
_PREPROCESS_BATCH = 256
#: The label names of Fashion-MNIST, label 0 first (Xiao, Rasul, Vollgraf, arXiv:1708.07747, Table 1).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _is_path_like(name) -> bool:
    return isinstance(name, os.PathLike) or str(name).startswith(("/", ".", "~", "\\"))


def _builtin_key(name_or_path):
    if isinstance(name_or_path, os.PathLike):
        return None
    return os.fspath(name_or_path).strip().lower().replace("_", "-")


def open_source(
    name_or_path,
    split="train",
    resolution=64,
    channels=None,
    with_labels=False,
    data_dir=None,
    download=False,
    crop="center",
    alpha_background="white",
) -> Source:
    """Opens a named source (see the module docstring) as a ``Source`` of native-size images.

    Folders are read and resized at once (with `crop` and `alpha_background`); other sources
    are resized later by ``transforms.preprocess``.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise ValueError(f"Bad dataset {name_or_path!r}: expected {_accepted()}.")
    name = os.fspath(name_or_path)
    key = _builtin_key(name_or_path)
    if key == builtin.EMOJI_FACES:
        if alpha_background != "white":
            raise ValueError(
                f"Bad alpha_background {alpha_background!r} for 'emoji-faces': the embedded set is stored "
                "already composited on white, so only alpha_background='white' applies. For another "
                "background, save the emoji as RGBA files in a folder and load that folder."
            )
        return builtin.open_emoji_faces(split)
    if key == builtin.FASHION_MNIST:
        tfds_builder = tfds_source.find_builder("fashion_mnist", data_dir)
        prepared = tfds_builder is not None and tfds_source.is_prepared(tfds_builder)
        if prepared or (download and not builtin.has_fashion_mnist_files()):
            return tfds_source.open_tfds("fashion_mnist", split, download=download, builder=tfds_builder)
        return builtin.open_fashion_mnist(split)
    if os.path.isdir(os.path.expanduser(name)):
        path = os.path.expanduser(name)
        return folder.open_folder(path, split, resolution, channels, with_labels, crop, alpha_background)
    if _is_path_like(name_or_path):
        raise FileNotFoundError(f"Image folder {name!r} does not exist or is not a folder.")
    builder = tfds_source.find_builder(name, data_dir)
    if builder is None:
        raise ValueError(
            f"Unknown dataset {name!r}: it is not an existing folder, not a built-in set "
            f"and not a tfds dataset name. Expected {_accepted()}."
        )
    return tfds_source.open_tfds(name, split, data_dir, download, builder=builder)


def _accepted() -> str:
    return (
        f"one of the built-in sets {list(BUILTIN_NAMES)}, the path of a folder of images "
        f"({', '.join(folder.IMAGE_EXTENSIONS)}), or a tfds dataset name such as 'cifar10' "
        "(tfds.list_builders())"
    )


def _check_arguments(split, resolution, channels, batch_size, repeat=False, crop="center", alpha_background="white"):
    check_split(split)
    transforms.check_resolution(resolution)
    transforms.check_channels(channels)
    transforms.check_crop(crop)
    transforms.check_alpha_background(alpha_background)
    bad_batch = isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    if batch_size is not None and bad_batch:
        raise ValueError(f"Bad batch_size {batch_size!r}: expected None (unbatched) or a positive integer.")
    if not isinstance(repeat, (bool, int)) or (not isinstance(repeat, bool) and repeat < 1):
        raise ValueError(f"Bad repeat {repeat!r}: expected False, True (forever) or a positive count.")


def _preprocessed(source: Source, resolution: int, channels, crop="center", alpha_background="white"):
    """Maps a source's ``(image, label)`` pairs to uint8 ``[resolution, resolution, C]`` images."""

    def apply(images, labels):
        return transforms.preprocess(images, resolution, channels, crop, alpha_background), labels

    if source.uniform_size:  # same-size images: preprocess whole batches (far fewer op calls)
        batched = source.dataset.batch(_PREPROCESS_BATCH)
        return batched.map(apply, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return source.dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)


def subset(source: Source, subset_size, seed=0) -> Source:
    """The examples of `source` that a subset keeps (``splits.subset_indices``; `seed=None`: the first ones).

    Indices refer to the source's original order: its ``original_index`` (a tfds ``id`` such as
    ``"train_01234"``) when it has one, else the position in the source. The kept examples stay
    in the source's order.

    Example:
        >>> faces = open_source("emoji-faces", resolution=32)
        >>> subset(faces, 10, seed=0).num_examples
        10
    """
    keep = splits.subset_indices(source.num_examples, subset_size, seed)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keep), tf.ones(len(keep), tf.int64)), default_value=0
    )
    index = source.original_index
    if index is None:
        index = tf.data.Dataset.range(source.num_examples)
    pairs = tf.data.Dataset.zip((source.dataset, index))

    def kept_example(pair, i):
        return table.lookup(i) > 0

    def example(pair, i):
        return pair

    kept = pairs.filter(kept_example).map(example)
    return dataclasses.replace(
        source, dataset=kept.apply(tf.data.experimental.assert_cardinality(len(keep))), num_examples=len(keep)
    )


def _open_checked(
    name_or_path,
    split,
    resolution,
    channels,
    with_labels,
    data_dir,
    download,
    crop,
    alpha_background,
    subset_size=None,
    subset_seed=0,
) -> Source:
    source = open_source(
        name_or_path, split, resolution, channels, with_labels, data_dir, download, crop, alpha_background
    )
    if subset_size is not None:
        source = subset(source, subset_size, subset_seed)
    if with_labels and not source.has_labels:
        raise ValueError(
            f"with_labels=True but dataset {source.name!r} has no class labels. Use with_labels=False, "
            "or a labelled source ('fashion-mnist', a labelled tfds dataset, a folder of class sub-folders)."
        )
    return source


def _mirror(dataset: tf.data.Dataset, seed) -> tf.data.Dataset:
    """Flips each image left-right with probability 1/2, drawn anew every epoch."""
    coins = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def flip(pair, coin):
        image, label = pair
        return tf.cond(coin % 2 == 0, lambda: tf.reverse(image, axis=[1]), lambda: image), label

    return tf.data.Dataset.zip((dataset, coins)).map(flip, num_parallel_calls=tf.data.AUTOTUNE)


def load(
    name_or_path,
    split="train",
    resolution=64,
    batch_size=None,
    with_labels=False,
    channels=None,
    shuffle=True,
    mirror=False,
    seed=None,
    drop_remainder=True,
    repeat=False,
    *,
    data_dir=None,
    download=False,
    cache=True,
    crop="center",
    alpha_background="white",
    subset_size=None,
    subset_seed=0,
) -> tf.data.Dataset:
    """Loads an image dataset as a ``tf.data.Dataset`` of float32 NHWC images in [-1, 1].

    Transparent pixels are composited on `alpha_background`; images are resized to a
    `resolution` square by the `crop` mode (default: shorter side to `resolution`, antialiased
    bilinear, then the central square), converted to `channels`, rounded to uint8 (cached in
    memory as such), then mapped to ``x / 127.5 - 1``. With ``mirror=True`` each image is flipped left-right with probability
    1/2, drawn anew every epoch (the "mirror" x-flip augmentation of the StyleGAN2-ADA and
    DiffAugment training code; Karras et al. 2020, arXiv:2006.06676). Nothing is downloaded unless
    ``download=True``.

    Args:
        name_or_path: ``"emoji-faces"``, ``"fashion-mnist"``, a folder path, or a tfds name.
        split: tfds split string, e.g. ``"train"``, ``"train[:10%]"``, ``"test[100:200]"``.
            Folders and ``"emoji-faces"`` have the single split ``"train"``.
        resolution: side of the square images.
        batch_size: None for single images, else the batch size.
        with_labels: yield ``(images, labels)`` with int64 labels. For a folder, its immediate
            sub-folders are the classes (sorted names; ``class_names(folder)``): at least two,
            and no image directly in the folder.
        channels: None (the source's own: 3 for emoji-faces, 1 for fashion-mnist; for a folder,
            3 when any image is colour, 1 when all are grey), 1 (BT.601 luma of colour images) or
            3 (grey tiled to RGB).
        shuffle: shuffle the whole dataset, reshuffled every epoch.
        mirror: random horizontal flips (off by default).
        seed: int seed of the shuffle and the flips (None: nondeterministic).
        drop_remainder: drop the last partial batch.
        repeat: False, True (forever) or a number of epochs.
        data_dir: tfds data folder (None: tfds' default).
        download: let tfds download and prepare a missing tfds dataset (needs network access).
        cache: keep the preprocessed uint8 images in memory after the first epoch.
        crop: how non-square images become square: ``"center"`` (default: shorter side to
            `resolution`, central square kept), ``"pad"`` (letterbox: longer side to
            `resolution`, margins filled with the `alpha_background` colour) or ``"none"``
            (both sides to `resolution`, aspect ratio not kept).
        alpha_background: ``"white"`` (default) or ``"black"``: the colour transparent pixels
            (RGBA, grey + alpha, palette transparency) are composited on, and of "pad" margins.
            The embedded emoji faces are stored on white and accept only "white".
        subset_size: None (every example of `split`), or keep a seeded random subset of this many
            examples of it (``splits.subset_indices``: the official DiffAugment CIFAR-10 10 % / 20 %
            subsets are ``split="train", subset_size=5000 / 10000, subset_seed=0``).
        subset_seed: seed of that subset, or None for the first `subset_size` examples of the
            original order (Chen et al.'s 10 % of CIFAR-10).

    Returns:
        A dataset of images ``[resolution, resolution, C]`` (``[B, ...]`` when batched), float32 in
        [-1, 1], or of ``(images, labels)`` pairs, prefetched.

    Raises:
        ValueError: bad argument or unknown dataset name (the message lists what is accepted).
        FileNotFoundError: a missing folder; ``DatasetNotPreparedError`` for an unprepared tfds name.

    Example:
        >>> ds = load("emoji-faces", resolution=32, batch_size=16, seed=0)
        >>> next(iter(ds)).shape
        TensorShape([16, 32, 32, 3])
    """
    _check_arguments(split, resolution, channels, batch_size, repeat, crop, alpha_background)
    source = _open_checked(
        name_or_path,
        split,
        resolution,
        channels,
        with_labels,
        data_dir,
        download,
        crop,
        alpha_background,
        subset_size,
        subset_seed,
    )
    if batch_size is not None and drop_remainder and batch_size > source.num_examples:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {source.num_examples} images of "
            f"{source.name!r} split {split!r}: with drop_remainder=True no batch would be produced. "
            "Use a smaller batch_size or drop_remainder=False."
        )
    dataset = _preprocessed(source, resolution, channels, crop, alpha_background)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(max(source.num_examples, 1), seed=seed, reshuffle_each_iteration=True)
    if mirror:
        dataset = _mirror(dataset, None if seed is None else seed + 1)

    def finish(images, labels):
        images = transforms.to_unit_range(images)
        return (images, labels) if with_labels else images

    dataset = dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if repeat is True:
        dataset = dataset.repeat()
    elif repeat:
        dataset = dataset.repeat(repeat)
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_array(
    name_or_path,
    split="train",
    resolution=64,
    with_labels=False,
    channels=None,
    *,
    data_dir=None,
    download=False,
    crop="center",
    alpha_background="white",
    subset_size=None,
    subset_seed=0,
):
    """Loads a dataset as one uint8 NumPy array, in the source's order (no shuffle, no flips).

    The pixels are exactly those ``load`` feeds the discriminator (before its ``/ 127.5 - 1``), so
    this is the array to compute FID reference statistics from.

    Args:
        name_or_path, split, resolution, channels, data_dir, download, crop, alpha_background,
            subset_size, subset_seed: as in ``load``.
        with_labels: also return the int64 labels.

    Returns:
        uint8 ``[N, resolution, resolution, C]``, or ``(images, labels int64 [N])`` with labels.

    Example:
        >>> load_array("emoji-faces", resolution=32).shape
        (112, 32, 32, 3)
    """
    _check_arguments(split, resolution, channels, None, False, crop, alpha_background)
    source = _open_checked(
        name_or_path,
        split,
        resolution,
        channels,
        with_labels,
        data_dir,
        download,
        crop,
        alpha_background,
        subset_size,
        subset_seed,
    )
    images, labels = [], []
    preprocessed = _preprocessed(source, resolution, channels, crop, alpha_background)
    for batch_images, batch_labels in preprocessed.batch(_PREPROCESS_BATCH):
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    images = np.concatenate(images)
    return (images, np.concatenate(labels).astype(np.int64)) if with_labels else images


def class_names(name_or_path, *, data_dir=None) -> list:
    """The names of the labels ``load(name_or_path, with_labels=True)`` yields, label 0 first.

    - a folder: its immediate sub-folders holding image files, sorted (no image is read); a
      ValueError when there are fewer than two or images lie directly in the folder;
    - ``"fashion-mnist"``: ``FASHION_MNIST_CLASSES``;
    - a prepared tfds dataset: the names of its label ``ClassLabel`` feature.

    Raises:
        ValueError: a source without class labels (``"emoji-faces"``, unlabelled tfds sets).

    Example:
        >>> class_names("fashion-mnist")[:3]
        ['T-shirt/top', 'Trouser', 'Pullover']
    """
    key = _builtin_key(name_or_path) if isinstance(name_or_path, (str, os.PathLike)) else None
    if key == builtin.FASHION_MNIST:
        return list(FASHION_MNIST_CLASSES)
    if key != builtin.EMOJI_FACES and isinstance(name_or_path, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(name_or_path))
        if os.path.isdir(path):
            return folder.class_names(path)
        if not _is_path_like(name_or_path):
            builder = tfds_source.find_builder(os.fspath(name_or_path), data_dir)
            if builder is not None:
                _, label_key = tfds_source._image_and_label_keys(os.fspath(name_or_path), builder.info)
                if label_key is not None:
                    return list(builder.info.features[label_key].names)
    open_source(name_or_path, data_dir=data_dir)  # raises the source's own error when it cannot open
    raise ValueError(f"Dataset {os.fspath(name_or_path)!r} has no class labels, so it has no class names.")
