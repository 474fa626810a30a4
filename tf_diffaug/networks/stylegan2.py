"""StyleGAN2 (config-e/f): mapping network, skip generator with modulated convs, residual discriminator.

Karras, Laine, Aittala, Hellsten, Lehtinen, Aila, "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020 (arXiv:1912.04958), with the widths and options of the reference code
(NVlabs/stylegan2 `networks_stylegan2.py`, NVlabs/stylegan2-ada-pytorch `training/networks.py`)
and the low-shot settings of DiffAugment (Zhao et al. 2020): mapping depth 2, fmap_base 16384.

Widths: `nf(res) = min(2 * fmap_base // res, fmap_max)` (TF convention; stylegan2-ada-pytorch's
`channel_base` is `2 * fmap_base`). Generator: z -> normalize -> `mapping_layers` equalized
dense layers (lr multiplier 0.01, leaky ReLU) -> w, broadcast to `num_ws = 2 log2(R) - 2`
styles (style mixing when training) -> learned 4x4 constant -> per resolution two modulated 3x3
convs (the first upsamples) with noise, and a ToRGB 1x1 modulated conv (no demodulation) whose
outputs are upsampled and summed (skip architecture) -> tanh. Layer "g_stem" is the learned 4x4
constant (the synthesis input: StyleGAN2 has no linear stem), "g_block1" the first 4x4 conv's
output. Discriminator: FromRGB at the top resolution, residual blocks (two 3x3 convs, the second
downsampling, and a 1x1 downsampling skip, both branches scaled by sqrt(0.5)), then minibatch
stddev (group 4), 3x3 conv, dense, dense -> 1.

Differences from the reference (documented in docs/NETWORKS.md): bilinear up / box-filter down
sampling instead of the [1, 3, 3, 1] FIR filter; tanh on the output (the reference is linear) so
images lie in [-1, 1]; style mixing cutoffs drawn per sample; no truncation / w_avg tracking.
"""

import math

import keras

from tf_diffaug.networks import catalog
from tf_diffaug.networks._checks import check_common
from tf_diffaug.networks.blocks import ClassProjection
from tf_diffaug.networks.equalized import (
    EqualizedConv2D,
    EqualizedDense,
    LabelEmbedding,
    LatentNormalization,
    MinibatchStdDev,
)
from tf_diffaug.networks.style_blocks import ConstantInput, MixingLatent, ModulatedConv2D, StyleBroadcast

RESOLUTIONS = catalog.RESOLUTIONS["stylegan2"]


