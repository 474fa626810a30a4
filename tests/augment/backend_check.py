"""Run in a subprocess with KERAS_BACKEND set: the ops and a layer against NumPy; prints a JSON report.

Imports ``tf_diffaug.augment`` without executing ``tf_diffaug/__init__.py`` (whose other subpackages
need TensorFlow), by registering a bare parent package first.
"""

import importlib.util
import json
import pathlib
import sys
import types

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent
package = types.ModuleType("tf_diffaug")
package.__path__ = [str(ROOT / "tf_diffaug")]
sys.modules["tf_diffaug"] = package

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tf_diffaug import augment  # noqa: E402
from tf_diffaug.augment import ops  # noqa: E402

spec = importlib.util.spec_from_file_location("numpy_reference", HERE / "numpy_reference.py")
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (4, 7, 9, 3)).astype("float32")
offsets = np.array([[0, 0], [2, -3], [7, 0], [-1, 8]], "int32")
centers = np.array([[0, 0], [6, 8], [7, 9], [3, 4]], "int32")
delta, sat, con = (rng.uniform(lo, hi, 4).astype("float32") for lo, hi in [(-0.5, 0.5), (0, 2), (0.5, 1.5)])
err = {}


def diff(a, b):
    return float(np.max(np.abs(keras.ops.convert_to_numpy(a) - np.asarray(b, np.float64))))


err["brightness"] = diff(ops.adjust_brightness(x, delta), ref.brightness(x, delta))
err["saturation"] = diff(ops.adjust_saturation(x, sat), ref.saturation(x, sat))
err["contrast"] = diff(ops.adjust_contrast(x, con), ref.contrast(x, con))
err["translate"] = diff(ops.translate(x, offsets, fill=0.25), ref.translate(x, offsets, 0.25))
err["cutout"] = diff(ops.cutout(x, centers, (3, 4), fill=-0.5), ref.cutout(x, centers, (3, 4), -0.5))
layer = augment.DiffAugment(seed=0)
t = {"brightness": delta, "saturation": sat, "contrast": con, "translation": offsets, "cutout": centers}
err["layer_transform"] = diff(layer.transform_images(x, t), ref.diffaugment(x, t))
y = keras.ops.convert_to_numpy(layer(x, training=True))
drawn = {k: keras.ops.convert_to_numpy(v) for k, v in augment.DiffAugment(seed=0).get_random_transformation(x).items()}
err["layer_call"] = diff(y, ref.diffaugment(x, drawn))
err["identity"] = diff(layer(x, training=False), x)
first = augment.DiffAugment(seed=0, data_format="channels_first")(np.transpose(x, (0, 3, 1, 2)), training=True)
err["channels_first"] = diff(np.transpose(keras.ops.convert_to_numpy(first), (0, 2, 3, 1)), y)

backend = keras.backend.backend()
keep = ref.translate_keep(x.shape, -offsets)
if backend == "jax":
    import jax

    grad = jax.grad(lambda v: ops.translate(v, offsets).sum())(x)
elif backend == "torch":
    import torch

    v = torch.tensor(x, requires_grad=True)
    ops.translate(v, offsets).sum().backward()
    grad = v.grad
err["translate_grad"] = diff(grad, keep)
print(
    json.dumps(
        {
            "backend": backend,
            "errors": err,
            "changed": bool(np.abs(y - x).max() > 0.1),
            "tensorflow_imported": "tensorflow" in sys.modules,
        }
    )
)
