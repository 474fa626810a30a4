"""GAN training: the `GAN` model, adversarial losses, regularizers, EMA, ADA and callbacks.

`td.GAN` trains a generator and a discriminator with `fit()` and DiffAugment (Zhao et al.,
NeurIPS 2020); `losses` holds the adversarial loss pairs, `regularizers` R1 / consistency / LeCam,
`adaptive` the ADA probability controller (Karras et al., NeurIPS 2020) and `callbacks` the
`SampleGrid` writer.
"""

from tf_diffaug.gan import adaptive, ema, losses, regularizers
from tf_diffaug.gan.callbacks import SampleGrid
from tf_diffaug.gan.losses import AdversarialLoss
from tf_diffaug.gan.model import AUGMENT_MODES, GAN

__all__ = ["AUGMENT_MODES", "AdversarialLoss", "GAN", "SampleGrid", "adaptive", "ema", "losses", "regularizers"]
