"""What the data package can read, as plain data (no TensorFlow import): the one home of these facts.

- ``IMAGE_EXTENSIONS``: the file types an image folder may hold (decoded with PIL; the first frame
  of animated GIF/WebP files). Both the folder loader and configuration validation use this tuple.
- ``BUILTIN_SPLIT_SIZES``: examples per split of the sets whose size is known without loading them
  (the embedded emoji faces, Fashion-MNIST, and the CIFAR tfds sets).
- ``list_image_files(root)``: the image files of a folder, sorted, recursively (hidden folders and
  files skipped), which is what ``td.data.load(folder)`` reads.
- ``dataset_size(name_or_path, split)``: the number of examples a split selects, when knowable
  without reading any image (``splits.split_ranges`` does the tfds-style slicing).

Example:
    >>> dataset_size("emoji-faces", "train[:15%]")
    17
"""

import os

from tf_diffaug.data import splits

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")

EMOJI_FACES = "emoji-faces"
FASHION_MNIST = "fashion-mnist"

BUILTIN_SPLIT_SIZES = {
    EMOJI_FACES: {"train": 112},
    FASHION_MNIST: {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
    "cifar100": {"train": 50_000, "test": 10_000},
}


def is_image_file(name):
    """Whether a file name has one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return str(name).lower().endswith(IMAGE_EXTENSIONS)


def list_files(root):
    """Paths (str, ``os.path.join(root, ...)``) of the non-hidden files under ``root``, recursively.

    Sorted by their POSIX path relative to ``root``, so the order does not depend on the file system.
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found.extend(os.path.join(folder, f) for f in files if not f.startswith("."))
    return sorted(found, key=lambda path: os.path.relpath(path, root).replace(os.sep, "/"))


def list_image_files(root):
    """The files of ``list_files(root)`` with one of ``IMAGE_EXTENSIONS``: what a folder loader reads."""
    return [path for path in list_files(root) if is_image_file(path)]


def dataset_size(dataset, split="train"):
    """Number of examples of ``dataset[split]`` when knowable without reading images, else None.

    Known: image folders (their image files; folders have the one split ``"train"``, sliceable) and
    the sets of ``BUILTIN_SPLIT_SIZES``, with tfds slicing such as ``"train[:10%]"``. A split that
    cannot be parsed or names an unknown split returns None (the loader gives the error).
    """
    if isinstance(dataset, str) and os.path.isdir(dataset):
        sizes = {"train": len(list_image_files(dataset))}
    else:
        sizes = BUILTIN_SPLIT_SIZES.get(dataset)
    if not sizes:
        return None
    try:
        ranges = splits.split_ranges(split or "train", sizes, str(dataset))
    except ValueError:
        return None
    return sum(stop - start for _, start, stop in ranges)
