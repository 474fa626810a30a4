"""DCGAN: a small, fast all-convolutional generator/discriminator pair (the CPU preset network).

Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", ICLR 2016 (arXiv:1511.06434), in the layout of the PyTorch DCGAN example
(pytorch/examples `dcgan/main.py`): G projects z to 4x4 and doubles the resolution with 4x4
stride-2 transposed convolutions (BN + ReLU, tanh at the end, no biases); D mirrors it with 4x4
stride-2 convolutions (LeakyReLU 0.2, BN from the second layer on). G's layer "g_stem" is the
projection reshaped to 4x4 (before the first BN), "g_block1" the first ReLU's output. The reference's final 4x4
valid convolution of D is a linear layer on the flattened 4x4 features (`d_features`) here.
Weights ~ N(0, 0.02). With `width=64`, `latent_dim=100` at 64^2 the counts match the reference
(docs/NETWORKS.md); the default `width=32` keeps a training step fast on CPU.

Conditional variant (not in the paper): a label embedding concatenated to z in G and a
projection term (Miyato & Koyama 2018) in D.
"""

import math

import keras

from tf_diffaug.networks import catalog
from tf_diffaug.networks._checks import check_common
from tf_diffaug.networks.blocks import ClassProjection, spectral_norm

RESOLUTIONS = catalog.RESOLUTIONS["dcgan"]


def build_dcgan(
    resolution=32, channels=3, num_classes=None, latent_dim=128, width=32, label_dim=32, spectral_norm_in_d=False
):
    """Builds the DCGAN generator and discriminator.

    Args:
        resolution: 32, 64 or 128.
        channels: image channels, 1 or 3.
        num_classes: None or the number of classes (label embedding in G, projection in D).
        latent_dim: size of z.
        width: channels of G's last hidden layer and D's first layer; the others double per
            resolution step (G at 64^2: 8w, 4w, 2w, w).
        label_dim: size of G's label embedding (conditional only).
        spectral_norm_in_d: bool, wrap D's convolutions and linear layer in SpectralNormalization
            (BN is then dropped from D, as in Miyato et al.'s CNN baseline).

    Returns:
        `(generator, discriminator)` functional keras.Models.

    Example:
        >>> import numpy as np
        >>> g, d = build_dcgan(64)
        >>> tuple(g(np.zeros((2, 128), "float32")).shape)
        (2, 64, 64, 3)
    """
    check_common("dcgan", resolution, channels, num_classes, latent_dim, RESOLUTIONS)
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int. Received: width={width!r}")
    steps = int(math.log2(resolution // 4))
    init = {"class_name": "RandomNormal", "config": {"stddev": 0.02}}
    gamma_init = {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.02}}

    def batch_norm(name):
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=gamma_init, name=name)

    # Generator
    z = keras.Input((latent_dim,), name="z")
    inputs, h = [z], z
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        embedded = keras.layers.Embedding(num_classes, label_dim, name="label_embedding")(labels)
        h = keras.layers.Concatenate(name="z_labels")([z, embedded])
    g_widths = [width * 2 ** (steps - 1 - i) for i in range(steps)]
    h = keras.layers.Dense(16 * g_widths[0], use_bias=False, kernel_initializer=init, name="project")(h)
    h = keras.layers.Reshape((4, 4, g_widths[0]), name="reshape")(h)
    h = keras.layers.Identity(name="g_stem")(h)  # the stem output (AdvAug's default G layer)
    h = batch_norm("bn0")(h)
    h = keras.layers.ReLU(name="g_block1")(h)
    for i, filters in enumerate(g_widths[1:], start=1):
        h = keras.layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init, name=f"deconv{i}"
        )(h)
        h = batch_norm(f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    h = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init, name="to_image"
    )(h)
    images = keras.layers.Activation("tanh", name="images")(h)
    generator = keras.Model(inputs if num_classes else z, images, name="dcgan_generator")

    # Discriminator
    x_in = keras.Input((resolution, resolution, channels), name="images")
    d_inputs, x = [x_in], x_in
    for i in range(steps):
        conv = keras.layers.Conv2D(
            width * 2**i, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init, name=f"conv{i}"
        )
        x = spectral_norm(conv, spectral_norm_in_d)(x)
        if i > 0 and not spectral_norm_in_d:
            x = batch_norm(f"d_bn{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    features = keras.layers.Flatten(name="d_features")(x)
    logits = spectral_norm(keras.layers.Dense(1, kernel_initializer=init, name="linear"), spectral_norm_in_d)(features)
    if num_classes:
        d_labels = keras.Input((), dtype="int32", name="labels")
        d_inputs.append(d_labels)
        projection = ClassProjection(
            num_classes, spectral_norm=spectral_norm_in_d, kernel_initializer=init, name="projection"
        )([features, d_labels])
        logits = keras.layers.Add(name="logits")([logits, projection])
    discriminator = keras.Model(d_inputs if num_classes else x_in, logits, name="dcgan_discriminator")
    return generator, discriminator
