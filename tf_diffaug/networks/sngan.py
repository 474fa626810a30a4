"""SNGAN: the ResNet generator/discriminator of Miyato et al. 2018 (CIFAR-10 configuration).

Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for Generative Adversarial Networks",
ICLR 2018 (arXiv:1802.05957), Appendix B.4 ResNet architectures; conditional variant with
conditional BN and a projection discriminator from Miyato & Koyama, ICLR 2018 (arXiv:1802.05637),
as in the authors' chainer code (pfnet-research/sngan_projection, `resnet_32.py`). This is the
SNGAN of the lottery-ticket paper (Chen et al., NeurIPS 2021, arXiv:2103.00397).

Generator: z -> linear -> 4x4x256 -> 3 (32^2) or 4 (64^2) up-blocks of width 256 -> BN, ReLU,
conv3x3, tanh; plain BatchNorm, no spectral norm. Discriminator (spectral norm everywhere):
optimized down-block, down-blocks until 8x8, then two blocks at 8x8, width 128; ReLU, global sum
pooling, bias-free linear (+ projection). Conditional BN tables start at gamma 1, beta 0 (chainer's
CategoricalConditionalBatchNormalization). At 32^2 the parameter counts equal the reference
(see docs/NETWORKS.md).
"""

import math

from tf_diffaug.networks import catalog
from tf_diffaug.networks._checks import check_common
from tf_diffaug.networks.residual import residual_discriminator, residual_generator

RESOLUTIONS = catalog.RESOLUTIONS["sngan"]


def build_sngan(
    resolution=32,
    channels=3,
    num_classes=None,
    latent_dim=128,
    g_width=256,
    d_width=128,
    kernel_initializer="glorot_uniform",
):
    """Builds the SNGAN ResNet generator and discriminator.

    Args:
        resolution: 32 (the paper's CIFAR/STL architecture) or 64 (one more block each side).
        channels: image channels, 1 or 3.
        num_classes: None (unconditional) or the number of classes (conditional BN with
            per-layer embedding tables in G, initialised to gamma 1 / beta 0; projection in D).
        latent_dim: size of z (128 in the paper).
        g_width: generator channels (256).
        d_width: discriminator channels (128).
        kernel_initializer: initializer of every conv/linear layer (Glorot uniform, as chainer's
            default up to its gain).

    Returns:
        `(generator, discriminator)` functional keras.Models. G: `z` [B, latent_dim] (+ `labels`
        [B] int32) -> images [B, R, R, channels] in [-1, 1]. D: images (+ labels) -> logits [B, 1].

    Example:
        >>> import numpy as np
        >>> g, d = build_sngan()
        >>> tuple(d(g(np.zeros((2, 128), "float32"))).shape)
        (2, 1)
    """
    check_common("sngan", resolution, channels, num_classes, latent_dim, RESOLUTIONS)
    num_up = int(math.log2(resolution // 4))
    generator = residual_generator(
        name="sngan",
        resolution=resolution,
        channels=channels,
        latent_dim=latent_dim,
        num_classes=num_classes,
        bottom_width=4,
        widths=[g_width] * (num_up + 1),
        spectral_norm_enabled=False,
        shared_dim=None,
        hierarchical=False,
        attention_resolution=None,
        kernel_initializer=kernel_initializer,
        cbn_initializer="zeros",
    )
    num_down = int(math.log2(resolution // 8))
    discriminator = residual_discriminator(
        name="sngan",
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
        widths=[d_width] * (num_down + 2),
        downsample=[True] * num_down + [False, False],
        spectral_norm_enabled=True,
        attention_resolution=None,
        kernel_initializer=kernel_initializer,
        head_bias=False,
    )
    return generator, discriminator
