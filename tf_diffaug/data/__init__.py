"""Datasets for GAN training: the embedded few-shot set, Fashion-MNIST, image folders, tfds.

``load`` returns a ``tf.data.Dataset`` of float32 NHWC images in [-1, 1] (shuffled, cached,
prefetched, optionally batched and mirrored); ``load_array`` returns the same pixels as one uint8
NumPy array (for FID reference statistics). Sources: ``"emoji-faces"`` (112 Noto emoji faces
shipped in the package), ``"fashion-mnist"`` (Debian files or a prepared tfds copy), a folder of
images, or any prepared tfds dataset name with tfds split slicing (``"cifar10"``,
``split="train[:10%]"``). Nothing is downloaded unless ``download=True``.

Example:
    >>> import tf_diffaug as td
    >>> ds = td.data.load("emoji-faces", resolution=64, batch_size=8, seed=0)
    >>> reference = td.data.load_array("emoji-faces", resolution=64)  # uint8 [112, 64, 64, 3]
"""

from tf_diffaug.data.builtin import FASHION_MNIST_DIR, load_emoji_faces, read_idx
from tf_diffaug.data.folder import IMAGE_EXTENSIONS
from tf_diffaug.data.pipeline import BUILTIN_NAMES, load, load_array
from tf_diffaug.data.tfds_source import DatasetNotPreparedError
from tf_diffaug.data.transforms import preprocess, resize_and_center_crop

__all__ = [
    "BUILTIN_NAMES",
    "DatasetNotPreparedError",
    "FASHION_MNIST_DIR",
    "IMAGE_EXTENSIONS",
    "load",
    "load_array",
    "load_emoji_faces",
    "preprocess",
    "read_idx",
    "resize_and_center_crop",
]
