"""The EMA generator's non-trainable state, sampling in training mode, and mixed-precision updates (issue 14)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tests.helpers import gan_helpers as h

SHAPE = (2, 2, 1)
W = np.array([0.5, -1.0, 2.0, 0.25], np.float32)


def bn_generator(latent=3, spectral_norm=False, momentum=0.5, seed=0):
    """z -> [SpectralNormalization](Dense(4)) -> BatchNormalization -> 2x2x1 images (no activation)."""
    z = keras.Input((latent,))
    dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="dense")
    layer = keras.layers.SpectralNormalization(dense, name="sn") if spectral_norm else dense
    out = keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3, name="bn")(layer(z))
    return keras.Model(z, keras.layers.Reshape(SHAPE)(out), name="bn_g")


def test_ema_averages_trainable_weights_and_copies_batch_norm_and_spectral_norm_state():
    # StyleGAN2-ADA's rule (training_loop.py: p_ema <- lerp, b_ema <- copy of the buffers): with
    # decay 0.5, ema_t = (ema_{t-1} + w_t) / 2 for weights, ema_t = s_t for moving statistics and u.
    keras.utils.set_random_seed(1)  # SpectralNormalization's u has an unseeded initializer
    generator = bn_generator(spectral_norm=True)
    gan = td.GAN(generator, h.linear_discriminator(SHAPE, W, 0.1), latent_dim=3, ema_decay=0.5, seed=2)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
    names = [v.path for v in generator.weights]
    trainable = {id(v) for v in generator.trainable_weights}
    averaged = [id(v) in trainable for v in generator.weights]
    assert sorted(n for n, a in zip(names, averaged) if not a) == [
        "bn/moving_mean",
        "bn/moving_variance",
        "sn/vector_u",
    ]
    history = [([w.copy() for w in generator.get_weights()], [w.copy() for w in gan.ema_generator.get_weights()])]
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: history.append(
            (generator.get_weights(), gan.ema_generator.get_weights())
        )
    )
    images = np.random.default_rng(0).uniform(-1, 1, (12, *SHAPE)).astype(np.float32)
    gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(4), epochs=1, verbose=0, callbacks=[record])
    expected = history[0][1]
    for step, (weights, ema) in enumerate(history[1:], start=1):
        for i, name in enumerate(names):
            if averaged[i]:
                expected[i] = 0.5 * expected[i] + 0.5 * weights[i]
                np.testing.assert_allclose(ema[i], expected[i], rtol=1e-6, atol=1e-7, err_msg=f"{name} step {step}")
            else:
                np.testing.assert_array_equal(ema[i], weights[i], err_msg=f"{name} step {step}")
                assert not np.allclose(ema[i], 0.5 * history[step - 1][1][i] + 0.5 * weights[i]), name  # not averaged
    for i, name in enumerate(names):  # the state really moved, so copy and average differ
        if not averaged[i]:
            assert not np.allclose(history[-1][0][i], history[0][0][i]), name


def test_generate_in_training_mode_normalizes_with_each_batchs_statistics():
    # BigGAN-CIFAR samples G_ema in train() mode: batch norm uses the batch's mean and (biased) variance.
    generator = bn_generator()
    gan = td.GAN(generator, h.linear_discriminator(SHAPE, W), latent_dim=3)
    bn = gan.ema_generator.get_layer("bn")
    bn.moving_mean.assign([0.3, -0.2, 0.1, 0.5])
    bn.moving_variance.assign([2.0, 0.5, 1.5, 3.0])
    bn.gamma.assign([1.5, 0.5, 1.0, 2.0])
    bn.beta.assign([0.1, -0.1, 0.2, 0.0])
    before = [w.copy() for w in gan.ema_generator.get_weights()]
    dense = gan.ema_generator.get_layer("dense")
    z = keras.ops.convert_to_numpy(keras.random.normal((6, 3), seed=7)).astype(np.float64)
    y = z @ dense.kernel.numpy() + dense.bias.numpy()
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
    expected = []
    for chunk in (y[:3], y[3:]):  # batch_size=3: two batches, each with its own statistics
        expected.append(gamma * (chunk - chunk.mean(0)) / np.sqrt(chunk.var(0) + 1e-3) + beta)
    samples = gan.generate(6, seed=7, batch_size=3, training=True)
    np.testing.assert_allclose(samples.reshape(6, 4), np.concatenate(expected), rtol=1e-5, atol=1e-5)
    inference = gamma * (y - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3) + beta
    np.testing.assert_allclose(gan.generate(6, seed=7, batch_size=3).reshape(6, 4), inference, rtol=1e-5, atol=1e-5)
    for now, then in zip(gan.ema_generator.get_weights(), before):  # moving statistics restored
        np.testing.assert_array_equal(now, then)
    assert not gan.ema_generator.trainable and not gan.ema_generator.trainable_weights  # frozen again
    with pytest.raises(ValueError, match=r"training must be True or False. Received training='train'"):
        gan.generate(2, training="train")


def test_generate_in_training_mode_restores_spectral_norm_state_after_every_batch():
    # Keras' SpectralNormalization rewrites its kernel and u in training mode; every batch must start
    # from the EMA generator's state, as a fresh copy run in training mode on that batch does.
    keras.utils.set_random_seed(3)
    gan = td.GAN(bn_generator(spectral_norm=True), h.linear_discriminator(SHAPE, W), latent_dim=3)
    ema = gan.ema_generator
    before = [w.copy() for w in ema.get_weights()]
    z = keras.random.normal((8, 3), seed=11)
    expected = []
    for start in (0, 4):
        copy = keras.models.clone_model(ema)
        copy.set_weights(before)
        for layer in copy._flatten_layers():  # a frozen Keras batch norm would read its moving statistics
            layer.trainable = True
        expected.append(keras.ops.convert_to_numpy(copy(z[start : start + 4], training=True)))
    samples = gan.generate(8, seed=11, batch_size=4, training=True)
    np.testing.assert_allclose(samples, np.concatenate(expected), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(copy.get_layer("sn").vector_u.numpy(), before[2])  # training mode moved u
    for now, then in zip(ema.get_weights(), before):
        np.testing.assert_array_equal(now, then)


def _one_step_deltas(policy, initial_scale=None):
    """G's and D's weight changes after one SGD step from fixed weights, under a dtype policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        g, d = h.small_networks(seed=4)
        gan = td.GAN(g, d, latent_dim=4, augment=h.AddConstant(0.1), seed=5)
        optimizers = [keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)]
        if initial_scale is not None:
            optimizers = [keras.optimizers.LossScaleOptimizer(o, initial_scale=initial_scale) for o in optimizers]
        gan.compile(g_optimizer=optimizers[0], d_optimizer=optimizers[1], loss="non_saturating", r1_gamma=1.0)
    finally:
        keras.config.set_dtype_policy(previous)
    before = [w.copy() for w in g.get_weights() + d.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
    gan.fit(tf.data.Dataset.from_tensors(images), epochs=1, verbose=0)
    after = g.get_weights() + d.get_weights()
    return [a - b for a, b in zip(after, before)], len(g.get_weights())


@pytest.mark.parametrize("initial_scale", [None, 2.0**10])
def test_mixed_float16_updates_equal_float32_updates_within_float16_precision(initial_scale):
    # Under mixed_float16 the losses are scaled and the LossScaleOptimizer unscales the gradients;
    # a D (or G) update that skipped `scale_loss` would come out `scale` (2^15 by default) times smaller.
    exact, n_g = _one_step_deltas("float32")
    half, _ = _one_step_deltas("mixed_float16", initial_scale)
    for index, (d32, d16) in enumerate(zip(exact, half)):
        network = "G" if index < n_g else "D"
        scale = np.abs(d32).max()
        assert scale > 1e-4, (network, index)  # the step moved this weight
        np.testing.assert_allclose(d16, d32, rtol=2e-2, atol=2e-2 * scale, err_msg=f"{network} weight {index}")
