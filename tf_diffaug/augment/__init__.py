"""Differentiable Augmentation (DiffAugment) for Keras 3: pure ops, layers, policies, adaptive p.

Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (arXiv:2006.10738). Apply the same random differentiable augmentation ``T`` to real
and generated images in both GAN steps: ``D(T(x))``, ``D(T(G(z)))``.

* ``ops``: ``adjust_brightness``, ``adjust_saturation``, ``adjust_contrast``, ``translate``,
  ``cutout`` with explicit per-sample parameters (no randomness), NHWC, on ``keras.ops``.
* Layers: ``DiffAugment(policy, value_range, data_format, seed)``, ``ColorAugment``,
  ``TranslationAugment(ratio=0.125)``, ``CutoutAugment(ratio=0.5)``, ``AdaptiveAugment``.
* Policies: ``register_policy(name, fn_list)`` adds a name usable in ``DiffAugment(policy=...)``.

This package imports no TensorFlow at module level, so it also runs on the JAX and torch backends.
"""

from tf_diffaug.augment import ops
from tf_diffaug.augment.adaptive import AdaptiveAugment
from tf_diffaug.augment.base import RandomAugment
from tf_diffaug.augment.layers import ColorAugment, CutoutAugment, DiffAugment, TranslationAugment
from tf_diffaug.augment.policy import PolicyOp, parse_policy, register_policy, registered_names, unregister_policy

__all__ = [
    "AdaptiveAugment",
    "ColorAugment",
    "CutoutAugment",
    "DiffAugment",
    "PolicyOp",
    "RandomAugment",
    "TranslationAugment",
    "ops",
    "parse_policy",
    "register_policy",
    "registered_names",
    "unregister_policy",
]
