"""Discriminator regularizers: R1 gradient penalty, consistency regularization, LeCam.

All return one value per example (float32 `[B]`), un-weighted; the GAN multiplies them by their
weight (`r1_gamma / 2`, `cr_weight`, `lecam_weight`) and divides the per-replica sum by the global
batch size.

- R1 (Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?",
  ICML 2018, arXiv:1801.04406): `||grad_x D(x)||^2` on real images, weighted by `gamma / 2`.
  With DiffAugment it can be taken through the augmentation, `||grad_x D(T(x))||^2`, or on the
  augmented image `y = T(x)`, `||grad_y D(y)||^2`; the official DiffAugment-stylegan2 code ships
  both (`ns_DiffAugment_r1` and `ns_r1_DiffAugment`).
- Consistency regularization (Zhang, Zhang, Odena & Lee, "Consistency Regularization for
  Generative Adversarial Networks", ICLR 2020, arXiv:1910.12027), as in the DiffAugment paper's
  comparison (lambda = 10): `(D(T(x)) - D(x))^2`.
- LeCam (Tseng, Jiang, Liu, Yang & Yang, "Regularizing Generative Adversarial Networks under
  Limited Data", CVPR 2021, arXiv:2104.03310): `relu(D(x) - a_F)^2 + relu(a_R - D(G(z)))^2` with
  `a_R`, `a_F` exponential moving averages of the discriminator's mean real and fake outputs.
"""

import tensorflow as tf


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


def squared_gradient_norm(gradients):
    """Per-example squared L2 norm of a batch of gradients.

    Args:
        gradients: tensor `[B, ...]`.

    Returns:
        float32 `[B]`: `sum over all non-batch axes of gradients^2`.
    """
    gradients = tf.cast(gradients, tf.float32)
    axes = list(range(1, len(gradients.shape)))
    return tf.reduce_sum(tf.square(gradients), axis=axes)


def r1_penalty(discriminator_fn, images):
    """R1 penalty `||grad_x D(x)||^2` per example, and the logits `D(x)`.

    The gradient is taken with a `tf.GradientTape` that stays differentiable, so minimizing the
    returned penalty under an outer tape trains the discriminator (double backpropagation).
    To take R1 "through" an augmentation `T`, pass `discriminator_fn = lambda x: D(T(x))` and the
    un-augmented images; to take it on the augmented images, pass `D` and `T(x)`.

    Args:
        discriminator_fn: callable mapping images `[B, H, W, C]` to logits `[B]` or `[B, 1]`.
        images: the real images `x` the gradient is taken at.

    Returns:
        `(penalty, logits)`: float32 `[B]` penalties and the logits `discriminator_fn(images)`.

    Example:
    >>> w = tf.constant([[1.0], [2.0]])
    >>> penalty, _ = r1_penalty(lambda x: tf.matmul(x, w), tf.ones([3, 2]))
    >>> penalty.numpy().tolist()   # |w|^2 for each example
    [5.0, 5.0, 5.0]
    """
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = discriminator_fn(images)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    gradients = tape.gradient(total, images)
    return squared_gradient_norm(gradients), logits


def consistency_penalty(augmented_logits, clean_logits):
    """Consistency regularization per example: `(D(T(x)) - D(x))^2` (Zhang et al., ICLR 2020).

    Args:
        augmented_logits: `D(T(x))`, shape `[B]` or `[B, 1]`.
        clean_logits: `D(x)` on the same un-augmented images.

    Returns:
        float32 `[B]`.

    Example:
    >>> consistency_penalty([3.0], [1.0]).numpy().tolist()
    [4.0]
    """
    return tf.square(_flat(augmented_logits) - _flat(clean_logits))


def lecam_penalty(real_logits, fake_logits, anchor_real, anchor_fake):
    """LeCam regularization per example (Tseng et al., CVPR 2021, Eq. 3).

    `relu(D(x) - a_F)^2 + relu(a_R - D(G(z)))^2`, where `a_R` and `a_F` are moving averages of
    the discriminator's mean outputs on real and generated images (see `update_anchor`). Real and
    fake batches must have the same size; example `i` pairs `real_logits[i]` with `fake_logits[i]`.

    Args:
        real_logits: `[B]` or `[B, 1]` logits of real images.
        fake_logits: `[B]` or `[B, 1]` logits of generated images.
        anchor_real: scalar `a_R`.
        anchor_fake: scalar `a_F`.

    Returns:
        float32 `[B]`.

    Example:
    >>> lecam_penalty([2.0], [-1.0], anchor_real=1.0, anchor_fake=0.5).numpy().tolist()
    [6.25]
    """
    anchor_real = tf.cast(anchor_real, tf.float32)
    anchor_fake = tf.cast(anchor_fake, tf.float32)
    return tf.square(tf.nn.relu(_flat(real_logits) - anchor_fake)) + tf.square(
        tf.nn.relu(anchor_real - _flat(fake_logits))
    )


def update_anchor(anchor, batch_mean, decay):
    """Exponential moving average step `decay * anchor + (1 - decay) * batch_mean` (LeCam anchors).

    Args:
        anchor: current anchor value (scalar).
        batch_mean: the mean discriminator output over the global batch this step.
        decay: moving-average decay in [0, 1); the LeCam paper uses 0.99.

    Returns:
        The new anchor value (float32 scalar).
    """
    return decay * tf.cast(anchor, tf.float32) + (1.0 - decay) * tf.cast(batch_mean, tf.float32)
