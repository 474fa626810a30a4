"""td.GAN with the library's DiffAugment / AdaptiveAugment and DCGAN; XLA; SampleGrid; .keras round trip."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tf_diffaug as td
from tests.helpers import gan_helpers as h
from tf_diffaug.gan.callbacks import image_grid, to_uint8


def test_dcgan_with_adaptive_diffaugment_fits_and_round_trips(tmp_path):
    g, d = td.networks.get("dcgan", resolution=32, channels=3, latent_dim=16)
    ada = td.augment.AdaptiveAugment(td.DiffAugment("color,translation,cutout", seed=1), initial_p=0.5, seed=2)
    gan = td.GAN(g, d, latent_dim=16, augment=ada, seed=0)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        loss="non_saturating",
        ada_target=0.6,
        ada_interval=1,
        ada_kimg=1,
    )
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    history = gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(4), epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    # Two ADA updates of +-4 images / 1000 (or 0 when r_t hits the target exactly).
    moves = (float(ada.p) - 0.5) / 0.004
    assert moves == pytest.approx(round(moves), abs=1e-3) and abs(round(moves)) <= 2
    assert history.history["aug_p"][0] == pytest.approx(float(ada.p))

    samples = gan.generate(5, seed=3)
    assert samples.shape == (5, 32, 32, 3) and samples.min() >= -1 and samples.max() <= 1
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, td.GAN) and isinstance(loaded.augment, td.augment.AdaptiveAugment)
    np.testing.assert_allclose(loaded.generate(5, seed=3), samples, rtol=1e-5, atol=1e-6)
    assert float(loaded.augment.p) == float(ada.p) and int(loaded.step_counter) == 2


def test_train_step_compiles_with_xla():
    # Closed form under XLA: constant G, linear D, T(x) = 2x, Wasserstein + R1 through T, one SGD step on D.
    w = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    real = np.random.default_rng(1).uniform(-1, 1, (4, 2, 2, 1)).astype(np.float32)
    gan = td.GAN(
        h.constant_generator(3, (2, 2, 1)), h.linear_discriminator((2, 2, 1), w), latent_dim=3, augment=h.Scale(2.0)
    )
    gan.compile(
        g_optimizer=keras.optimizers.SGD(0.0),
        d_optimizer=keras.optimizers.SGD(0.01),
        loss="wasserstein",
        r1_gamma=0.5,
        jit_compile=True,
    )
    logs = gan.fit(real, batch_size=4, epochs=1, verbose=0).history
    assert gan.jit_compile is True
    assert logs["r1_penalty"][0] == pytest.approx(4 * np.sum(w**2), rel=1e-5)
    expected = w - 0.01 * (-2.0 * real.reshape(4, -1).mean(0) + 0.5 * 4 * w)
    np.testing.assert_allclose(gan.discriminator.layers[-1].kernel.numpy()[:, 0], expected, rtol=1e-5)

    # Random networks, random gated augmentation, ADA and LeCam under XLA: finite, p moves by the rule.
    g, d = h.small_networks(seed=6)
    augment = h.Gated(noise=0.1, shift=0.1, seed=2)
    augment.p.assign(0.5)
    gan = td.GAN(g, d, latent_dim=4, augment=augment, seed=1)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-2),
        d_optimizer=keras.optimizers.Adam(1e-2),
        r1_gamma=1.0,
        lecam_weight=0.1,
        ada_target=0.6,
        ada_interval=1,
        ada_kimg=0.1,
        jit_compile=True,
    )
    logs = gan.fit(real.repeat(2, axis=1).repeat(2, axis=2), batch_size=4, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in logs.values())
    assert float(augment.p) in (pytest.approx(0.46), pytest.approx(0.5), pytest.approx(0.54))


def test_image_grid_places_images_row_major():
    images = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 2, 3, 1), np.uint8)
    grid = image_grid(images, columns=3, padding=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert (
        grid[1, 1, 0] == 0 and grid[1, 5, 0] == 1 and grid[1, 9, 0] == 2 and grid[4, 1, 0] == 3 and grid[4, 5, 0] == 4
    )
    assert grid[0].max() == 0 and grid[:, 0].max() == 0  # padding
    np.testing.assert_array_equal(to_uint8([-1.0, 0.0, 1.0, 2.0]), [0, 128, 255, 255])


def test_sample_grid_writes_fixed_latent_pngs_and_tensorboard(tmp_path):
    g, d = h.small_networks(seed=8, shape=(4, 4, 3))
    gan = td.GAN(g, d, latent_dim=4, ema_decay=0.5)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2))
    grid = td.gan.SampleGrid(
        str(tmp_path / "png"), every_n_epochs=1, num_samples=6, seed=5, log_dir=str(tmp_path / "tb")
    )
    images = np.random.default_rng(2).uniform(-1, 1, (8, 4, 4, 3)).astype(np.float32)
    by_step = td.gan.SampleGrid(str(tmp_path / "steps"), every_n_steps=3, num_samples=2, seed=5)
    gan.fit(images, batch_size=4, epochs=2, verbose=0, callbacks=[grid, by_step])
    assert [os.path.basename(f) for f in by_step.written] == ["samples_step_000003.png"]  # 4 steps in all
    files = sorted(glob.glob(str(tmp_path / "png" / "*.png")))
    assert [os.path.basename(f) for f in files] == ["samples_epoch_000001.png", "samples_epoch_000002.png"]
    expected = image_grid(to_uint8(gan.generate(6, seed=5)))  # same fixed z, final EMA weights
    np.testing.assert_array_equal(np.asarray(Image.open(files[-1])), expected)
    assert not np.array_equal(np.asarray(Image.open(files[0])), expected)  # training changed the samples
    assert glob.glob(str(tmp_path / "tb" / "samples" / "events.out.tfevents.*"))


def test_sample_grid_in_training_mode_uses_batch_statistics():
    z = keras.Input((4,))
    h_ = keras.layers.BatchNormalization()(keras.layers.Dense(12)(z))
    g = keras.Model(z, keras.layers.Reshape((2, 2, 3))(keras.layers.Activation("tanh")(h_)))
    _, d = h.small_networks(seed=8, shape=(2, 2, 3))
    gan = td.GAN(g, d, latent_dim=4)
    bn = gan.ema_generator.layers[2]
    bn.moving_mean.assign(np.full(12, 2.0, "float32"))  # far from the batch statistics
    grids = {}
    for mode in (False, True):
        callback = td.gan.SampleGrid("/tmp/unused", num_samples=6, seed=5, training=mode)
        callback.set_model(gan)
        grids[mode] = callback.grid()
    np.testing.assert_array_equal(grids[True], image_grid(to_uint8(gan.generate(6, seed=5, training=True))))
    np.testing.assert_array_equal(grids[False], image_grid(to_uint8(gan.generate(6, seed=5))))
    assert np.abs(grids[True].astype(int) - grids[False].astype(int)).max() > 10
    with pytest.raises(ValueError, match="training must be True or False. Received training=1"):
        td.gan.SampleGrid("/tmp/x", training=1)


def test_sample_grid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every_n_epochs must be a positive int. Received every_n_epochs=0"):
        td.gan.SampleGrid("/tmp/x", every_n_epochs=0)
    with pytest.raises(ValueError, match="seed must be an int"):
        td.gan.SampleGrid("/tmp/x", seed=None)
