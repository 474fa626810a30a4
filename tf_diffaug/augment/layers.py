"""DiffAugment as Keras layers: the policy layer and one layer per op family.

Differentiable Augmentation (Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020, arXiv:2006.10738) applies the same random, differentiable
transformation ``T`` to real and generated images before the discriminator, in both the D and G
steps. These layers draw ``T``'s parameters independently per sample at every call with
``training=True`` and are the identity otherwise.
"""

import keras

from tf_diffaug.augment import policy
from tf_diffaug.augment.base import RandomAugment


@keras.saving.register_keras_serializable(package="tf_diffaug")
class DiffAugment(RandomAugment):
    """Differentiable Augmentation with a policy string, e.g. ``"color,translation,cutout"``.

    Ops run in string order; ``""`` is the identity; names are ``"color"``, ``"translation"``
    (ratio 0.125), ``"cutout"`` (ratio 0.5) and any name added with
    ``tf_diffaug.augment.register_policy``. Pixel values are not clipped (clipping would kill
    the gradient at saturated pixels). The official policy runs as one fused kernel, compiled with
    XLA on TensorFlow (see ``tf_diffaug.augment.fused``).

    Args:
        policy: comma-separated op names.
        value_range: (lo, hi) of the images, (-1, 1) by default.
        data_format: "channels_last" or "channels_first".
        seed: int or None for the layer's SeedGenerator.
        jit_compile: "auto"/True for the XLA fused kernel on TensorFlow, False for plain ops.
        **kwargs: standard layer arguments.

    Input shape:
        (B, H, W, C) or (B, C, H, W) float.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np, tf_diffaug as td
    >>> augment = td.DiffAugment("color,translation,cutout", seed=0)
    >>> x = np.random.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    >>> y = augment(x, training=True)        # a new random T per sample and call
    >>> z = augment(x, training=False)       # identity
    """

    def __init__(
        self,
        policy="color,translation,cutout",
        value_range=(-1, 1),
        data_format="channels_last",
        seed=None,
        jit_compile="auto",
        **kwargs,
    ):
        self.policy = policy
        self._parsed = _parse(policy)
        super().__init__(value_range=value_range, data_format=data_format, seed=seed, jit_compile=jit_compile, **kwargs)

    def _make_ops(self):
        return [op for _, ops in self._parsed for op in ops]

    def get_config(self):
        config = super().get_config()
        config["policy"] = self.policy
        return config


def _parse(policy_string):
    return policy.parse_policy(policy_string)


@keras.saving.register_keras_serializable(package="tf_diffaug")
class ColorAugment(RandomAugment):
    """DiffAugment's color family: random brightness, then saturation, then contrast, per sample.

    Brightness ``delta ~ U[-0.5, 0.5) * (hi - lo) / 2``, saturation ``factor ~ U[0, 2)`` (about
    the per-pixel channel mean), contrast ``factor ~ U[0.5, 1.5)`` (about the per-image mean).

    Args:
        value_range, data_format, seed, jit_compile, **kwargs: as for ``DiffAugment``.

    Input shape:
        (B, H, W, C) or (B, C, H, W) float.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> y = ColorAugment(seed=1)(np.zeros((4, 16, 16, 3), "float32"), training=True)
    >>> tuple(y.shape)
    (4, 16, 16, 3)
    """

    def _make_ops(self):
        return [policy.Brightness(), policy.Saturation(), policy.Contrast()]


@keras.saving.register_keras_serializable(package="tf_diffaug")
class TranslationAugment(RandomAugment):
    """Random integer translation: ``(dy, dx)`` uniform in ``[-s, s]``, ``s = int(size * ratio + 0.5)``.

    Uncovered pixels take the middle of ``value_range``.

    Args:
        ratio: maximal shift as a fraction of the image size (0.125 in the paper).
        value_range, data_format, seed, jit_compile, **kwargs: as for ``DiffAugment``.

    Input shape:
        (B, H, W, C) or (B, C, H, W) float.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> y = TranslationAugment(ratio=0.25, seed=1)(np.ones((4, 16, 16, 3), "float32"), training=True)
    >>> bool(np.all((np.asarray(y) == 0) | (np.asarray(y) == 1)))  # pixels moved or fill, never mixed
    True
    """

    def __init__(self, ratio=0.125, **kwargs):
        self.ratio = policy.Translation(ratio).ratio
        super().__init__(**kwargs)

    def _make_ops(self):
        return [policy.Translation(self.ratio)]

    def get_config(self):
        config = super().get_config()
        config["ratio"] = self.ratio
        return config


@keras.saving.register_keras_serializable(package="tf_diffaug")
class CutoutAugment(RandomAugment):
    """Random cutout: a ``c = int(size * ratio + 0.5)`` rectangle per sample set to the fill value.

    Centers are uniform integers in ``[0, size + (1 - c % 2))``, so the rectangle may be clipped by
    the border; the fill is the middle of ``value_range``.

    Args:
        ratio: rectangle side as a fraction of the image side (0.5 in the paper).
        value_range, data_format, seed, jit_compile, **kwargs: as for ``DiffAugment``.

    Input shape:
        (B, H, W, C) or (B, C, H, W) float.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> y = CutoutAugment(ratio=0.5, seed=1)(np.ones((4, 16, 16, 3), "float32"), training=True)
    >>> bool(np.all((np.asarray(y) == 0).sum(axis=(1, 2, 3)) <= 8 * 8 * 3))  # at most one 8 x 8 square
    True
    """

    def __init__(self, ratio=0.5, **kwargs):
        self.ratio = policy.Cutout(ratio).ratio
        super().__init__(**kwargs)

    def _make_ops(self):
        return [policy.Cutout(self.ratio)]

    def get_config(self):
        config = super().get_config()
        config["ratio"] = self.ratio
        return config
