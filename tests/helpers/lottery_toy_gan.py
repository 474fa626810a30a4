"""Test fixture only: a minimal hinge-loss GAN exposing td.GAN's attribute names.

Not library code and not a stand-in for ``td.GAN``: it exists so the lottery driver
(``find_ticket``/``train_ticket``), which only touches ``generator``, ``discriminator``,
``ema_generator``, ``g_optimizer``, ``d_optimizer`` and ``fit``, can be tested on a real
training loop with tiny networks (4x4x1 images).
"""

import keras
import numpy as np
import tensorflow as tf

from tf_diffaug.lottery import FeatureAdvAug

LATENT = 8


def make_networks(seed=0):
    """Tiny functional G and D with the layer names of the networks contract (g_stem, g_block1, d_features)."""
    keras.utils.set_random_seed(seed)
    z = keras.Input((LATENT,), name="z")
    h = keras.layers.Identity(name="g_stem")(keras.layers.Dense(24, name="g_dense1")(z))
    h = keras.layers.Identity(name="g_block1")(keras.layers.ReLU()(h))
    h = keras.layers.Dense(16, activation="tanh", name="g_out")(h)
    generator = keras.Model(z, keras.layers.Reshape((4, 4, 1))(h), name="generator")
    x = keras.Input((4, 4, 1), name="images")
    h = keras.layers.SpectralNormalization(keras.layers.Conv2D(6, 3, padding="same", name="d_conv"))(x)
    h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Dense(12, activation="relu", name="d_dense")(keras.layers.Flatten()(h))
    h = keras.layers.Identity(name="d_features")(h)
    discriminator = keras.Model(x, keras.layers.Dense(1, name="d_logit")(h), name="discriminator")
    return generator, discriminator


class ToyGAN(keras.Model):
    """Hinge GAN, one D step and one G step per batch, EMA generator with decay 0.9.

    ``advaug_gamma`` (None: plain steps) runs both steps through ``FeatureAdvAug`` the way a
    td.GAN train step would: losses averaged over clean and perturbed outputs.
    """

    def __init__(self, generator, discriminator, seed=0, advaug_gamma=None):
        super().__init__()
        self.advaug = None if advaug_gamma is None else FeatureAdvAug(generator, discriminator, advaug_gamma)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.ema_generator.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, *, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, images, training=False):
        # Keras may call the model on a data batch (images) to build it under a strategy.
        return self.discriminator(images, training=training)

    def train_step(self, real):
        batch = tf.shape(real)[0]
        z = keras.random.normal((batch, LATENT), seed=self.seed_generator)

        def d_hinge(real_logits, fake_logits):
            return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))

        def d_fn(images):
            return self.discriminator(images, training=True)

        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            if self.advaug is None:
                d_loss = d_hinge(d_fn(real), d_fn(fake))
            else:
                real_logits, real_adv = self.advaug.discriminator_logits(real, training=True)
                fake_logits, fake_adv = self.advaug.discriminator_logits(fake, training=True)
                d_loss = (d_hinge(real_logits, fake_logits) + d_hinge(real_adv, fake_adv)) / 2.0
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)
        with tf.GradientTape() as tape:
            if self.advaug is None:
                g_loss = -tf.reduce_mean(d_fn(self.generator(z, training=True)))
            else:
                images, images_adv = self.advaug.generator_images(z, d_fn, training=True)
                g_loss = -tf.reduce_mean(d_fn(images))
                if images_adv is not images:  # gamma == 0 gives the same tensor: D runs once, as plain
                    g_loss = (g_loss - tf.reduce_mean(d_fn(images_adv))) / 2.0
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, g_vars), g_vars)
        for ema, weight in zip(self.ema_generator.weights, self.generator.weights):
            ema.assign(0.9 * ema + 0.1 * weight)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def make_gan(seed=0, weight_decay=None, advaug_gamma=None):
    generator, discriminator = make_networks(seed)
    gan = ToyGAN(generator, discriminator, seed=seed, advaug_gamma=advaug_gamma)
    gan.compile(
        g_optimizer=keras.optimizers.AdamW(1e-2, weight_decay=weight_decay)
        if weight_decay
        else keras.optimizers.Adam(1e-2),
        d_optimizer=keras.optimizers.Adam(1e-2),
    )
    return gan


def make_dataset(seed=0, n=64, batch=8):
    rng = np.random.default_rng(seed)
    images = np.tanh(rng.normal(size=(n, 4, 4, 1))).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True).repeat()
