"""tf_diffaug: data-efficient GAN training for Keras 3 on TensorFlow 2.

Implements Differentiable Augmentation (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020, arXiv:2006.10738) and the lottery-ticket / AdvAug
methods of Chen et al. ("Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery
Ticket Perspective", NeurIPS 2021, arXiv:2103.00397).
"""

__version__ = "0.1.0"

from tf_diffaug import (
    augment,  # noqa: E402
    data,  # noqa: E402
    experiment,  # noqa: E402
    gan,  # noqa: E402
    lottery,  # noqa: E402
    metrics,  # noqa: E402
    networks,  # noqa: E402
)


def __getattr__(name):
    # Lazy re-exports of the two central classes (keeps `import tf_diffaug.augment` light).
    if name == "DiffAugment":
        from tf_diffaug.augment import DiffAugment

        return DiffAugment
    if name == "GAN":
        from tf_diffaug.gan import GAN

        return GAN
    raise AttributeError(f"module 'tf_diffaug' has no attribute {name!r}")


__all__ = [
    "DiffAugment",
    "GAN",
    "augment",
    "data",
    "experiment",
    "gan",
    "lottery",
    "metrics",
    "networks",
    "__version__",
]
