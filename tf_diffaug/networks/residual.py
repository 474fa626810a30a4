"""Functional builders for the residual generator/discriminator family shared by SNGAN and BigGAN.

Generator block (Miyato et al. 2018, Brock et al. 2019): `BN -> ReLU -> up2 -> conv3x3 -> BN ->
ReLU -> conv3x3`, shortcut `up2 -> conv1x1`; output head `BN -> ReLU -> conv3x3 -> tanh`.
Discriminator block: `ReLU -> conv3x3 -> ReLU -> conv3x3 -> avgpool2`, shortcut `conv1x1 ->
avgpool2` (learnable when the width changes or it downsamples); the first block has no
pre-activation and pools before its shortcut conv (SNGAN's "optimized block"). Head: `ReLU ->
global sum pool ("d_features") -> linear (+ class projection)`. Upsampling is nearest-neighbour.
"""

import keras

from tf_diffaug.networks.blocks import (
    ClassProjection,
    ConditionalBatchNorm,
    GlobalSumPooling2D,
    SelfAttention,
    spectral_norm,
)

_PACKAGE = "tf_diffaug"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LatentSplit(keras.layers.Layer):
    """Splits z [B, sum(sizes)] into consecutive chunks (BigGAN's hierarchical latent).

    Args:
        sizes: list of chunk sizes.

    Input shape:
        [B, sum(sizes)].

    Output shape:
        list of [B, size] tensors.

    Example:
        >>> import numpy as np
        >>> a, b = LatentSplit([2, 3])(np.zeros((1, 5), "float32"))
        >>> tuple(a.shape), tuple(b.shape)
        ((1, 2), (1, 3))
    """

    def __init__(self, sizes, **kwargs):
        super().__init__(**kwargs)
        self.sizes = [int(s) for s in sizes]

    def call(self, z):
        chunks, start = [], 0
        for size in self.sizes:
            chunks.append(z[:, start : start + size])
            start += size
        return chunks

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], size) for size in self.sizes]

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes}


