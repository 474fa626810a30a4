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
  `a_R`, `a_F` exponential moving averages of the discriminator's mean real and fake outputs,
  updated and switched on as the authors' code does (google/lecam-gan, see `LeCamRegularizer`).

The functions are the formulas; `R1Regularizer`, `ConsistencyRegularizer` and `LeCamRegularizer`
are what `td.GAN.compile` builds for its D step: each knows its weight (`coefficient`), its log
name and when it is enabled, and `LeCamRegularizer` owns its anchors and their update (from
`lecam_start_step` on).
"""

import numbers

import keras
import tensorflow as tf
from keras import ops


def _flat(logits):
    return ops.reshape(ops.cast(logits, "float32"), [-1])


def squared_gradient_norm(gradients):
    """Per-example squared L2 norm of a batch of gradients.

    Args:
        gradients: tensor `[B, ...]`.

    Returns:
        float32 `[B]`: `sum over all non-batch axes of gradients^2`.
    """
    gradients = ops.cast(gradients, "float32")
    axes = list(range(1, len(gradients.shape)))
    return ops.sum(ops.square(gradients), axis=axes)


def r1_penalty(discriminator_fn, images):
    """R1 penalty `||grad_x D(x)||^2` per example, and the logits `D(x)`.

    The gradient is taken with a `tf.GradientTape` that stays differentiable, so minimizing the
    returned penalty under an outer tape trains the discriminator (double backpropagation); on
    Keras' JAX backend with `jax.grad` inside the stateless step (`td.gan.train_step_jax`).
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
    if keras.backend.backend() == "jax":  # the JAX binding: a stateless `jax.vjp` (see `train_step_jax`)
        from tf_diffaug.gan import train_step_jax

        gradients, logits = train_step_jax.input_gradient(discriminator_fn, images)
        return squared_gradient_norm(gradients), logits
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
    return ops.square(_flat(augmented_logits) - _flat(clean_logits))


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
    anchor_real = ops.cast(anchor_real, "float32")
    anchor_fake = ops.cast(anchor_fake, "float32")
    return ops.square(ops.relu(_flat(real_logits) - anchor_fake)) + ops.square(
        ops.relu(anchor_real - _flat(fake_logits))
    )


def update_anchor(anchor, batch_mean, decay):
    """Exponential moving average step `decay * anchor + (1 - decay) * batch_mean` (LeCam anchors).

    Args:
        anchor: current anchor value (scalar).
        batch_mean: the mean discriminator output over the global batch this step.
        decay: moving-average decay in [0, 1); 0.9 in the authors' code (google/lecam-gan
            `third_party/utils.py`, `ema_losses(decay=0.9)`), 0 copies `batch_mean`.

    Returns:
        The new anchor value (float32 scalar).
    """
    return decay * ops.cast(anchor, "float32") + (1.0 - decay) * ops.cast(batch_mean, "float32")


