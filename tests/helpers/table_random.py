"""Random draws that are the same on every Keras backend, and the toy GAN of the backend parity test.

`keras.random` draws differ between TensorFlow and JAX for the same seed (different generators),
so a TF-vs-JAX comparison of `td.GAN` cannot use them. `patch(monkeypatch_or_none)` replaces
`keras.random.uniform` / `normal` / `randint` with draws from fixed NumPy tables: each call with a
`SeedGenerator` advances it (`seed.next()`, as Keras' own draws) and reads consecutive table
entries from an offset given by the seed value, in `keras.ops` only, so both backends get exactly
the same latents and augmentation parameters while the seed generators' state must still be
threaded through the step (a state not carried over would repeat the first draws).
"""

import math

import keras
import numpy as np
from keras import ops

TABLE_SIZE = 65521  # prime: the offsets of consecutive seeds never alias
_UNIFORM = np.random.default_rng(1234).random(TABLE_SIZE, dtype=np.float32)
_NORMAL = np.random.default_rng(5678).standard_normal(TABLE_SIZE).astype(np.float32)


def _entries(table, shape, seed):
    state = ops.cast(seed.next(), "int32")
    start = (state[0] * 7919 + state[1] * 1031) % TABLE_SIZE
    size = math.prod(int(d) for d in shape)
    index = (start + ops.arange(size, dtype="int32")) % TABLE_SIZE
    return ops.reshape(ops.take(ops.convert_to_tensor(table), index), tuple(int(d) for d in shape))


def patch(setattr_fn):
    """Replaces `keras.random`'s uniform, normal and randint (draws with a SeedGenerator) via `setattr_fn(obj, name, value)`."""
    original = {name: getattr(keras.random, name) for name in ("uniform", "normal", "randint")}

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        if not isinstance(seed, keras.random.SeedGenerator):
            return original["uniform"](shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
        values = minval + (maxval - minval) * _entries(_UNIFORM, shape, seed)
        return ops.cast(values, dtype or "float32")

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        if not isinstance(seed, keras.random.SeedGenerator):
            return original["normal"](shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
        return ops.cast(mean + stddev * _entries(_NORMAL, shape, seed), dtype or "float32")

    def randint(shape, minval, maxval, dtype="int32", seed=None):
        if not isinstance(seed, keras.random.SeedGenerator):
            return original["randint"](shape, minval, maxval, dtype=dtype, seed=seed)
        span = ops.cast(maxval - minval, "float32")
        values = ops.floor(_entries(_UNIFORM, shape, seed) * span) + ops.cast(minval, "float32")
        return ops.cast(values, dtype)

    for name, fn in (("uniform", uniform), ("normal", normal), ("randint", randint)):
        setattr_fn(keras.random, name, fn)


# ------------------------------------------------------------------------------ the parity GAN
RESOLUTION, LATENT, BATCH, D_STEPS, STEPS = 8, 6, 4, 2, 3
COMPILE = dict(
    loss="non_saturating",
    d_steps=D_STEPS,
    g_batch_size=6,
    r1_gamma=1.0,
    cr_weight=0.5,
    lecam_weight=0.1,
    lecam_start_step=0,
    ada_target=0.6,
    ada_interval=1,
    ada_kimg=0.1,
)


def networks():
    """A small G (Dense, batch norm, conv, tanh) and D (conv, leaky ReLU, spectral-norm linear), weights from Keras' init."""
    g = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(4 * 4 * 8),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Reshape((4, 4, 8)),
            keras.layers.UpSampling2D(),
            keras.layers.Conv2D(3, 3, padding="same", activation="tanh"),
        ],
        name="g",
    )
    d = keras.Sequential(
        [
            keras.Input((RESOLUTION, RESOLUTION, 3)),
            # A non-zero bias: cutout's and the padding's zeros would otherwise put pre-activations exactly at
            # the leaky ReLU's kink, whose derivative is alpha on TensorFlow and 1 on JAX (both valid).
            keras.layers.Conv2D(
                8, 3, strides=2, padding="same", bias_initializer=keras.initializers.RandomUniform(-0.2, 0.2)
            ),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Flatten(),
            keras.layers.SpectralNormalization(keras.layers.Dense(1)),
        ],
        name="d",
    )
    return g, d


def train(weights, reals):
    """Builds the parity GAN from `weights` (G's then D's `get_weights()`), trains `STEPS` steps on `reals`.

    Returns a dict of NumPy arrays: per-step logs (`log_<name>`, the Keras running means), the final
    G, D and EMA-G weights, `p`, the step counter and the latent seed generator's state.
    """
    import tf_diffaug as td

    g, d = networks()
    n_g = len(g.get_weights())
    g.set_weights(weights[:n_g])
    d.set_weights(weights[n_g:])
    augment = td.augment.AdaptiveAugment(td.DiffAugment("color,translation,cutout", seed=11), initial_p=0.5, seed=12)
    gan = td.GAN(g, d, latent_dim=LATENT, augment=augment, ema_decay=0.9, ema_start_step=1, seed=13)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2), **COMPILE)
    records = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            records.append({k: float(np.asarray(v)) for k, v in logs.items()})

    gan.fit(reals, batch_size=BATCH * D_STEPS, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    result = {f"log_{name}": np.array([step[name] for step in records]) for name in records[0]}
    for prefix, network in (("g", gan.generator), ("d", gan.discriminator), ("ema", gan.ema_generator)):
        for i, w in enumerate(network.get_weights()):
            result[f"{prefix}_{i}"] = np.asarray(w)
    result["p"] = np.asarray(augment.p.value)
    result["step"] = np.asarray(gan.step_counter.value)
    result["latent_seed_state"] = np.asarray(gan.seed_generator.state.value)
    return result
