"""Generator/discriminator architectures (DCGAN, SNGAN, BigGAN, StyleGAN2), shared layers and presets.

`get(name, resolution=32, channels=3, num_classes=None, **overrides)` returns a
`(generator, discriminator)` pair of functional keras.Models; `PRESETS` / `get_preset(name)` hold
the papers' training configurations as data.
"""

from tf_diffaug.networks.biggan import build_biggan
from tf_diffaug.networks.blocks import ClassProjection, ConditionalBatchNorm, GlobalSumPooling2D, SelfAttention
from tf_diffaug.networks.dcgan import build_dcgan
from tf_diffaug.networks.equalized import (
    EqualizedConv2D,
    EqualizedDense,
    LabelEmbedding,
    LatentNormalization,
    MinibatchStdDev,
)
from tf_diffaug.networks.presets import PRESETS, get_preset
from tf_diffaug.networks.registry import available, get
from tf_diffaug.networks.residual import LatentSplit
from tf_diffaug.networks.sngan import build_sngan
from tf_diffaug.networks.style_blocks import (
    ConstantInput,
    MixingLatent,
    ModulatedConv2D,
    NoiseInjection,
    StyleBroadcast,
)
from tf_diffaug.networks.stylegan2 import build_stylegan2

__all__ = [
    "PRESETS",
    "ClassProjection",
    "ConditionalBatchNorm",
    "ConstantInput",
    "EqualizedConv2D",
    "EqualizedDense",
    "GlobalSumPooling2D",
    "LabelEmbedding",
    "LatentNormalization",
    "LatentSplit",
    "MinibatchStdDev",
    "MixingLatent",
    "ModulatedConv2D",
    "NoiseInjection",
    "SelfAttention",
    "StyleBroadcast",
    "available",
    "build_biggan",
    "build_dcgan",
    "build_sngan",
    "build_stylegan2",
    "get",
    "get_preset",
]
