"""What a data source hands to the pipeline, and tfds-style split slicing for local sources.

Every source of ``td.data.load`` (embedded set, Fashion-MNIST files, image folder, tfds dataset)
is opened into a ``Source``: a ``tf.data.Dataset`` of ``(uint8 image [H, W, C], int64 label)``
pairs at the native size, plus what the pipeline needs to know about it.

Local sources (arrays in memory) accept exactly the split strings tfds accepts, with tfds' own
parser and rounding (``tfds.core.ReadInstruction``, ``rounding="closest"``: a percent boundary ``p``
of ``n`` examples is ``round(p * n / 100)``), so ``"train[:1%]"`` selects the same examples from the
Debian Fashion-MNIST files as from a prepared tfds copy. See
https://www.tensorflow.org/datasets/splits for the grammar (``"train"``, ``"test[:10%]"``,
``"train[100:200]"``, ``"train[-10%:]"``, ``"train+test"``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_diffaug.data import splits

SPLIT_HELP = splits.SPLIT_HELP


@dataclasses.dataclass
class Source:
    """An opened data source: native-size uint8 images with labels, and facts about them.

    Attributes:
        name: how the user named the source (for messages).
        dataset: ``tf.data.Dataset`` of ``(image uint8 [H, W, C], label int64 [])``; the label is
            -1 when the source has none.
        num_examples: number of elements of `dataset`.
        has_labels: whether the labels are real class labels.
        uniform_size: whether all images have the same size (then preprocessing may run batched).
        class_names: names of the labels 0, 1, ... when known (class sub-folders of a folder).
        report: for a folder, its ``folder.FolderReport`` (images used, files skipped), else None.
        original_index: None, or a ``tf.data.Dataset`` of int64 indices aligned with `dataset`:
            each example's index in the dataset's original order (a tfds ``id`` feature such as
            ``"train_01234"``), used by seeded subsets. None means the position in `dataset`.
    """

    name: str
    dataset: tf.data.Dataset
    num_examples: int
    has_labels: bool
    uniform_size: bool
    class_names: tuple = ()
    report: object = None
    original_index: object = None

    @classmethod
    def from_arrays(cls, name: str, images: np.ndarray, labels: np.ndarray | None) -> Source:
        """Wraps uint8 ``[N, H, W, C]`` images and optional int labels ``[N]`` held in memory."""
        has_labels = labels is not None
        if labels is None:
            labels = np.full([len(images)], -1, np.int64)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
        return cls(name, dataset, len(images), has_labels, uniform_size=True)


def check_split(split):
    """Returns the parsed split (a tfds ReadInstruction), or raises a ValueError naming it."""
    if not isinstance(split, (str, tfds.core.ReadInstruction)):
        raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}.")
    try:
        return tfds.core.ReadInstruction.from_spec(split)
    except (ValueError, AssertionError) as error:
        raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}. ({_first_line(error)})") from None


def split_ranges(split, sizes: dict[str, int], dataset_name: str) -> list[tuple[str, int, int]]:
    """Resolves a split string against local split sizes (``td.data.splits.split_ranges``).

    Example:
        >>> split_ranges("train[:1%]", {"train": 60000}, "fashion-mnist")
        [('train', 0, 600)]
    """
    return splits.split_ranges(split, sizes, dataset_name)


def select(arrays_by_split: dict[str, tuple], ranges: list[tuple[str, int, int]]) -> tuple:
    """Concatenates the selected row ranges of per-split array tuples (images, labels, ...)."""
    picked = [tuple(array[start:stop] for array in arrays_by_split[name]) for name, start, stop in ranges]
    if len(picked) == 1:
        return picked[0]
    return tuple(np.concatenate(column) for column in zip(*picked))


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
