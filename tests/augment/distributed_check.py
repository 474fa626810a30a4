"""Run in a subprocess: DiffAugment (XLA fused path) and AdaptiveAugment under a 2-replica MirroredStrategy.

Prints a JSON report: per-replica max error against NumPy on the replica's own drawn parameters,
the gradient with p = 0 against its closed form, and p after a cross-replica assign. Started with
the repository root on PYTHONPATH (`tests.helpers.processes`).
"""

import json

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tests.helpers import numpy_reference as ref  # noqa: E402
from tf_diffaug import augment  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    inner = augment.DiffAugment(seed=0)
    ada = augment.AdaptiveAugment(inner, initial_p=0.0, seed=1)
    w = tf.Variable(1.0)
x = np.random.default_rng(0).uniform(-1, 1, (8, 12, 12, 3)).astype("float32")
batch = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))))


@tf.function
def run(images):
    def step(b):
        t = inner.get_random_transformation(b)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ada(b * w, training=True))
        return b, inner.transform_images(b, t), t, tape.gradient(loss, w)

    per_replica = strategy.run(step, args=(images,))
    ada.p.assign(0.9)
    return per_replica


b, y, t, g = run(batch)
errors = []
for r in range(2):
    images = strategy.experimental_local_results(b)[r].numpy()
    params = {k: strategy.experimental_local_results(v)[r].numpy() for k, v in t.items()}
    got = strategy.experimental_local_results(y)[r].numpy()
    errors.append(float(np.abs(got - ref.diffaugment(images, params)).max()))
grad = sum(float(v) for v in strategy.experimental_local_results(g))
print(json.dumps({"errors": errors, "grad": grad, "grad_expected": float(x.sum()), "p": float(ada.p.numpy())}))
