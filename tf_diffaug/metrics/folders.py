"""FID and KID between two folders of images, read at their native sizes (``python -m tf_diffaug.metrics``).

Each folder is read as ``td.data`` reads folders (recursively, sorted, hidden files ignored, the
first frame of animations, EXIF orientation, transparency composited on `alpha_background`, grey
kept grey; see `tf_diffaug.data.folder`), but *not* resized to a training resolution: every image
goes to the Inception network's 299x299 input straight from its own size by the chosen `resize`
mode ("legacy_tensorflow" or "clean"; Parmar et al., CVPR 2022, arXiv:2104.11222), so folders
of differently sized images are fine. Images are decoded and embedded `batch_size` at a time,
so a folder never has to fit in memory at full size.
"""

import numpy as np

from tf_diffaug.data import folder as image_folder
from tf_diffaug.metrics.distances import frechet_distance, kernel_distance
from tf_diffaug.metrics.inception import FEATURE_DIM, InceptionFeatureExtractor
from tf_diffaug.metrics.resize import DEFAULT_RESIZE, check_resize_mode


def folder_features(path, extractor, resize=DEFAULT_RESIZE, batch_size=50, alpha_background="white"):
    """Inception features of every readable image of a folder: ``(features [N, 2048], FolderReport)``.

    Args:
        path: image folder.
        extractor: an `InceptionFeatureExtractor`.
        resize: "legacy_tensorflow" or "clean".
        batch_size: images decoded and embedded at a time.
        alpha_background: "white" or "black" (see `tf_diffaug.data.folder.decode_image`).

    Raises:
        FileNotFoundError: not a folder. ValueError: no readable image in it.

    Example:
    >>> feats, report = folder_features("samples/", InceptionFeatureExtractor())   # doctest: +SKIP
    >>> print(report.summary())                                                     # doctest: +SKIP
    'samples/': 5000 images, 0 files skipped
    """
    resize = check_resize_mode(resize)
    report = image_folder.scan_folder(path)
    report.raise_if_empty()
    chunks, batch = [], []
    for _, image in image_folder.iter_images(report, alpha_background):
        batch.append(image)
        if len(batch) == batch_size:
            chunks.append(extractor(batch, batch_size=batch_size, resize=resize))
            batch = []
    if batch:
        chunks.append(extractor(batch, batch_size=batch_size, resize=resize))
    report.raise_if_empty()
    features = np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM), np.float32)
    return features, report


def compare_folders(
    folder_a,
    folder_b,
    resize=DEFAULT_RESIZE,
    kid=False,
    batch_size=50,
    weights=None,
    cache_dir=None,
    fid_method="sqrtm",
    kid_subsets=100,
    alpha_background="white",
):
    """FID (Heusel et al., NeurIPS 2017) and optionally KID (Binkowski et al., ICLR 2018) between two folders.

    Args:
        folder_a, folder_b: image folders.
        resize: FID resize mode, "legacy_tensorflow" (default) or "clean".
        kid: also compute KID (100 subsets of min(1000, N_a, N_b) rows, seed 0).
        batch_size: Inception batch size.
        weights: Inception weights (see `inception_features`) or an `InceptionFeatureExtractor`.
        cache_dir: folder of the converted Inception weights.
        fid_method: "sqrtm", "eigh" or "gram" (see `frechet_distance`).
        kid_subsets: number of KID subsets.
        alpha_background: "white" or "black": the colour behind transparent pixels.

    Returns:
        dict ``{"fid", "resize", "num_images_a", "num_images_b", "skipped_a", "skipped_b",
        "summary_a", "summary_b"}`` plus ``"kid"`` and ``"kid_std"`` with `kid`; ``skipped_*``
        are lists of ``[relative path, reason]``.

    Example:
    >>> compare_folders("real/", "fake/", resize="clean", kid=True)["fid"]   # doctest: +SKIP
    12.345...
    """
    resize = check_resize_mode(resize)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}.")
    if fid_method not in ("sqrtm", "eigh", "gram"):
        raise ValueError(f"Unknown fid_method {fid_method!r}. Expected one of ['eigh', 'gram', 'sqrtm'].")
    extractor = (
        weights if isinstance(weights, InceptionFeatureExtractor) else InceptionFeatureExtractor(weights, cache_dir)
    )
    feats_a, report_a = folder_features(folder_a, extractor, resize, batch_size, alpha_background)
    feats_b, report_b = folder_features(folder_b, extractor, resize, batch_size, alpha_background)
    for name, feats in (("folder_a", feats_a), ("folder_b", feats_b)):
        if len(feats) < 2:
            raise ValueError(f"FID needs at least 2 images per folder, {name} has {len(feats)}.")
    result = {
        "fid": frechet_distance(feats_a, feats_b, method=fid_method),
        "resize": resize,
        "num_images_a": report_a.num_images,
        "num_images_b": report_b.num_images,
        "skipped_a": [list(item) for item in report_a.skipped],
        "skipped_b": [list(item) for item in report_b.skipped],
        "summary_a": report_a.summary(),
        "summary_b": report_b.summary(),
    }
    if kid:
        result["kid"], result["kid_std"] = kernel_distance(feats_a, feats_b, num_subsets=kid_subsets, return_std=True)
    return result
