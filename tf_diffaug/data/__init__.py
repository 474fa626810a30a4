"""Datasets for GAN training: the embedded few-shot set, Fashion-MNIST, image folders, tfds.

``load`` returns a ``tf.data.Dataset`` of float32 NHWC images in [-1, 1] (shuffled, cached,
prefetched, optionally batched and mirrored); ``load_array`` returns the same pixels as one uint8
NumPy array (for FID reference statistics). Sources: ``"emoji-faces"`` (112 Noto emoji faces
shipped in the package), ``"fashion-mnist"`` (Debian files or a prepared tfds copy), a folder of
images, or any prepared tfds dataset name with tfds split slicing (``"cifar10"``,
``split="train[:10%]"``). Nothing is downloaded unless ``download=True``.

Names load their module on first use; ``IMAGE_EXTENSIONS`` comes from ``catalog`` and, like
``splits``, imports no TensorFlow.

Example:
    >>> import tf_diffaug as td
    >>> ds = td.data.load("emoji-faces", resolution=64, batch_size=8, seed=0)
    >>> reference = td.data.load_array("emoji-faces", resolution=64)  # uint8 [112, 64, 64, 3]
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "FASHION_MNIST_DIR": "builtin",
        "load_emoji_faces": "builtin",
        "read_idx": "builtin",
        "IMAGE_EXTENSIONS": "catalog",
        "BUILTIN_NAMES": "pipeline",
        "load": "pipeline",
        "load_array": "pipeline",
        "DatasetNotPreparedError": "tfds_source",
        "preprocess": "transforms",
        "resize_and_center_crop": "transforms",
        "FolderReport": "folder",
        "read_images": "folder",
        "scan_folder": "folder",
        "FASHION_MNIST_CLASSES": "pipeline",
        "class_names": "pipeline",
        "ALPHA_BACKGROUNDS": "transforms",
        "CROP_MODES": "transforms",
        "resize_to_square": "transforms",
    },
)