def _check_non_negative(value, name):
    """`float(value)`, or a ValueError naming `name` unless it is a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        raise ValueError(f"{name} must be >= 0. Received {name}={value!r}.")
    return float(value)


class R1Regularizer:
    """R1 in the D step: computes D's real logits and, when enabled, their gradient penalty.

    The penalty needs D's forward pass on the reals inside its own tape, so this object runs that
    pass: `real_logits(discriminate, augment, real)` returns `D(T(x))` and
    `||grad_x D(T(x))||^2` (through `T`, DiffAugment-stylegan2's `ns_DiffAugment_r1`) or
    `||grad_y D(y)||^2` at `y = T(x)` (`ns_r1_DiffAugment`); the GAN adds `coefficient * penalty`
    (`gamma / 2`) to D's per-example loss.

    Args:
        gamma: R1 weight (penalty `gamma / 2 * ||grad||^2`); 0 disables it (the real logits are
            then computed plainly, with no extra tape).
        through_augment: where the gradient is taken, see above.

    Example:
    >>> r1 = R1Regularizer(gamma=1.0, through_augment=True)
    >>> w = tf.constant([[1.0], [2.0]])
    >>> logits, penalty = r1.real_logits(lambda y: tf.matmul(y, w), lambda x: 3.0 * x, tf.ones([2, 2]))
    >>> penalty.numpy().tolist(), r1.coefficient   # |3 w|^2 = 45 through T(x) = 3x
    ([45.0, 45.0], 0.5)
    """

    name = "r1_penalty"

    def __init__(self, gamma=0.0, through_augment=True):
        self.gamma = _check_non_negative(gamma, "r1_gamma")
        self.through_augment = bool(through_augment)

    @property
    def enabled(self):
        return self.gamma > 0

    @property
    def coefficient(self):
        """The factor of the per-example penalty in D's loss: `gamma / 2`."""
        return 0.5 * self.gamma

    def real_logits(self, discriminate, augment, real):
        """`(D(T(real)), per-example penalty or None)`.

        Args:
            discriminate: callable mapping (augmented) images to logits `[B]`.
            augment: callable `T` mapping images to augmented images (identity when not augmenting).
            real: the real images `x`.
        """
        if not self.enabled:
            return discriminate(augment(real)), None
        if self.through_augment:
            penalty, logits = r1_penalty(lambda x: discriminate(augment(x)), real)
        else:
            penalty, logits = r1_penalty(discriminate, augment(real))
        return logits, penalty


class ConsistencyRegularizer:
    """Consistency regularization (Zhang et al., ICLR 2020): `weight * (D(T(x)) - D(x))^2` per example.

    Args:
        weight: the penalty's weight (10 in the DiffAugment paper's comparison); 0 disables it.

    Example:
    >>> cr = ConsistencyRegularizer(weight=10.0)
    >>> cr.penalty(tf.constant([3.0]), lambda: tf.constant([1.0])).numpy().tolist(), cr.coefficient
    ([4.0], 10.0)
    >>> print(ConsistencyRegularizer().penalty(tf.constant([3.0]), lambda: 1 / 0))  # D is not called
    None
    """

    name = "cr_penalty"

    def __init__(self, weight=0.0):
        self.weight = _check_non_negative(weight, "cr_weight")

    @property
    def enabled(self):
        return self.weight > 0

    @property
    def coefficient(self):
        return self.weight

    def penalty(self, augmented_logits, clean_logits_fn):
        """`(D(T(x)) - D(x))^2` per example, or None when disabled.

        `clean_logits_fn()` returns `D(x)` on the un-augmented reals; it is only called when
        enabled, since every training-mode call of D also updates its spectral-norm state.
        """
        if not self.enabled:
            return None
        return consistency_penalty(augmented_logits, clean_logits_fn())


class LeCamRegularizer:
    """LeCam regularization with its EMA anchors (Tseng et al., CVPR 2021), in the authors' order and schedule.

    Owns the anchors `a_R`, `a_F` (float32 scalar `keras.Variable`s named `lecam_anchor_real` /
    `lecam_anchor_fake`, zero-initialized, created when enabled: build it inside
    `strategy.scope()` when distributing). The authors' BigGAN-CIFAR code (google/lecam-gan,
    `third_party/utils.py` `ema_losses` ~l.637-661, `biggan_cifar/losses.py` `loss_hinge_dis` and
    `lecam_reg`, `third_party/train_fns.py`; `biggan_cifar/train.py` l.28 builds
    `ema_losses(start_itr=1000)`) does, in every D update of iteration `itr` (the number of
    iterations completed before it; `run_train.py` increments it after the step):

    1. `update(real_mean, fake_mean, step)`: `a <- d * a + (1 - d) * mean` for both anchors with
       the update's mean real / fake logits, where `d = 0` while `step < start_step` (the anchors
       follow the batch means) and `d = decay` from then on;
    2. `penalty(real, fake, step)`: `relu(D(x) - a_F)^2 + relu(a_R - D(G(z)))^2` per example at the
       anchors just updated, times 0 unless `step > start_step` (`itr > start_itr`).

    So with `start_step = S` the term is first added at step `S + 1` (0-based), onto anchors that
    have been moving averages since step `S`. The official anchors start at 1000; they start at 0
    here, which changes nothing when `S > 0` (step 0 overwrites them) and avoids the official
    first penalties of about `1000^2` when `S = 0`.

    Args:
        weight: LeCam weight (0.3 in google/lecam-gan's BigGAN-CIFAR scripts, `--LC 0.3`); 0
            disables it.
        decay: the anchors' moving-average decay in [0, 1) (0.9, the authors' `ema_losses`).
        start_step: the official `start_itr` (1000 in `biggan_cifar/train.py`): anchors copied
            from the batch means before it, the term from the step after it on.

    Example:
    >>> lecam = LeCamRegularizer(weight=0.3, decay=0.9, start_step=1)
    >>> [v.name for v in lecam.variables]
    ['lecam_anchor_real', 'lecam_anchor_fake']
    >>> lecam.update(2.0, -1.0, step=0); float(lecam.anchor_real), float(lecam.anchor_fake)  # copied
    (2.0, -1.0)
    >>> lecam.update(1.0, 0.0, step=1); round(float(lecam.anchor_real), 6), round(float(lecam.anchor_fake), 6)
    (1.9, -0.9)
    >>> lecam.penalty(tf.constant([1.0]), tf.constant([0.0]), step=1).numpy().tolist()  # not at the start step
    [0.0]
    >>> [round(v, 4) for v in lecam.penalty(tf.constant([1.0]), tf.constant([0.0]), step=2).numpy().tolist()]
    [7.22]
    """

    name = "lecam_penalty"

    def __init__(self, weight=0.0, decay=0.9, start_step=0):
        self.weight = _check_non_negative(weight, "lecam_weight")
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"lecam_decay must be in [0, 1). Received lecam_decay={decay!r}.")
        if isinstance(start_step, bool) or not isinstance(start_step, numbers.Integral) or start_step < 0:
            raise ValueError(f"lecam_start_step must be an int >= 0. Received lecam_start_step={start_step!r}.")
        self.decay = float(decay)
        self.start_step = int(start_step)
        self.anchor_real = self.anchor_fake = None
        if self.enabled:
            self.anchor_real, self.anchor_fake = (_scalar_state(f"lecam_anchor_{kind}") for kind in ("real", "fake"))

    @property
    def enabled(self):
        return self.weight > 0

    @property
    def coefficient(self):
        return self.weight

    @property
    def variables(self):
        """The anchors `[a_R, a_F]` (empty when disabled): state to track, save and restore."""
        return [self.anchor_real, self.anchor_fake] if self.enabled else []

    def penalty(self, real_logits, fake_logits, step=0):
        """Per-example LeCam penalty at the current anchors, times 0 unless `step > start_step`; None when disabled.

        Call `update` first with this D update's means (the official order).
        """
        if not self.enabled:
            return None
        value = lecam_penalty(real_logits, fake_logits, self.anchor_real, self.anchor_fake)
        return value * ops.cast(ops.cast(step, "int64") > self.start_step, "float32")

    def update(self, real_mean, fake_mean, step=0):
        """Moves both anchors toward this D update's global mean real / fake logits (copies them before `start_step`)."""
        if not self.enabled:
            return
        decay = ops.where(ops.cast(step, "int64") < self.start_step, 0.0, self.decay)
        for anchor, mean in ((self.anchor_real, real_mean), (self.anchor_fake, fake_mean)):
            anchor.assign(update_anchor(anchor, mean, decay))


def _scalar_state(name):
    """A float32 scalar state variable, zero-initialized, non-trainable (as `Layer.add_weight` makes it)."""
    return keras.Variable(
        initializer="zeros", shape=(), dtype="float32", trainable=False, autocast=False, aggregation="none", name=name
    )