def split_sizes(total, parts):
    """`total` split into `parts` near-equal integers, larger ones first (128 into 5: 26, 26, 26, 25, 25)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def residual_generator(
    *,
    name,
    resolution,
    channels,
    latent_dim,
    num_classes,
    bottom_width,
    widths,
    spectral_norm_enabled,
    shared_dim,
    hierarchical,
    attention_resolution,
    kernel_initializer,
    cbn_initializer=None,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
):
    """Builds the residual generator as a functional keras.Model.

    `widths` lists the channels at the bottom (input of block 1) followed by each block's output;
    block i doubles the resolution. Layer "g_stem" is the linear layer's output reshaped to
    `[bottom_width, bottom_width, widths[0]]` (the input of block 1), "g_block{i}" block i's output. Conditioning (see ConditionalBatchNorm): with `num_classes` and
    `shared_dim > 0` a shared embedding (concatenated with a z chunk when `hierarchical`) feeds
    every conditional BN; with `shared_dim` 0/None each BN owns embedding tables; unconditional and
    hierarchical: the BNs are conditioned on z chunks only; otherwise plain BN. `cbn_initializer`
    initializes the conditional gain/bias maps (default: `kernel_initializer`; "zeros" starts every
    class at gamma 1, beta 0 as chainer's CategoricalConditionalBatchNormalization).
    """
    cbn_initializer = kernel_initializer if cbn_initializer is None else cbn_initializer
    num_blocks = len(widths) - 1
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    labels = None
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
    if hierarchical and num_classes and not shared_dim:
        raise ValueError(
            "hierarchical=True with num_classes needs a shared class embedding (shared_dim > 0). "
            f"Received: shared_dim={shared_dim}"
        )
    if hierarchical and latent_dim < num_blocks + 1:
        raise ValueError(
            f"hierarchical=True needs latent_dim >= number of blocks + 1 = {num_blocks + 1}. "
            f"Received: latent_dim={latent_dim}"
        )

    z_first, conds = z, [None] * num_blocks
    class_vector = None
    if num_classes and shared_dim:
        class_vector = keras.layers.Embedding(
            num_classes, shared_dim, embeddings_initializer=kernel_initializer, name="shared_embedding"
        )(labels)
    if hierarchical:
        chunks = LatentSplit(split_sizes(latent_dim, num_blocks + 1), name="z_split")(z)
        z_first = chunks[0]
        if class_vector is not None:
            conds = [keras.layers.Concatenate(name=f"cond{i + 1}")([class_vector, c]) for i, c in enumerate(chunks[1:])]
        else:
            conds = list(chunks[1:])
    elif class_vector is not None:
        conds = [class_vector] * num_blocks
    elif num_classes:
        conds = [labels] * num_blocks

    def batch_norm(x, cond, layer_name):
        if cond is None:
            return keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=layer_name)(x)
        per_layer_tables = num_classes if (num_classes and not shared_dim) else None
        return ConditionalBatchNorm(
            num_classes=per_layer_tables,
            spectral_norm=spectral_norm_enabled,
            momentum=bn_momentum,
            epsilon=bn_epsilon,
            kernel_initializer=cbn_initializer,
            name=layer_name,
        )([x, cond])

    def conv(filters, size, layer_name):
        return spectral_norm(
            keras.layers.Conv2D(filters, size, padding="same", kernel_initializer=kernel_initializer, name=layer_name),
            spectral_norm_enabled,
        )

    h = spectral_norm(
        keras.layers.Dense(
            bottom_width * bottom_width * widths[0], kernel_initializer=kernel_initializer, name="linear"
        ),
        spectral_norm_enabled,
    )(z_first)
    h = keras.layers.Reshape((bottom_width, bottom_width, widths[0]), name="reshape")(h)
    h = keras.layers.Identity(name="g_stem")(h)  # the stem output (AdvAug's default G layer)
    size = bottom_width
    for i in range(num_blocks):
        block, out_ch = f"g{i + 1}", widths[i + 1]
        x = h
        h = batch_norm(x, conds[i], f"{block}_bn1")
        h = keras.layers.ReLU(name=f"{block}_relu1")(h)
        h = keras.layers.UpSampling2D(2, name=f"{block}_up")(h)
        h = conv(out_ch, 3, f"{block}_conv1")(h)
        h = batch_norm(h, conds[i], f"{block}_bn2")
        h = keras.layers.ReLU(name=f"{block}_relu2")(h)
        h = conv(out_ch, 3, f"{block}_conv2")(h)
        shortcut = keras.layers.UpSampling2D(2, name=f"{block}_sc_up")(x)
        shortcut = conv(out_ch, 1, f"{block}_sc_conv")(shortcut)
        h = keras.layers.Add(name=f"g_block{i + 1}")([h, shortcut])
        size *= 2
        if attention_resolution == size:
            h = SelfAttention(
                spectral_norm=spectral_norm_enabled, kernel_initializer=kernel_initializer, name=f"attention{size}"
            )(h)
    h = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name="out_bn")(h)
    h = keras.layers.ReLU(name="out_relu")(h)
    h = conv(channels, 3, "out_conv")(h)
    images = keras.layers.Activation("tanh", name="images")(h)
    return keras.Model(inputs if num_classes else z, images, name=f"{name}_generator")


def residual_discriminator(
    *,
    name,
    resolution,
    channels,
    num_classes,
    widths,
    downsample,
    spectral_norm_enabled,
    attention_resolution,
    kernel_initializer,
    head_bias=True,
):
    """Builds the residual (projection) discriminator as a functional keras.Model.

    `widths[i]` / `downsample[i]` are block i's output channels and whether it halves the
    resolution; `head_bias` gives the final linear layer a bias (BigGAN) or not (SNGAN). Output: one
    logit per image, [B, 1].
    """
    images = keras.Input((resolution, resolution, channels), name="images")
    inputs = [images]
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)

    def conv(filters, size, layer_name):
        return spectral_norm(
            keras.layers.Conv2D(filters, size, padding="same", kernel_initializer=kernel_initializer, name=layer_name),
            spectral_norm_enabled,
        )

    x, in_ch, size, attended = images, channels, resolution, False
    for i, (out_ch, down) in enumerate(zip(widths, downsample)):
        block, first = f"d{i + 1}", i == 0
        h = x if first else keras.layers.ReLU(name=f"{block}_relu0")(x)
        h = conv(out_ch, 3, f"{block}_conv1")(h)
        h = keras.layers.ReLU(name=f"{block}_relu1")(h)
        h = conv(out_ch, 3, f"{block}_conv2")(h)
        if down:
            h = keras.layers.AveragePooling2D(2, name=f"{block}_pool")(h)
        shortcut = x
        if in_ch != out_ch or down:
            if first and down:
                shortcut = keras.layers.AveragePooling2D(2, name=f"{block}_sc_pool")(shortcut)
            shortcut = conv(out_ch, 1, f"{block}_sc_conv")(shortcut)
            if down and not first:
                shortcut = keras.layers.AveragePooling2D(2, name=f"{block}_sc_pool")(shortcut)
        x = keras.layers.Add(name=f"d_block{i + 1}")([h, shortcut])
        in_ch = out_ch
        size = size // 2 if down else size
        if attention_resolution == size and not attended:
            attended = True
            x = SelfAttention(
                spectral_norm=spectral_norm_enabled, kernel_initializer=kernel_initializer, name=f"attention{size}"
            )(x)
    h = keras.layers.ReLU(name="out_relu")(x)
    features = GlobalSumPooling2D(name="d_features")(h)
    logits = spectral_norm(
        keras.layers.Dense(1, use_bias=head_bias, kernel_initializer=kernel_initializer, name="linear"),
        spectral_norm_enabled,
    )(features)
    if num_classes:
        projection = ClassProjection(
            num_classes, spectral_norm=spectral_norm_enabled, kernel_initializer=kernel_initializer, name="projection"
        )([features, labels])
        logits = keras.layers.Add(name="logits")([logits, projection])
    return keras.Model(inputs if num_classes else images, logits, name=f"{name}_discriminator")


__all__ = ["LatentSplit", "residual_discriminator", "residual_generator", "split_sizes"]
