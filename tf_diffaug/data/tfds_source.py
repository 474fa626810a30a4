"""A TensorFlow Datasets dataset as a data source, without surprise downloads.

``tfds.load`` prepares a missing dataset by downloading it; with no network it retries for minutes
before failing. Here a tfds name is opened only when the builder's files are already prepared in
``data_dir`` (``builder.is_prepared()``: its versioned folder with ``dataset_info.json`` exists); otherwise
``DatasetNotPreparedError`` is raised at once, naming the dataset, the folder that was checked, how
to prepare it online (``download=True``, which calls ``builder.download_and_prepare()``) and the
offline alternatives. Split strings are tfds' own (``"train[:10%]"``), resolved by tfds.
"""

from __future__ import annotations

import logging

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_diffaug.data.source import SPLIT_HELP, Source, check_split

OFFLINE_ALTERNATIVES = (
    "a folder of images (td.data.load('/path/to/images')), the embedded few-shot set "
    "'emoji-faces', or 'fashion-mnist' (read from Debian's dataset-fashion-mnist package)"
)


class DatasetNotPreparedError(FileNotFoundError):
    """A tfds dataset was asked for by name but is not prepared in the data folder."""


def find_builder(name: str, data_dir=None):
    """Returns the tfds builder for `name`, or None when tfds knows no dataset of that name.

    Constructing a builder reads only local files (no network).
    """
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        return None
    except (ValueError, AssertionError) as error:  # unparsable name, unknown config or version
        if "not found" in str(error) or "Parsing builder name" in str(error):
            return None
        raise


def is_prepared(builder) -> bool:
    """Whether the builder's files are prepared (local check; tfds' warning about them is muted).

    ``builder.is_prepared()`` logs "Variant folder ... has no dataset_info.json" for a missing
    dataset; the answer is reported by our own error instead, so that line is filtered out.
    """
    absl_logger = logging.getLogger("absl")
    mute = _MuteMissingInfo()
    absl_logger.addFilter(mute)
    try:
        return builder.is_prepared()
    finally:
        absl_logger.removeFilter(mute)


class _MuteMissingInfo(logging.Filter):
    def filter(self, record):
        return "has no dataset_info.json" not in record.getMessage()


def not_prepared_error(name: str, builder) -> DatasetNotPreparedError:
    """The error for a known but unprepared tfds dataset: what, where, and what to do instead."""
    return DatasetNotPreparedError(
        f"The tfds dataset {name!r} is not prepared in {builder.data_dir!r}, and preparing it "
        f"downloads it, which needs network access. Online, call td.data.load({name!r}, "
        f"download=True) (or run `tfds build {name}` and pass its data_dir=). Offline, use "
        f"{OFFLINE_ALTERNATIVES}."
    )


def _image_and_label_keys(name: str, info) -> tuple[str, str | None]:
    image_keys = [key for key, feature in info.features.items() if isinstance(feature, tfds.features.Image)]
    if info.supervised_keys and len(info.supervised_keys) == 2 and info.supervised_keys[0] in image_keys:
        return info.supervised_keys[0], info.supervised_keys[1]
    if not image_keys:
        raise ValueError(
            f"The tfds dataset {name!r} has no image feature (features: {list(info.features)}); "
            "td.data.load needs images."
        )
    label_keys = [key for key, feature in info.features.items() if isinstance(feature, tfds.features.ClassLabel)]
    return image_keys[0], (label_keys[0] if label_keys else None)


def open_tfds(name: str, split, data_dir=None, download: bool = False, builder=None) -> Source:
    """Opens a prepared tfds dataset as a Source of ``(uint8 image, int64 label)`` pairs.

    Args:
        name: tfds name, e.g. ``"cifar10"`` or ``"mnist:3.*.*"``.
        split: tfds split string, e.g. ``"train[:10%]"``.
        data_dir: tfds data folder (None: tfds' default, ``~/tensorflow_datasets``).
        download: prepare the dataset first when it is not (needs network access).
        builder: the builder when already made by `find_builder`.

    Raises:
        DatasetNotPreparedError: not prepared and ``download=False``.
        ValueError: a split the dataset does not have, or a dataset without images.

    Example:
        >>> source = open_tfds("cifar10", "train[:10%]")  # doctest: +SKIP
    """
    builder = builder or find_builder(name, data_dir)
    if builder is None:
        raise ValueError(f"tfds has no dataset named {name!r}.")
    if not is_prepared(builder):
        if not download:
            raise not_prepared_error(name, builder)
        builder.download_and_prepare()
    info = builder.info
    instruction = check_split(split)
    try:
        absolute = instruction.to_absolute(dict(info.splits.items()))
    except (ValueError, AssertionError) as error:
        raise ValueError(
            f"Bad split {split!r} for the tfds dataset {name!r}, which has the splits "
            f"{ {key: value.num_examples for key, value in info.splits.items()} }: expected {SPLIT_HELP}. "
            f"({str(error).strip().splitlines()[-1]})"
        ) from None
    num_examples = sum(
        (info.splits[part.splitname].num_examples if part.to is None else part.to) - (part.from_ or 0)
        for part in absolute
    )
    image_key, label_key = _image_and_label_keys(name, info)
    shape = info.features[image_key].shape

    def pick(example):
        image = tf.cast(example[image_key], tf.uint8)
        label = tf.cast(example[label_key], tf.int64) if label_key else tf.constant(-1, tf.int64)
        return image, label

    dataset = builder.as_dataset(split=split, shuffle_files=False)
    original_index = None
    if "id" in info.features and isinstance(info.features["id"], tfds.features.Text):
        # e.g. cifar10 "train_16399": the example's index in the original files (tfds stores
        # the examples in another order), which is what seeded subsets of the papers index.
        original_index = dataset.map(
            lambda example: tf.strings.to_number(tf.strings.split(example["id"], "_")[-1], tf.int64),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    dataset = dataset.map(pick, num_parallel_calls=tf.data.AUTOTUNE)
    uniform = shape is not None and None not in tuple(shape)
    return Source(name, dataset, int(num_examples), label_key is not None, bool(uniform), original_index=original_index)
