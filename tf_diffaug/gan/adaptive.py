"""The adaptive augmentation (ADA) controller's update rule.

Karras, Aittala, Hellsten, Laine, Lehtinen & Aila, "Training Generative Adversarial Networks with
Limited Data", NeurIPS 2020 (arXiv:2006.06676), Sec. 2.4: the augmentation probability `p` is
adjusted every `N` training steps from the overfitting heuristic

    r_t = E[sign(D(T(x_real)))]                 (over those N steps and all replicas)
    p  <- clip(p + sign(r_t - target) * images / (kimg * 1000), 0, 1)

where `images` is the number of real images the discriminator consumed in those `N` steps
(`N * d_steps * global_batch`: every D update of `td.GAN` uses its own slice of the reals, and
stylegan2-ada-pytorch `training/training_loop.py` adjusts by `batch_size * ada_interval` images), so that `p` can move from 0 to 1 in `kimg` thousand images (500 in the paper).
Unlike ADA's reference code, `p` is clamped to [0, 1] (stylegan2-ada-pytorch issue #175 reports
p = 21.8). The probability itself is a non-trainable weight `p` of the augment layer
(`td.augment.AdaptiveAugment`); `ADAController` owns the accumulators of `r_t` and assigns it.
"""

import numbers

import keras
from keras import ops


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
    p = ops.cast(p, "float32")
    direction = ops.sign(ops.cast(sign_mean, "float32") - ops.cast(target, "float32"))
    step = direction * ops.cast(images, "float32") / (float(kimg) * 1000.0)
    return ops.clip(p + step, 0.0, 1.0)


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


class ADAController:
    """The ADA controller of a GAN: accumulates `sign(D(T(real)))` and adjusts the augment layer's `p`.

    Owns two float32 scalar `keras.Variable`s, `sign_sum` (`ada_sign_sum`: the sum of
    `sign(D(T(real)))` since the last adjustment) and `count` (`ada_count`: the number of real
    logits in it), created here (build the controller inside `strategy.scope()` when distributing).
    After every training step the GAN calls `update(step, sign_sum, count)` with that step's global
    sums over its `d_steps` D updates; at every `interval`-th step `p` becomes
    `ada_update(p, sign_sum / count, target, count, kimg)` and the sums restart at 0. Each D update
    of `td.GAN` reads its own slice of the step's reals, so `count`, the number of real logits, is
    the number of real images consumed.

    Args:
        augment: the augment layer, with a scalar weight `p` (e.g. `td.augment.AdaptiveAugment`).
        target: the target of `r_t` in [0, 1] (0.6 in ADA).
        interval: steps between two adjustments, an int >= 1 (ADA uses 4).
        kimg: thousands of real images for `p` to go from 0 to 1, > 0 (ADA uses 500).

    Example:
    >>> class WithP(keras.layers.Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.p = self.add_weight(shape=(), initializer="zeros", trainable=False, name="p")
    >>> ada = ADAController(WithP(), target=0.6, interval=2, kimg=0.016)
    >>> _ = ada.update(step=1, sign_sum=4.0, count=4.0); float(ada.probability())    # accumulating
    0.0
    >>> _ = ada.update(step=2, sign_sum=4.0, count=4.0); float(ada.probability())    # r_t = 1 > 0.6: + 8 / 16
    0.5
    >>> float(ada.sign_sum), float(ada.count)
    (0.0, 0.0)
    """

    def __init__(self, augment, target=0.6, interval=4, kimg=500):
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"ada_target must be in [0, 1] or None. Received ada_target={target!r}.")
        if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) or interval < 1:
            raise ValueError(f"ada_interval must be an int >= 1. Received ada_interval={interval!r}.")
        if isinstance(kimg, bool) or not isinstance(kimg, numbers.Real) or not float(kimg) > 0:
            raise ValueError(f"ada_kimg must be > 0. Received ada_kimg={kimg!r}.")
        self.p = probability_variable(augment)
        self.target, self.interval, self.kimg = float(target), int(interval), float(kimg)
        self.sign_sum, self.count = (
            keras.Variable(initializer="zeros", shape=(), dtype="float32", trainable=False, autocast=False, name=name)
            for name in ("ada_sign_sum", "ada_count")
        )

    @property
    def variables(self):
        """`[sign_sum, count]`: state to track, save and restore (`p` belongs to the augment layer)."""
        return [self.sign_sum, self.count]

    def probability(self):
        """The current `p` as a float32 scalar (logged as `aug_p`)."""
        return ops.cast(self.p, "float32")

    def update(self, step, sign_sum, count):
        """Adds one training step's global `sum(sign(D(T(real))))` and logit count; adjusts `p` every `interval` steps.

        Args:
            step: the training step just completed (counted from 1).
            sign_sum: sum of `sign(D(T(real)))` over this step's D updates and all replicas.
            count: number of real logits in `sign_sum` (= real images consumed).

        Returns:
            `r_t`, the mean of `sign(D(T(real)))` over the steps since the last adjustment, this
            one included (the value an adjustment at this step uses), float32 scalar.
        """
        self.sign_sum.assign_add(sign_sum)
        self.count.assign_add(count)
        adjust = ops.equal(step % self.interval, 0)
        sign_mean = self.sign_sum / ops.maximum(self.count, 1.0)
        new_p = ada_update(self.p, sign_mean, self.target, self.count, self.kimg)
        self.p.assign(ops.where(adjust, new_p, ops.cast(self.p, "float32")))
        self.sign_sum.assign(ops.where(adjust, 0.0, self.sign_sum.value))
        self.count.assign(ops.where(adjust, 0.0, self.count.value))
        return sign_mean
