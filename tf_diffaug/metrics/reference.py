"""Reference (real-image) FID statistics cached on disk, one file per dataset, split, size and mode.

Computing the Inception features of the real images is the slow part of an FID evaluation (about
17 images/s on a small CPU), and it gives the same result on every run over the same images. This
module stores those statistics (`FeatureStatistics`: mean, covariance and, for KID, the features)
in ``<cache_dir>/<key>.npz`` and reuses them:

- ``statistics_key(dataset, split, resolution, resize, **options)`` builds the key: a readable,
  file-name-safe string of everything that changes the reference images or their features, ending
  in a short hash of the exact values (so ``"train[:10%]"`` and ``"train[-10%:]"`` never collide);
- ``reference_statistics(images, key, resize=...)`` returns the cached statistics when the file
  exists and matches (same resize mode, and, when `images` is an array, the same pixels: a
  SHA-256 of them is stored), else computes, saves (atomically) and returns them.

The resize mode matters: FIDs in the "legacy_tensorflow" and "clean" modes differ (Parmar et al.,
"On Aliased Resizing and Surprising Subtleties in GAN Evaluation", CVPR 2022, arXiv:2104.11222),
which is why it is part of both the key and the stored metadata. The cache assumes the standard
FID Inception weights (the default of `inception_features`).

Example:
>>> key = statistics_key("emoji-faces", "train", 64, "clean")
>>> key
'emoji-faces_train_64px_clean_6d365d47'
>>> stats = reference_statistics(images, key, resize="clean")   # doctest: +SKIP
"""

import hashlib
import json
import os
import re
import tempfile

import numpy as np

from tf_diffaug.metrics.distances import FeatureStatistics
from tf_diffaug.metrics.inception import InceptionFeatureExtractor, check_images
from tf_diffaug.metrics.inception_weights import default_cache_dir
from tf_diffaug.metrics.resize import DEFAULT_RESIZE, check_resize_mode

_FORMAT = "tf_diffaug.reference_statistics.v1"
_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")


def default_statistics_dir():
    """``<keras home>/tf_diffaug/fid_statistics``: where `reference_statistics` caches by default."""
    return os.path.join(default_cache_dir(), "fid_statistics")


def _safe(text):
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", str(text)).strip("-.=+") or "x"


def statistics_key(dataset, split="train", resolution=None, resize=DEFAULT_RESIZE, **options):
    """A cache key naming the reference images and the resize mode, safe as a file name.

    Readable parts ``<dataset>_<split>_<resolution>px_<resize>[_<option>=<value>...]`` (characters
    outside ``[A-Za-z0-9.=+-]`` become ``-``; a folder path is reduced to its last component), then
    the first 8 hex digits of the SHA-1 of the exact values, so two different inputs never share a
    key. Pass as `options` every data option that changes the reference pixels (for example
    ``crop="pad"``, ``channels=3``, ``alpha_background="black"``).

    Args:
        dataset: dataset name or folder path, as given to `td.data.load_array`.
        split: split string, e.g. ``"train[:10%]"``.
        resolution: image side the reference images are loaded at (None: native size).
        resize: FID resize mode, "legacy_tensorflow" or "clean".
        **options: further values that change the images (JSON-serialisable).

    Returns:
        str.

    Example:
    >>> statistics_key("fashion-mnist", "train[:1%]", 32, "legacy_tensorflow", crop="pad")
    'fashion-mnist_train-1_32px_legacy_tensorflow_crop=pad_176fb7ec'
    """
    resize = check_resize_mode(resize)
    dataset = os.fspath(dataset)
    exact = json.dumps([dataset, split, resolution, resize, sorted(options.items())], default=str)
    digest = hashlib.sha1(exact.encode()).hexdigest()[:8]
    name = os.path.basename(os.path.normpath(dataset)) if os.sep in dataset or "/" in dataset else dataset
    parts = [_safe(name), _safe(split), "native" if resolution is None else f"{int(resolution)}px", resize]
    parts += [f"{_safe(k)}={_safe(v)}" for k, v in sorted(options.items())]
    return "_".join(parts + [digest])


