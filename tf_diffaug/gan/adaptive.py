"""The adaptive augmentation (ADA) controller's update rule.

Karras, Aittala, Hellsten, Laine, Lehtinen & Aila, "Training Generative Adversarial Networks with
Limited Data", NeurIPS 2020 (arXiv:2006.06676), Sec. 2.4: the augmentation probability `p` is
adjusted every `N` training steps from the overfitting heuristic

    r_t = E[sign(D(T(x_real)))]                 (over those N steps and all replicas)
    p  <- clip(p + sign(r_t - target) * images / (kimg * 1000), 0, 1)

where `images` is the number of real images the discriminator consumed in those `N` steps
(`N * global_batch`), so that `p` can move from 0 to 1 in `kimg` thousand images (500 in the paper).
Unlike ADA's reference code, `p` is clamped to [0, 1] (stylegan2-ada-pytorch issue #175 reports
p = 21.8). The probability itself is a non-trainable weight `p` of the augment layer
(`td.augment.AdaptiveAugment`); the GAN assigns it.
"""

import tensorflow as tf


def ada_update(p, sign_mean, target, images, kimg):
    """Returns the new augmentation probability after one ADA adjustment.

    Args:
        p: current probability (scalar).
        sign_mean: `r_t`, the mean of `sign(D(T(real)))` since the last adjustment.
        target: the target value of `r_t` (0.6 in ADA).
        images: number of real images seen since the last adjustment (`N * global_batch`).
        kimg: thousands of images over which `p` may go from 0 to 1 (500 in ADA).

    Returns:
        float32 scalar `clip(p + sign(sign_mean - target) * images / (kimg * 1000), 0, 1)`.

    Example:
    >>> round(float(ada_update(0.5, sign_mean=0.9, target=0.6, images=256, kimg=500)), 6)
    0.500512
    >>> float(ada_update(0.0, sign_mean=0.0, target=0.6, images=256, kimg=500))
    0.0
    """
    p = tf.cast(p, tf.float32)
    direction = tf.sign(tf.cast(sign_mean, tf.float32) - tf.cast(target, tf.float32))
    step = direction * tf.cast(images, tf.float32) / (float(kimg) * 1000.0)
    return tf.clip_by_value(p + step, 0.0, 1.0)


def probability_variable(augment):
    """Returns the augment layer's `p` weight that the ADA controller assigns.

    Args:
        augment: a Keras layer exposing a non-trainable scalar weight `p` (see
            `td.augment.AdaptiveAugment`).

    Raises:
        ValueError: if the layer has no scalar `p` variable.
    """
    p = getattr(augment, "p", None)
    if p is None or not hasattr(p, "assign") or tuple(p.shape) != ():
        raise ValueError(
            "ada_target needs an augment layer with a scalar weight `p` (e.g. "
            f"td.augment.AdaptiveAugment(td.DiffAugment(...))). Received augment={augment!r}."
        )
    return p
