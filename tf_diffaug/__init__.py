"""tf_diffaug: data-efficient GAN training for Keras 3 on TensorFlow 2.

Implements Differentiable Augmentation (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020, arXiv:2006.10738) and the lottery-ticket / AdvAug
methods of Chen et al. ("Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery
Ticket Perspective", NeurIPS 2021, arXiv:2103.00397).

``import tf_diffaug`` is cheap: the subpackages (``augment``, ``data``, ``experiment``, ``gan``,
``lottery``, ``metrics``, ``networks``) and the two central classes ``DiffAugment`` and ``GAN`` load
on first use, so importing a light module such as ``tf_diffaug.gan.modes`` imports no TensorFlow.
"""

from tf_diffaug import _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {"DiffAugment": "tf_diffaug.augment", "GAN": "tf_diffaug.gan"},
    submodules=("augment", "data", "experiment", "gan", "lottery", "metrics", "networks"),
)
__all__ = [*__all__, "__version__"]
