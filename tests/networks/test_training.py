"""The networks in training use: XLA compilation of the custom layers, and a few td.GAN steps with the dcgan pair."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td


def all_custom_layers_model():
    """A small functional model that chains every custom layer of td.networks (XLA is slow to compile
    the full networks on CPU; the stock Keras layers they add compile under XLA already)."""
    from tf_diffaug import networks as n

    z = keras.Input((8,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    w = n.EqualizedDense(16, lr_multiplier=0.01, activation="lrelu")(n.LatentNormalization()(z))
    w2 = n.EqualizedDense(16)(n.MixingLatent(seed=1)(z))
    ws = n.StyleBroadcast(4, mixing_probability=0.5, seed=2)([w, w2])
    x = n.ConstantInput(16)(ws)
    x = n.ModulatedConv2D(16, 3, upsample=True, style_index=0, use_noise=True, seed=3)([x, ws])
    x = n.ModulatedConv2D(16, 1, demodulate=False, style_index=3, activation="linear")([x, ws])
    chunks = n.LatentSplit([4, 4])(z)
    cond = keras.layers.Concatenate()([chunks[1], n.LabelEmbedding(3, 4)(labels)])
    x = n.ConditionalBatchNorm(spectral_norm=True)([x, cond])
    x = n.ConditionalBatchNorm(num_classes=3)([x, labels])
    x = n.SelfAttention()(x)
    x = n.EqualizedConv2D(16, 3, downsample=True, activation="lrelu")(x)
    x = n.MinibatchStdDev(4)(x)
    features = n.GlobalSumPooling2D()(x)
    out = keras.layers.Add()([n.EqualizedDense(1)(features), n.ClassProjection(3)([features, labels])])
    model = keras.Model([z, labels], out)
    for layer in model.layers:
        if isinstance(layer, n.SelfAttention):
            layer.gamma.assign(0.5)
    return model


def test_custom_layers_compile_under_xla_forward_and_backward():
    model = all_custom_layers_model()
    z = tf.constant(np.random.default_rng(0).normal(size=(8, 8)).astype("float32"))
    labels = tf.constant(np.arange(8) % 3, dtype="int32")
    eager = model([z, labels], training=False)
    xla = tf.function(lambda z, y: model([z, y], training=False), jit_compile=True)(z, labels)
    np.testing.assert_allclose(xla.numpy(), eager.numpy(), rtol=1e-3, atol=1e-3)

    @tf.function(jit_compile=True)
    def gradients(z, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model([z, labels], training=True) ** 2)
        return tape.gradient(loss, model.trainable_weights)

    grads = [tf.convert_to_tensor(g).numpy() for g in gradients(z, labels)]
    assert len(grads) == len(model.trainable_weights)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert sum(np.any(g != 0) for g in grads) == len(grads)


def _gan_class():
    gan_module = pytest.importorskip("tf_diffaug.gan")
    if not hasattr(gan_module, "GAN"):
        pytest.skip("tf_diffaug.gan has no GAN yet (written concurrently by the GAN engineer)")
    return gan_module.GAN


@pytest.mark.parametrize("num_classes", [None, 3])
def test_gan_trains_dcgan_pair(num_classes):
    GAN = _gan_class()
    generator, discriminator = td.networks.get("dcgan", 32, num_classes=num_classes, width=8)
    decay = 0.9
    gan = GAN(generator, discriminator, latent_dim=128, num_classes=num_classes, ema_decay=decay, seed=0)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-3, 0.5),
        d_optimizer=keras.optimizers.Adam(1e-3, 0.5),
        loss="non_saturating",
    )
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    data = (images, np.arange(8) % 3) if num_classes else images
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(4, drop_remainder=True)
    g_before = [w.numpy() for w in generator.trainable_weights]
    d_before = [w.numpy() for w in discriminator.trainable_weights]
    history = gan.fit(dataset.take(1), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]).all() for v in history.history.values())
    g_after = [w.numpy() for w in generator.trainable_weights]
    assert all(not np.array_equal(a, b) for a, b in zip(g_before, g_after))
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, discriminator.trainable_weights))
    # After one step the EMA copy is decay * G_0 + (1 - decay) * G_1 for every trainable weight.
    for before, after, ema in zip(g_before, g_after, gan.ema_generator.trainable_weights):
        np.testing.assert_allclose(ema.numpy(), decay * before + (1 - decay) * after, rtol=1e-4, atol=1e-6)
    gan.fit(dataset, epochs=1, verbose=0)
    samples = keras.ops.convert_to_numpy(gan.generate(4, labels=np.array([0, 1, 2, 0]) if num_classes else None))
    assert samples.shape == (4, 32, 32, 3) and np.abs(samples).max() <= 1.0


def test_gan_trains_dcgan_pair_with_diffaugment():
    GAN = _gan_class()
    augment_module = pytest.importorskip("tf_diffaug.augment")
    if not hasattr(augment_module, "DiffAugment"):
        pytest.skip("tf_diffaug.augment has no DiffAugment yet (written concurrently by the augment engineer)")
    generator, discriminator = td.networks.get("dcgan", 32, width=8)
    gan = GAN(generator, discriminator, latent_dim=128, augment=augment_module.DiffAugment(seed=0), seed=0)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-3, 0.5), d_optimizer=keras.optimizers.Adam(1e-3, 0.5), loss="hinge"
    )
    images = np.random.default_rng(1).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    before = [w.numpy() for w in generator.trainable_weights]
    history = gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(4), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]).all() for v in history.history.values())
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(before, generator.trainable_weights))


@pytest.mark.parametrize("name,num_classes", [("biggan", 3), ("stylegan2", None)])
def test_mixed_float16_forward_and_backward_are_finite(name, num_classes):
    kwargs = {
        "biggan": {"ch": 8, "attention_resolution": 16},
        "stylegan2": {"fmap_base": 256, "fmap_max": 16, "w_dim": 16, "mapping_layers": 2},
    }[name]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator, discriminator = td.networks.get(name, 32, num_classes=num_classes, **kwargs)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 128)).astype("float32"))
    labels = tf.constant([0, 1, 2, 0], dtype="int32")
    with tf.GradientTape() as tape:
        images = generator([z, labels] if num_classes else z, training=True)
        logits = discriminator([images, labels] if num_classes else images, training=True)
        loss = tf.reduce_mean(tf.cast(logits, "float32"))
    assert images.dtype == "float16"
    variables = generator.trainable_weights + discriminator.trainable_weights
    grads = tape.gradient(loss, variables)
    assert all(np.all(np.isfinite(tf.convert_to_tensor(g).numpy())) for g in grads)
    # Same weights in float32 give nearly the same images.
    g32, _ = td.networks.get(name, 32, num_classes=num_classes, **kwargs)
    g32.set_weights(generator.get_weights())
    images32 = g32([z, labels] if num_classes else z, training=False)
    images16 = generator([z, labels] if num_classes else z, training=False)
    np.testing.assert_allclose(tf.cast(images16, "float32").numpy(), images32.numpy(), atol=2e-2)
