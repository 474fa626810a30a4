"""FIDCallback logs FID/KID of a real (tiny) generator to History, TensorBoard and JSONL."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug.metrics import FeatureStatistics, FIDCallback, kernel_distance, to_uint8

LATENT = 8


class TinyGenerator(keras.Model):
    """A real generator network: z -> Dense -> reshape 16x16x3 -> tanh, with `generate`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(16 * 16 * 3)
        self.reshape = keras.layers.Reshape((16, 16, 3))

    def call(self, z):
        return keras.ops.tanh(self.reshape(self.dense(z)))

    def generate(self, n, labels=None, use_ema=True, seed=None):
        z = keras.random.normal((n, LATENT), seed=keras.random.SeedGenerator(seed))
        return keras.ops.convert_to_numpy(self(z))


def _fid_low_rank(a, b):
    """Closed-form FID when N < D: tr((S_a S_b)^1/2) = nuclear norm of A B^T / sqrt((n_a-1)(n_b-1))."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    ca, cb = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    trace = (ca**2).sum() / (len(a) - 1) + (cb**2).sum() / (len(b) - 1)
    return np.sum((a.mean(0) - b.mean(0)) ** 2) + trace - 2 * cross


def _mmd2_unbiased(x, y):
    d, m = x.shape[1], len(x)
    kxx, kyy, kxy = [(u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y))]
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_fid_callback_logs_history_tensorboard_and_jsonl(extractor, tmp_path):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, size=(4, 16, 16, 3), dtype=np.uint8)
    model = TinyGenerator()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    z = rng.normal(size=(8, LATENT)).astype(np.float32)
    target = (real[rng.integers(0, 4, 8)].astype(np.float32) / 127.5 - 1).astype(np.float32)
    callback = FIDCallback(
        real,
        every_n_epochs=1,
        num_samples=4,
        batch_size=4,
        jsonl_path=str(tmp_path / "m" / "fid.jsonl"),
        log_dir=str(tmp_path / "tb"),
        seed=3,
        weights=extractor,
        stats_path=str(tmp_path / "ref.npz"),
        kid_subsets=3,
        fid_method="gram",
    )
    history = model.fit(z, target, batch_size=4, epochs=2, verbose=0, callbacks=[callback])

    # Independent recomputation of the last epoch's values from the trained generator.
    real_feats = extractor(real)
    fake_feats = extractor(to_uint8(model.generate(4, use_ema=True, seed=3)))
    fid = history.history["fid"]
    kid = history.history["kid"]
    assert len(fid) == len(kid) == 2 and fid[0] != fid[1]  # the generator changed in between
    assert fid[-1] == pytest.approx(_fid_low_rank(real_feats, fake_feats), rel=1e-4)
    # 4 real and 4 fake features: every KID subset is the full sets, so KID == MMD^2 of them.
    assert kid[-1] == pytest.approx(
        _mmd2_unbiased(real_feats.astype(np.float64), fake_feats.astype(np.float64)), rel=1e-5
    )

    lines = [json.loads(line) for line in open(tmp_path / "m" / "fid.jsonl")]
    assert [(r["epoch"], r["step"]) for r in lines] == [(1, 2), (2, 4)]
    np.testing.assert_allclose([r["fid"] for r in lines], fid)
    np.testing.assert_allclose([r["kid"] for r in lines], kid)

    scalars = {}
    for name in os.listdir(tmp_path / "tb"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "tb" / name)):
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert scalars[("fid", 1)] == pytest.approx(fid[0], rel=1e-6)
    assert scalars[("kid", 2)] == pytest.approx(kid[1], rel=1e-5, abs=1e-9)

    saved = FeatureStatistics.load(tmp_path / "ref.npz")
    np.testing.assert_allclose(saved.mu, real_feats.mean(0), rtol=1e-5, atol=1e-6)
    from_images = FeatureStatistics.from_images(real, weights=extractor)
    np.testing.assert_allclose(from_images.sigma, np.cov(real_feats.astype(np.float64), rowvar=False), atol=1e-5)
    assert kernel_distance(saved, fake_feats, num_subsets=1) == pytest.approx(kid[-1], rel=1e-5)


def test_fid_callback_every_n_epochs_and_arguments(extractor):
    real = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="every_n_epochs must be a positive integer, received 0"):
        FIDCallback(real, every_n_epochs=0)
    with pytest.raises(ValueError, match="Unknown fid_method 'fast'"):
        FIDCallback(real, fid_method="fast")
    with pytest.raises(ValueError, match="Expected uint8 images"):
        FIDCallback(real.astype(np.float32))
    # Not an evaluation epoch: the callback leaves the logs alone and never builds anything.
    callback = FIDCallback(real, every_n_epochs=3, weights=extractor)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0}


def test_fid_callback_clean_mode_resizes_real_and_generated_images_alike(extractor):
    rng = np.random.default_rng(5)
    real = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    model = TinyGenerator()
    model(np.zeros((1, LATENT), np.float32))
    callback = FIDCallback(
        real, num_samples=3, batch_size=3, weights=extractor, resize="clean", kid_subsets=1, fid_method="gram"
    )
    callback.set_model(model)
    result = callback.evaluate()
    real_feats = extractor(real, resize="clean")
    fake_feats = extractor(to_uint8(model.generate(3, use_ema=True, seed=0)), resize="clean")
    assert result["fid"] == pytest.approx(_fid_low_rank(real_feats, fake_feats), rel=1e-4)
    assert result["kid"] == pytest.approx(
        _mmd2_unbiased(real_feats.astype(np.float64), fake_feats.astype(np.float64)), rel=1e-5
    )
    assert callback.reference_statistics().metadata == {"resize": "clean"}
    legacy = extractor(real)
    assert not np.allclose(callback.reference_statistics().mu, legacy.mean(0), atol=1e-3)


def test_generator_training_samples_the_ema_generator_with_batch_statistics():
    # BigGAN-CIFAR samples G_ema in train mode; generator_training=True passes training=True to
    # generate: the images equal the EMA generator run in training mode on each chunk's latents.
    import tf_diffaug as td

    z = keras.Input((LATENT,))
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(4 * 4 * 3, name="dense")(z))
    generator = keras.Model(z, keras.layers.Reshape((4, 4, 3))(keras.ops.tanh(h)))
    x = keras.Input((4, 4, 3))
    discriminator = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    gan = td.GAN(generator, discriminator, latent_dim=LATENT)
    bn = gan.ema_generator.get_layer("bn")
    bn.moving_mean.assign(np.full(48, 0.4, "float32"))  # moving statistics far from any batch's
    bn.moving_variance.assign(np.full(48, 9.0, "float32"))
    real = np.zeros((4, 4, 4, 3), np.uint8)
    images = {}
    for mode in (False, True):
        callback = FIDCallback(real, num_samples=8, batch_size=4, seed=5, generator_training=mode)
        callback.set_model(gan)
        images[mode] = callback.generated_images()
    dense = gan.ema_generator.get_layer("dense")
    expected = []
    for i in range(2):  # seeds 5 and 6, one chunk of 4 each
        y = keras.ops.convert_to_numpy(dense(keras.random.normal((4, LATENT), seed=5 + i))).astype(np.float64)
        normalized = (y - y.mean(0)) / np.sqrt(y.var(0) + bn.epsilon)
        expected.append(to_uint8(np.tanh(normalized).reshape(4, 4, 4, 3)))
    expected = np.concatenate(expected)
    assert np.abs(images[True].astype(int) - expected.astype(int)).max() <= 1  # rounding at .5 only
    assert np.abs(images[False].astype(int) - expected.astype(int)).max() > 10  # inference mode differs
    with pytest.raises(ValueError, match=r"generator_training must be True or False, received 'yes'"):
        FIDCallback(real, generator_training="yes")
