"""td.GAN on Keras' JAX backend: a 3-step fit equals the TensorFlow one.

The backend is chosen per process, so the JAX run is one subprocess (`jax_backend_worker.py`) and
the TensorFlow run is this process. `keras.random` draws differ between the backends for the
same seed, so both sides draw from the same fixed tables (`tests.helpers.table_random`: each draw
advances its `SeedGenerator` and reads the tables at an offset given by the seed value), from the
same initial weights: latents, augmentation parameters and ADA's gates are then equal, and the
steps must agree to float tolerance (DiffAugment's kernels, R1's double backpropagation, the
optimizers and the state threading are each backend's own).
"""

import subprocess

import keras
import numpy as np
import pytest

from tests.helpers import processes, table_random


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(TensorFlow results, JAX results) of the parity GAN from the same weights and reals."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference run is TensorFlow's")
    folder = tmp_path_factory.mktemp("jax_backend")
    keras.utils.set_random_seed(7)
    g, d = table_random.networks()
    weights = g.get_weights() + d.get_weights()
    n = table_random.STEPS * table_random.D_STEPS * table_random.BATCH
    res = table_random.RESOLUTION
    reals = np.random.default_rng(3).uniform(-1, 1, (n, res, res, 3)).astype(np.float32)
    np.savez(folder / "inputs.npz", reals=reals, **{f"w_{i}": w for i, w in enumerate(weights)})
    command = processes.python_command(processes.ROOT / "tests/gan/jax_backend_worker.py", folder, timeout=840)
    done = subprocess.run(
        command, env=processes.environment(KERAS_BACKEND="jax"), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    with pytest.MonkeyPatch.context() as patch:
        table_random.patch(patch.setattr)
        tf_result = table_random.train(weights, reals)
    return tf_result, dict(np.load(folder / "jax.npz"))


@pytest.mark.slow
def test_three_steps_on_jax_equal_tensorflows_losses_and_weights(runs):
    tf_result, jax_result = runs
    names = sorted(k for k in tf_result if k.startswith("log_"))
    expected = [
        "log_aug_p", "log_cr_penalty", "log_d_loss", "log_fake_score", "log_g_loss",
        "log_lecam_penalty", "log_r1_penalty", "log_real_score",
    ]  # fmt: skip
    assert names == expected and sorted(k for k in jax_result if k.startswith("log_")) == names
    for name in names:
        assert tf_result[name].shape == (table_random.STEPS,)
        np.testing.assert_allclose(jax_result[name], tf_result[name], rtol=2e-4, atol=2e-5, err_msg=name)
    # p moved at every step (ada_interval=1): the gates of ADA were live and threaded.
    assert len(set(np.round(tf_result["log_aug_p"], 6))) == table_random.STEPS
    assert int(jax_result["step"]) == int(tf_result["step"]) == table_random.STEPS
    # 3 steps x (2 D updates + 1 G update) latent draws: the seed state advanced as on TensorFlow.
    np.testing.assert_array_equal(jax_result["latent_seed_state"].astype(np.int64), [13, 9])
    np.testing.assert_array_equal(tf_result["latent_seed_state"].astype(np.int64), [13, 9])
    np.testing.assert_allclose(jax_result["p"], tf_result["p"], rtol=1e-6)
    weights = sorted(k for k in tf_result if k.split("_")[0] in ("g", "d", "ema"))
    assert weights and all(k in jax_result for k in weights)
    for name in weights:
        np.testing.assert_allclose(jax_result[name], tf_result[name], rtol=2e-3, atol=2e-4, err_msg=name)


@pytest.mark.slow
def test_data_parallel_on_one_device_is_the_single_device_step(runs):
    _, jax_result = runs
    for name in [k for k in jax_result if k.startswith("dp_")]:
        np.testing.assert_allclose(jax_result[name], jax_result[name[3:]], rtol=1e-6, atol=1e-7, err_msg=name)
    assert len([k for k in jax_result if k.startswith("dp_log_")]) == 8


@pytest.mark.slow
def test_jax_refuses_advaug_at_compile_naming_it(runs):
    _, jax_result = runs
    assert str(jax_result["advaug_error"]) == (
        "td.GAN's JAX train step does not support AdvAug (advaug_gamma=0.01). Train it on Keras' TensorFlow "
        "backend (KERAS_BACKEND=tensorflow), or compile without it."
    )