def statistics_path(key, cache_dir=None):
    """The file ``<cache_dir>/<key>.npz`` of a key (checked: a plain file name, no path parts)."""
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"Bad statistics key {key!r}: expected a non-empty file name of letters, digits and "
            "'._=+-' (build one with statistics_key(dataset, split, resolution, resize))."
        )
    return os.path.join(default_statistics_dir() if cache_dir is None else os.fspath(cache_dir), f"{key}.npz")


def images_fingerprint(images):
    """SHA-256 (hex) of uint8 images: an [N, H, W, C] array or a list of [H, W, C] arrays."""
    digest = hashlib.sha256()
    for image in [images] if isinstance(images, np.ndarray) else images:
        image = np.ascontiguousarray(image)
        digest.update(f"{image.shape}{image.dtype}".encode())
        digest.update(image.tobytes())
    return digest.hexdigest()


def _save_atomically(stats, path):
    """Write to a temporary file in the same folder, then rename: readers never see a partial file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            stats.save(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load_or_compute(path, images, resize=DEFAULT_RESIZE, weights=None, batch_size=50, keep_features=True):
    """Statistics from `path` when it holds a matching computation, else computed and saved there.

    A file matches when its metadata has the same `resize` and, when `images` is given as an
    array (not a callable), the same `images_sha256`. Returns `(stats, computed)`.
    """
    resize = check_resize_mode(resize)
    fingerprint = None if callable(images) else images_fingerprint(check_images(images))
    if os.path.isfile(path):
        stats = FeatureStatistics.load(path)
        meta = stats.metadata
        same_images = fingerprint is None or meta.get("images_sha256") == fingerprint
        has_features = stats.features is not None or not keep_features  # else recompute, for KID
        if meta.get("format") == _FORMAT and meta.get("resize") == resize and same_images and has_features:
            return stats, False
    if callable(images):
        images = images()
    images = check_images(images)
    extractor = weights if isinstance(weights, InceptionFeatureExtractor) else InceptionFeatureExtractor(weights)
    features = extractor(images, batch_size=batch_size, resize=resize)
    metadata = {
        "format": _FORMAT,
        "resize": resize,
        "num_images": len(features),
        "images_sha256": fingerprint or images_fingerprint(images),
    }
    stats = FeatureStatistics.from_features(features, keep_features=keep_features, metadata=metadata)
    _save_atomically(stats, path)
    return stats, True


def reference_statistics(
    images, key, *, resize=DEFAULT_RESIZE, cache_dir=None, weights=None, batch_size=50, keep_features=True
):
    """Real-image FID/KID statistics, computed once per key and reused from the cache afterwards.

    The first call computes the Inception features of `images` in the `resize` mode and saves
    mean, covariance and features (for KID) with metadata ``{"resize", "num_images",
    "images_sha256", "format"}`` to ``statistics_path(key, cache_dir)``. Later calls with the same
    key load that file instead, provided it was made in the same `resize` mode and, when `images`
    is an array, from the same pixels; otherwise it is recomputed and replaced. Pass `images` as a
    callable (``lambda: td.data.load_array(...)``) to skip loading the images when the cache is
    there (the key is then trusted).

    Args:
        images: uint8 [N, H, W, 1 or 3], a list of uint8 [H, W, C], or a zero-argument callable
            returning either.
        key: cache key, a plain file name; build it with `statistics_key`.
        resize: FID resize mode, "legacy_tensorflow" (default) or "clean".
        cache_dir: folder of the cached files (default `default_statistics_dir()`,
            ``<keras home>/tf_diffaug/fid_statistics``).
        weights: Inception weights or an `InceptionFeatureExtractor` to share (see
            `inception_features`).
        batch_size: Inception batch size.
        keep_features: keep the [N, 2048] features (needed for KID).

    Returns:
        `FeatureStatistics`, its `metadata` as above.

    Example:
    >>> from tf_diffaug import data
    >>> key = statistics_key("emoji-faces", "train", 32, "clean")
    >>> stats = reference_statistics(                                      # doctest: +SKIP
    ...     lambda: data.load_array("emoji-faces", resolution=32), key, resize="clean")
    >>> stats.metadata["num_images"], stats.metadata["resize"]              # doctest: +SKIP
    (112, 'clean')
    """
    path = statistics_path(key, cache_dir)
    stats, _ = load_or_compute(path, images, resize, weights, batch_size, keep_features)
    return stats