def build_stylegan2(
    resolution=32,
    channels=3,
    num_classes=None,
    latent_dim=128,
    w_dim=512,
    mapping_layers=8,
    mapping_lr_multiplier=0.01,
    fmap_base=16384,
    fmap_max=512,
    mbstd_group_size=4,
    mbstd_num_channels=1,
    style_mixing_probability=0.9,
    inference_noise="const",
    seed=None,
):
    """Builds the StyleGAN2 generator and discriminator.

    Args:
        resolution: 32, 64, 128 or 256.
        channels: image channels, 1 or 3.
        num_classes: None, or the number of classes (label embedding concatenated to z in the
            mapping network, projection term in D; StyleGAN2-ADA style).
        latent_dim: size of z (512 in the paper; the `stylegan2-lowshot-256` preset sets it).
        w_dim: size of w and of the mapping layers (512).
        mapping_layers: depth of the mapping network (8 in the paper, 2 in the low-shot config).
        mapping_lr_multiplier: equalized-lr multiplier of the mapping network (0.01).
        fmap_base, fmap_max: width schedule `nf(res) = min(2 * fmap_base // res, fmap_max)`.
        mbstd_group_size, mbstd_num_channels: minibatch standard deviation options (4, 1).
        style_mixing_probability: probability of mixing two latents per sample; applied only when
            the generator is called with `training=True` (0.9 in the paper, 0 disables it).
        inference_noise: noise at inference: "const" (fixed maps, deterministic), "random", "none".
        seed: int or None, seeds the noise and style-mixing generators.

    Returns:
        `(generator, discriminator)` functional keras.Models.

    Example:
        >>> import numpy as np
        >>> g, d = build_stylegan2(32, fmap_base=256, w_dim=64, mapping_layers=2)
        >>> tuple(g(np.zeros((2, 128), "float32")).shape)
        (2, 32, 32, 3)
    """
    check_common("stylegan2", resolution, channels, num_classes, latent_dim, RESOLUTIONS)
    for arg, value in (
        ("w_dim", w_dim),
        ("mapping_layers", mapping_layers),
        ("fmap_base", fmap_base),
        ("fmap_max", fmap_max),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int. Received: {arg}={value!r}")
    if 2 * fmap_base // resolution < 1:
        raise ValueError(
            f"fmap_base={fmap_base} gives no channels at resolution {resolution}; "
            f"expected fmap_base >= {resolution // 2}."
        )

    def nf(res):
        return min(2 * fmap_base // res, fmap_max)

    def layer_seed(i):
        return None if seed is None else seed + i

    log2 = int(math.log2(resolution))
    num_ws = 2 * log2 - 2

    # Mapping network.
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    labels = None
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        label_embedding = LabelEmbedding(num_classes, w_dim, name="label_embedding")
    normalize_z = LatentNormalization(name="normalize_z")
    mapping = [
        EqualizedDense(w_dim, lr_multiplier=mapping_lr_multiplier, activation="lrelu", name=f"mapping{i}")
        for i in range(mapping_layers)
    ]

    label_vector = None
    if labels is not None:
        label_vector = LatentNormalization(name="normalize_labels")(label_embedding(labels))

    def map_latent(latent, suffix):
        x = normalize_z(latent)
        if label_vector is not None:
            x = keras.layers.Concatenate(name=f"z_labels{suffix}")([x, label_vector])
        for layer in mapping:
            x = layer(x)
        return x

    w = map_latent(z, "")
    if style_mixing_probability > 0:
        z2 = MixingLatent(seed=layer_seed(1000), name="mixing_z")(z)
        ws = StyleBroadcast(num_ws, style_mixing_probability, seed=layer_seed(1001), name="ws")(
            [w, map_latent(z2, "_mixing")]
        )
    else:
        ws = StyleBroadcast(num_ws, name="ws")(w)

    # Synthesis network.
    def styled_conv(filters, index, upsample, name):
        return ModulatedConv2D(
            filters,
            3,
            upsample=upsample,
            style_index=index,
            use_noise=True,
            inference_noise=inference_noise,
            seed=layer_seed(index),
            name=name,
        )

    def to_rgb(index, name):
        return ModulatedConv2D(channels, 1, demodulate=False, style_index=index, activation="linear", name=name)

    x = ConstantInput(nf(4), name="const")(ws)
    x = keras.layers.Identity(name="g_stem")(x)  # the synthesis input (AdvAug's default G layer)
    x = styled_conv(nf(4), 0, False, "b4_conv1")([x, ws])
    x = keras.layers.Identity(name="g_block1")(x)
    image = to_rgb(1, "b4_torgb")([x, ws])
    for k in range(3, log2 + 1):
        res = 2**k
        x = styled_conv(nf(res), 2 * k - 5, True, f"b{res}_conv0")([x, ws])
        x = styled_conv(nf(res), 2 * k - 4, False, f"b{res}_conv1")([x, ws])
        image = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"b{res}_img_up")(image)
        image = keras.layers.Add(name=f"b{res}_img")([image, to_rgb(2 * k - 3, f"b{res}_torgb")([x, ws])])
    image = keras.layers.Activation("tanh", name="images")(image)
    generator = keras.Model(inputs if num_classes else z, image, name="stylegan2_generator")

    # Discriminator.
    images = keras.Input((resolution, resolution, channels), name="images")
    d_inputs = [images]
    x = EqualizedConv2D(nf(resolution), 1, activation="lrelu", name=f"b{resolution}_fromrgb")(images)
    half = math.sqrt(0.5)
    for k in range(log2, 2, -1):
        res = 2**k
        skip = EqualizedConv2D(nf(res // 2), 1, use_bias=False, downsample=True, gain=half, name=f"b{res}_skip")(x)
        x = EqualizedConv2D(nf(res), 3, activation="lrelu", name=f"b{res}_conv0")(x)
        x = EqualizedConv2D(nf(res // 2), 3, activation="lrelu", downsample=True, gain=half, name=f"b{res}_conv1")(x)
        x = keras.layers.Add(name=f"d_block{res}")([skip, x])
    x = MinibatchStdDev(mbstd_group_size, mbstd_num_channels, name="b4_mbstd")(x)
    x = EqualizedConv2D(nf(4), 3, activation="lrelu", name="b4_conv")(x)
    x = keras.layers.Flatten(name="b4_flatten")(x)
    features = EqualizedDense(nf(4), activation="lrelu", name="d_features")(x)
    logits = EqualizedDense(1, name="out")(features)
    if num_classes:
        d_labels = keras.Input((), dtype="int32", name="labels")
        d_inputs.append(d_labels)
        projection = ClassProjection(num_classes, spectral_norm=False, name="projection")([features, d_labels])
        logits = keras.layers.Add(name="logits")([logits, projection])
    discriminator = keras.Model(d_inputs if num_classes else images, logits, name="stylegan2_discriminator")
    return generator, discriminator
