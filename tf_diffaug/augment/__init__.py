"""Differentiable Augmentation (DiffAugment) for Keras 3: pure ops, layers, policies, adaptive p.

Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (arXiv:2006.10738). Apply the same random differentiable augmentation ``T`` to real
and generated images in both GAN steps: ``D(T(x))``, ``D(T(G(z)))``.

* ``ops``: ``adjust_brightness``, ``adjust_saturation``, ``adjust_contrast``, ``translate``,
  ``cutout`` with explicit per-sample parameters (no randomness), NHWC, on ``keras.ops``.
* Layers: ``DiffAugment(policy, value_range, data_format, seed)``, ``ColorAugment``,
  ``TranslationAugment(ratio=0.125)``, ``CutoutAugment(ratio=0.5)``, ``AdaptiveAugment``.
* Policies: ``register_policy(name, fn_list)`` adds a name usable in ``DiffAugment(policy=...)``;
  ``registered_names`` (from ``policy_names``, plain Python) lists the accepted names.

Names load their module on first use, and no module here imports TensorFlow, so the package also
runs on the JAX and torch backends (``KERAS_BACKEND=jax``).
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "AdaptiveAugment": "adaptive",
        "RandomAugment": "base",
        "ColorAugment": "layers",
        "CutoutAugment": "layers",
        "DiffAugment": "layers",
        "TranslationAugment": "layers",
        "PolicyOp": "policy",
        "parse_policy": "policy",
        "register_policy": "policy",
        "unregister_policy": "policy",
        "registered_names": "policy_names",
    },
    submodules=("ops",),
)
