"""The JAX side of tests/gan/test_jax_backend.py, run as `KERAS_BACKEND=jax python jax_backend_worker.py DIR`.

Reads `DIR/inputs.npz` (initial weights `w_<i>`, `reals`), trains the parity GAN with the table
draws (`tests.helpers.table_random`), and writes `DIR/jax.npz` with the results, the same run under
`keras.distribution.DataParallel` (prefix `dp_`) and the message `compile` raises for AdvAug
(`advaug_error`).
"""

import os
import sys

import keras
import numpy as np

from tests.helpers import table_random


def main(folder):
    assert keras.backend.backend() == "jax", keras.backend.backend()
    import jax

    import tf_diffaug as td

    table_random.patch(setattr)
    inputs = np.load(os.path.join(folder, "inputs.npz"))
    weights = [inputs[f"w_{i}"] for i in range(len([k for k in inputs if k.startswith("w_")]))]
    result = table_random.train(weights, inputs["reals"])
    with keras.distribution.DataParallel(devices=jax.devices()).scope():
        result.update({f"dp_{k}": v for k, v in table_random.train(weights, inputs["reals"]).items()})
    z = keras.Input((2,))
    g = keras.Model(z, keras.layers.Reshape((1, 1, 3))(keras.layers.Dense(3)(keras.layers.Dense(4, name="g_stem")(z))))
    x = keras.Input((1, 1, 3))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(4, name="d_features")(keras.layers.Flatten()(x))))
    gan = td.GAN(g, d, latent_dim=2, advaug_gamma=0.01)
    try:
        gan.compile(g_optimizer=keras.optimizers.Adam(), d_optimizer=keras.optimizers.Adam())
        result["advaug_error"] = np.array("")
    except ValueError as error:
        result["advaug_error"] = np.array(str(error))
    np.savez(os.path.join(folder, "jax.npz"), **result)


if __name__ == "__main__":
    main(sys.argv[1])
