"""BigGAN: residual class-conditional generator and projection discriminator (Brock et al. 2019).

Brock, Donahue, Simonyan, "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
ICLR 2019 (arXiv:1809.11096), architectures of Appendix B / BigGAN-PyTorch (`G_arch`, `D_arch`),
and the 32^2 CIFAR configuration used by DiffAugment's BigGAN-CIFAR experiments (Zhao et al.,
NeurIPS 2020, `DiffAugment-biggan-cifar`): width multiplier `ch` (64 -> 256 channels at 32^2),
spectral norm in G and D, orthogonal init, class-conditional BN fed by a shared class embedding
concatenated with a chunk of z per block (hierarchical latent), optional SAGAN self-attention at
one resolution, projection discriminator with global sum pooling.

Widths (multiples of `ch`): G bottom + block outputs 32^2: 4,4,4,4; 64^2: 16,16,8,4,2;
128^2: 16,16,8,4,2,1. D block outputs 32^2: 4,4,4,4 (down, down, -, -); 64^2: 1,2,4,8,16;
128^2: 1,2,4,8,16,16 (all down but the last).
"""

from tf_diffaug.networks import catalog
from tf_diffaug.networks._checks import check_common
from tf_diffaug.networks.residual import residual_discriminator, residual_generator

RESOLUTIONS = catalog.RESOLUTIONS["biggan"]
_G_WIDTHS = {32: [4, 4, 4, 4], 64: [16, 16, 8, 4, 2], 128: [16, 16, 8, 4, 2, 1]}
_D_WIDTHS = {32: [4, 4, 4, 4], 64: [1, 2, 4, 8, 16], 128: [1, 2, 4, 8, 16, 16]}
_D_DOWN = {32: [True, True, False, False], 64: [True] * 4 + [False], 128: [True] * 5 + [False]}
_DEFAULT_ATTENTION = {32: None, 64: 64, 128: 64}


def build_biggan(
    resolution=32,
    channels=3,
    num_classes=None,
    latent_dim=128,
    ch=64,
    d_ch=None,
    shared_dim=128,
    hierarchical=True,
    attention_resolution="default",
    kernel_initializer="orthogonal",
):
    """Builds the BigGAN generator and discriminator.

    Args:
        resolution: 32, 64 or 128.
        channels: image channels, 1 or 3.
        num_classes: None (unconditional: BNs conditioned on z chunks when hierarchical) or the
            number of classes.
        latent_dim: size of z; with `hierarchical` it is split into (number of G blocks + 1)
            near-equal chunks (the first feeds the linear layer).
        ch: G width multiplier (64 in BigGAN-PyTorch's default and DiffAugment's CIFAR runs; 96
            in the paper's ImageNet 128^2 model).
        d_ch: D width multiplier (defaults to `ch`).
        shared_dim: size of the shared class embedding; 0 or None gives every conditional BN its
            own embedding tables (BigGAN-PyTorch without --G_shared, the DiffAugment CIFAR runs).
        hierarchical: bool, hierarchical latent (BigGAN's "skip-z").
        attention_resolution: resolution of the self-attention block in G (and D, if some D
            block outputs it), None for none; "default" means None at 32^2 and 64 otherwise.
        kernel_initializer: Keras initializer identifier for all weights ("orthogonal" as in
            BigGAN; the DiffAugment CIFAR scripts use N(0, 0.02): see the preset).

    Returns:
        `(generator, discriminator)` functional keras.Models (G: z [+ labels] -> [-1, 1] images;
        D: images [+ labels] -> logits [B, 1]).

    Example:
        >>> import keras, numpy as np
        >>> g, d = build_biggan(32, num_classes=10, ch=8)
        >>> labels = keras.ops.convert_to_tensor(np.array([0, 1], "int32"))
        >>> images = g([keras.ops.zeros((2, 128)), labels])  # tensors, not a tensor/array mix
        >>> tuple(images.shape), tuple(d([images, labels]).shape)
        ((2, 32, 32, 3), (2, 1))
    """
    check_common("biggan", resolution, channels, num_classes, latent_dim, RESOLUTIONS)
    if attention_resolution == "default":
        attention_resolution = _DEFAULT_ATTENTION[resolution]
    g_sizes = [4 * 2 ** (i + 1) for i in range(len(_G_WIDTHS[resolution]) - 1)]
    if attention_resolution is not None and attention_resolution not in g_sizes:
        raise ValueError(
            f"Unsupported attention_resolution {attention_resolution!r} for network 'biggan' at resolution "
            f"{resolution}. Expected one of {[None] + g_sizes}."
        )
    if not isinstance(ch, int) or ch < 1:
        raise ValueError(f"ch must be a positive int. Received: ch={ch!r}")
    d_ch = ch if d_ch is None else d_ch
    generator = residual_generator(
        name="biggan",
        resolution=resolution,
        channels=channels,
        latent_dim=latent_dim,
        num_classes=num_classes,
        bottom_width=4,
        widths=[ch * m for m in _G_WIDTHS[resolution]],
        spectral_norm_enabled=True,
        shared_dim=shared_dim or None,
        hierarchical=hierarchical,
        attention_resolution=attention_resolution,
        kernel_initializer=kernel_initializer,
    )
    discriminator = residual_discriminator(
        name="biggan",
        resolution=resolution,
        channels=channels,
        num_classes=num_classes,
        widths=[d_ch * m for m in _D_WIDTHS[resolution]],
        downsample=_D_DOWN[resolution],
        spectral_norm_enabled=True,
        attention_resolution=attention_resolution,
        kernel_initializer=kernel_initializer,
    )
    return generator, discriminator
