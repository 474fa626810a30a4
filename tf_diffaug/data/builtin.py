"""The two data sets that work with no download: the embedded emoji faces and Fashion-MNIST.

``"emoji-faces"``: 112 RGB emoji faces (the single-glyph faces of Unicode's face-* subgroups) from
Google's Noto Color Emoji (images Apache-2.0), composited on white, 128x128, shipped inside the
package as ``tf_diffaug/data/assets/emoji_faces_128.npz`` (rebuilt from Debian's
``fonts-noto-color-emoji`` by ``scripts/build_emoji_faces.py``; license in
``assets/NOTICE.emoji_faces.txt``). One split, ``"train"``; no class labels. A few-shot set in the
spirit of the 100-shot sets of DiffAugment (Zhao et al., NeurIPS 2020, arXiv:2006.10738).

``"fashion-mnist"``: Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017, arXiv:1708.07747; MIT),
60,000 train + 10,000 test 28x28 grey images with 10 class labels, read from the IDX files of
Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``). The pipeline
prefers a prepared tfds ``fashion_mnist`` copy when there is one; both hold the same images.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import os

import numpy as np

from tf_diffaug.data.source import Source, select, split_ranges

EMOJI_FACES = "emoji-faces"
FASHION_MNIST = "fashion-mnist"
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_EMOJI_ASSET = "emoji_faces_128.npz"
_IDX_UINT8 = 0x08


def load_emoji_faces() -> tuple[np.ndarray, np.ndarray]:
    """Returns the embedded set: uint8 images ``[112, 128, 128, 3]`` and their codepoint names.

    Names are lowercase hex codepoint sequences joined by ``-`` (``"1f600"``, ``"2620-fe0f"``).

    Example:
        >>> images, names = load_emoji_faces()
        >>> images.shape, str(names[0])
        ((112, 128, 128, 3), '1f479')
    """
    asset = importlib.resources.files("tf_diffaug.data") / "assets" / _EMOJI_ASSET
    with np.load(io.BytesIO(asset.read_bytes())) as archive:
        return archive["images"], archive["names"]


def open_emoji_faces(split) -> Source:
    """Opens the embedded emoji faces (split ``"train"``, tfds slicing allowed) as a Source."""
    images, _ = load_emoji_faces()
    ranges = split_ranges(split, {"train": len(images)}, EMOJI_FACES)
    (images,) = select({"train": (images,)}, ranges)
    return Source.from_arrays(EMOJI_FACES, images, None)


def read_idx(path: str) -> np.ndarray:
    """Reads a gzipped IDX file of unsigned bytes (the MNIST format) into a uint8 array.

    The header is a 4-byte magic number ``0x0000 08 <ndim>`` followed by ``ndim`` big-endian
    int32 dimensions; the data follows as raw bytes.

    Example:
        >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape
        (10000,)
    """
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UINT8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number {data[:4]!r}).")
    ndim = data[3]
    dims = np.frombuffer(data, ">i4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_length(path: str) -> int:
    with gzip.open(path, "rb") as handle:
        header = handle.read(8)
    return int(np.frombuffer(header, ">i4", count=1, offset=4)[0])


def has_fashion_mnist_files(directory: str = FASHION_MNIST_DIR) -> bool:
    """Whether the four Fashion-MNIST IDX files are in `directory` (Debian's package installed)."""
    names = [name for pair in FASHION_MNIST_FILES.values() for name in pair]
    return all(os.path.isfile(os.path.join(directory, name)) for name in names)


def fashion_mnist_paths(directory: str = FASHION_MNIST_DIR) -> dict[str, tuple[str, str]]:
    """Returns ``{split: (images_path, labels_path)}``, or raises naming the missing files."""
    paths = {
        split: tuple(os.path.join(directory, name) for name in names) for split, names in FASHION_MNIST_FILES.items()
    }
    missing = [path for pair in paths.values() for path in pair if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found: {missing}. Install Debian's package "
            "(`apt-get install dataset-fashion-mnist`), or prepare the tfds dataset "
            "'fashion_mnist' (td.data.load('fashion_mnist', download=True) when online)."
        )
    return paths


def open_fashion_mnist(split, directory: str = FASHION_MNIST_DIR) -> Source:
    """Opens Fashion-MNIST from the Debian IDX files as a Source (28x28x1 uint8, int64 labels).

    Args:
        split: tfds split string over ``"train"`` (60,000) and ``"test"`` (10,000), e.g.
            ``"train[:1%]"`` (600 images, tfds' rounding).
        directory: folder holding the four ``*-ubyte.gz`` files.

    Example:
        >>> open_fashion_mnist("test[:10%]").num_examples
        1000
    """
    paths = fashion_mnist_paths(directory)
    sizes = {name: _idx_length(images_path) for name, (images_path, _) in paths.items()}
    ranges = split_ranges(split, sizes, FASHION_MNIST)
    needed = {name for name, _, _ in ranges}
    arrays = {name: (read_idx(paths[name][0])[..., None], read_idx(paths[name][1])) for name in needed}
    images, labels = select(arrays, ranges)
    return Source.from_arrays(FASHION_MNIST, images, labels)
