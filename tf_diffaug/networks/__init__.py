"""Generator/discriminator architectures (DCGAN, SNGAN, BigGAN, StyleGAN2), shared layers and presets.

`get(name, resolution=32, channels=3, num_classes=None, **overrides)` returns a
`(generator, discriminator)` pair of functional keras.Models; `PRESETS` / `get_preset(name)` hold
the papers' training configurations as data.

Names load their module on first use; `catalog` (architectures and resolutions) and `presets`
import no TensorFlow.
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "build_biggan": "biggan",
        "ClassProjection": "blocks",
        "ConditionalBatchNorm": "blocks",
        "GlobalSumPooling2D": "blocks",
        "SelfAttention": "blocks",
        "build_dcgan": "dcgan",
        "EqualizedConv2D": "equalized",
        "EqualizedDense": "equalized",
        "LabelEmbedding": "equalized",
        "LatentNormalization": "equalized",
        "MinibatchStdDev": "equalized",
        "PRESETS": "presets",
        "get_preset": "presets",
        "available": "registry",
        "get": "registry",
        "LatentSplit": "residual",
        "build_sngan": "sngan",
        "ConstantInput": "style_blocks",
        "MixingLatent": "style_blocks",
        "ModulatedConv2D": "style_blocks",
        "NoiseInjection": "style_blocks",
        "StyleBroadcast": "style_blocks",
        "build_stylegan2": "stylegan2",
    },
)
