"""AdvAug feature perturbation, re-exported: it is a GAN-step feature and lives in `tf_diffaug.gan.advaug`.

Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket
Perspective", NeurIPS 2021 (arXiv:2103.00397) pair lottery tickets with AdvAug; ``td.GAN``
(``advaug_gamma=...``) runs it inside its train step, so the implementation sits with the GAN and
``td.lottery`` keeps these names for the lottery-ticket workflow. See ``tf_diffaug.gan.advaug``.
"""

from tf_diffaug.gan.advaug import (
    FeatureAdvAug,
    advaug_loss,
    adversarial_features,
    bind_tail,
    mean_logit,
    split_model,
)

__all__ = ["FeatureAdvAug", "advaug_loss", "adversarial_features", "bind_tail", "mean_logit", "split_model"]
