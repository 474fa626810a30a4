"""Look up a generator/discriminator pair by architecture name: `td.networks.get("biggan", 32, ...)`."""

import inspect

from tf_diffaug.networks.biggan import build_biggan
from tf_diffaug.networks.dcgan import build_dcgan
from tf_diffaug.networks.sngan import build_sngan
from tf_diffaug.networks.stylegan2 import build_stylegan2

_BUILDERS = {"biggan": build_biggan, "dcgan": build_dcgan, "sngan": build_sngan, "stylegan2": build_stylegan2}


def available():
    """Sorted list of the architecture names accepted by :func:`get`."""
    return sorted(_BUILDERS)


def get(name, resolution=32, channels=3, num_classes=None, **overrides):
    """Builds the `(generator, discriminator)` pair of a named architecture.

    Architectures: "dcgan" (Radford et al. 2016; 32-128^2), "sngan" (Miyato et al. 2018; 32,
    64^2), "biggan" (Brock et al. 2019; 32-128^2), "stylegan2" (Karras et al. 2020; 32-256^2).
    Generators take `z` [B, latent_dim] (and int32 `labels` [B] when `num_classes` is set, as
    inputs `[z, labels]`) and return NHWC images in [-1, 1]; discriminators take images (and
    labels) and return logits [B, 1]. D has a layer "d_features" (the penultimate feature
    vector); G has a layer "g_stem" (the stem output before the first block: the linear layer
    reshaped to the bottom resolution in DCGAN/SNGAN/BigGAN, the learned constant in StyleGAN2;
    AdvAug's default G layer) and "g_block1" (the output of the first block).

    Args:
        name: architecture name, see :func:`available`.
        resolution: image size (square, a supported power of two).
        channels: 1 or 3.
        num_classes: None (unconditional) or the number of classes.
        **overrides: keyword arguments of the architecture's builder, e.g. `latent_dim=`,
            `ch=` (biggan), `width=` (dcgan), `fmap_base=` (stylegan2).

    Returns:
        `(generator, discriminator)`, two functional keras.Models.

    Raises:
        ValueError: unknown name, unsupported resolution/channels or unknown override, naming
            the value and the accepted ones.

    Example:
        >>> import numpy as np
        >>> import tf_diffaug as td
        >>> g, d = td.networks.get("dcgan", resolution=64)
        >>> tuple(d(g(np.zeros((2, 128), "float32"))).shape)
        (2, 1)
    """
    if name not in _BUILDERS:
        raise ValueError(f"Unknown network {name!r}. Expected one of {available()}.")
    builder = _BUILDERS[name]
    accepted = [p for p in inspect.signature(builder).parameters if p not in ("resolution", "channels", "num_classes")]
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for network {name!r}. Expected some of {accepted}.")
    return builder(resolution=resolution, channels=channels, num_classes=num_classes, **overrides)
