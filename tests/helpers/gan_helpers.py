"""Small deterministic networks and marker augmentations for the GAN tests (also used by the subprocess workers)."""

import keras
import numpy as np
import tensorflow as tf


class AddConstant(keras.layers.Layer):
    """Marker augmentation `T(x) = x + c`: its effect is visible in D's inputs."""

    def __init__(self, constant, **kwargs):
        super().__init__(**kwargs)
        self.constant = constant

    def call(self, images, training=None):
        return images + tf.cast(self.constant, images.dtype) if training else images


class Scale(keras.layers.Layer):
    """Marker augmentation `T(x) = s * x` (gradients through it are scaled by `s`)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, images, training=None):
        return images * tf.cast(self.factor, images.dtype) if training else images


class Gated(keras.layers.Layer):
    """Adaptive marker: per sample `where(u < p, x + shift + noise * N(0, 1), x)` with a non-trainable `p`.

    Has the Keras preprocessing split (`get_random_transformation` / `transform_images`), like
    `td.augment.AdaptiveAugment`, so the GAN can give each replica its own slice of the draws.
    """

    def __init__(self, noise=0.0, shift=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.noise = noise
        self.shift = shift
        self.generator = keras.random.SeedGenerator(seed)
        self.p = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="p", aggregation="only_first_replica"
        )

    def get_random_transformation(self, images, training=True, seed=None):
        batch = tf.shape(images)[0]
        u = keras.random.uniform((batch,), seed=self.generator)
        return {
            "apply": u < tf.cast(self.p, u.dtype),
            "noise": keras.random.normal(tf.shape(images), seed=self.generator),
        }

    def transform_images(self, images, transformation):
        noisy = (
            images
            + tf.cast(self.shift, images.dtype)
            + tf.cast(self.noise, images.dtype) * tf.cast(transformation["noise"], images.dtype)
        )
        return tf.where(tf.reshape(transformation["apply"], [-1, 1, 1, 1]), noisy, images)

    def call(self, images, training=None):
        if not training:
            return images
        return self.transform_images(images, self.get_random_transformation(images))


def linear_discriminator(shape, w, b=0.0, num_classes=None):
    """`D(x) = w . flatten(x) + b` (plus a per-class bias when conditional: `[images, labels]`)."""
    w = np.array(w, np.float32).reshape(-1, 1)  # a copy: TF may alias NumPy memory
    images = keras.Input(shape)
    flat = keras.layers.Flatten()(images)
    logits = keras.layers.Dense(
        1, kernel_initializer=keras.initializers.Constant(w), bias_initializer=keras.initializers.Constant(b)
    )(flat)
    if num_classes is None:
        return keras.Model(images, logits, name="linear_d")
    labels = keras.Input((), dtype="int32")
    class_bias = keras.layers.Flatten()(keras.layers.Embedding(num_classes, 1, embeddings_initializer="zeros")(labels))
    return keras.Model([images, labels], keras.layers.Add()([logits, class_bias]), name="linear_d")


def constant_generator(latent_dim, shape, value=0.0, num_classes=None):
    """`G(z) = value` everywhere (zero kernel, bias `value`, no activation): fake images are known exactly."""
    z = keras.Input((latent_dim,))
    flat = keras.layers.Dense(
        int(np.prod(shape)), kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(value)
    )(z)
    images = keras.layers.Reshape(shape)(flat)
    if num_classes is None:
        return keras.Model(z, images, name="constant_g")
    labels = keras.Input((), dtype="int32")
    return keras.Model([z, labels], images, name="constant_g")


def small_networks(seed=0, latent_dim=4, shape=(4, 4, 1), hidden=8):
    """A tiny randomly initialised (seeded) G and D without batch statistics."""
    init = lambda offset: keras.initializers.GlorotUniform(seed=seed + offset)  # noqa: E731
    z = keras.Input((latent_dim,))
    h = keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(1))(z)
    out = keras.layers.Dense(int(np.prod(shape)), activation="tanh", kernel_initializer=init(2))(h)
    generator = keras.Model(z, keras.layers.Reshape(shape)(out), name="small_g")
    x = keras.Input(shape)
    h = keras.layers.Conv2D(hidden, 3, padding="same", kernel_initializer=init(3))(x)
    h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Flatten()(h)
    discriminator = keras.Model(x, keras.layers.Dense(1, kernel_initializer=init(4))(h), name="small_d")
    return generator, discriminator


def advaug_networks(seed=0, latent_dim=4, shape=(4, 4, 1), num_classes=None, spectral_norm=False):
    """Tiny seeded G and D with the layers of the networks contract ("g_stem", "g_block1", "d_features").

    G: `s = z W0 + b0` ("g_stem", AdvAug's default G layer), `f = relu(s)` ("g_block1"),
    `tanh((f [+ E_g[y]]) W1 + b1)`, reshaped. D: `flatten(x)`, `f = relu(x W2 + b2)`
    ("d_features"), `relu(f W3 + b3) W4 + b4 [+ E_d[y]]`. Labels enter after the split layers, so
    both tails need them. Layer names: g0, g_embed, g1, d0, d1, d2, d_embed.
    """
    init = lambda offset: keras.initializers.GlorotUniform(seed=seed + offset)  # noqa: E731
    bias = lambda offset: keras.initializers.RandomUniform(-0.3, 0.3, seed=seed + 10 + offset)  # noqa: E731
    embed = lambda offset: keras.initializers.RandomUniform(-0.5, 0.5, seed=seed + 20 + offset)  # noqa: E731
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels") if num_classes else None
    stem = keras.layers.Dense(6, kernel_initializer=init(0), bias_initializer=bias(0), name="g0")(z)
    stem = keras.layers.Identity(name="g_stem")(stem)
    h = keras.layers.Identity(name="g_block1")(keras.layers.ReLU()(stem))
    if num_classes:
        h = keras.layers.Add()(
            [h, keras.layers.Embedding(num_classes, 6, embeddings_initializer=embed(0), name="g_embed")(labels)]
        )
    out = keras.layers.Dense(
        int(np.prod(shape)), activation="tanh", kernel_initializer=init(1), bias_initializer=bias(1), name="g1"
    )(h)
    generator = keras.Model([z, labels] if num_classes else z, keras.layers.Reshape(shape)(out), name="advaug_g")
    x = keras.Input(shape, name="images")
    d_labels = keras.Input((), dtype="int32", name="labels") if num_classes else None
    dense = keras.layers.Dense(5, activation="relu", kernel_initializer=init(2), bias_initializer=bias(2), name="d0")
    h = (keras.layers.SpectralNormalization(dense) if spectral_norm else dense)(keras.layers.Flatten()(x))
    h = keras.layers.Identity(name="d_features")(h)
    h = keras.layers.Dense(3, activation="relu", kernel_initializer=init(3), bias_initializer=bias(3), name="d1")(h)
    logits = keras.layers.Dense(1, kernel_initializer=init(4), bias_initializer=bias(4), name="d2")(h)
    if num_classes:
        class_bias = keras.layers.Embedding(num_classes, 1, embeddings_initializer=embed(1), name="d_embed")(d_labels)
        logits = keras.layers.Add()([logits, keras.layers.Flatten()(class_bias)])
    discriminator = keras.Model([x, d_labels] if num_classes else x, logits, name="advaug_d")
    return generator, discriminator


def all_state(gan):
    """Every variable of the GAN and its optimizers as NumPy arrays, keyed by position and kind.

    Keys do not contain layer names (Keras numbers those per process), e.g. `model/07/kernel`,
    `d_opt/00/iteration`, `g_opt/03/slot`.
    """
    state = {}
    for prefix, obj in (("model", gan), ("g_opt", gan.g_optimizer), ("d_opt", gan.d_optimizer)):
        for index, variable in enumerate(obj.variables):
            kind = variable.name
            if prefix != "model" and kind not in ("iteration", "learning_rate"):
                kind = "slot"
            state[f"{prefix}/{index:02d}/{kind}"] = keras.ops.convert_to_numpy(variable)
    return state
