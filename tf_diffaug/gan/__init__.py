"""GAN training: the `GAN` model, adversarial losses, regularizers, EMA, ADA, AdvAug and callbacks.

`td.GAN` trains a generator and a discriminator with `fit()` and DiffAugment (Zhao et al.,
NeurIPS 2020); `losses` holds the adversarial loss pairs, `regularizers` R1 / consistency / LeCam,
`adaptive` the ADA probability controller (Karras et al., NeurIPS 2020), `advaug` and
`perturbation` AdvAug's feature perturbation of the train step (Chen et al., NeurIPS 2021),
`modes` the accepted augment modes and loss names (plain data) and `callbacks` the `SampleGrid`
writer. Names load their module on first use: `tf_diffaug.gan.modes` imports no TensorFlow.
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {"AUGMENT_MODES": "modes", "AdversarialLoss": "losses", "GAN": "model", "SampleGrid": "callbacks"},
    submodules=("adaptive", "advaug", "ema", "losses", "modes", "perturbation", "regularizers", "saved_state"),
)
