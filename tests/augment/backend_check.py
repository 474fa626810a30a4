"""The augmentation on one Keras backend, for ``test_backends.py`` and ``test_fused_gradients.py``.

Run as a script in a subprocess with ``KERAS_BACKEND`` set (``jax`` or ``torch``) and two
arguments, the NumPy reference module's path and an output ``.npz`` path: it computes, for each op
family and the full policy, in both data formats, the forward values, the first-order gradient and
the two R1 double-backward cases (``results``), checks the ops against NumPy, then writes the arrays
and prints a JSON report. As a module (loaded by path) it gives the parent the same cases
(``CASES``, ``inputs``), the NumPy expectations (``expected``) and the TensorFlow results
(``results`` on the TensorFlow backend).

The script imports ``tf_diffaug.augment`` without executing ``tf_diffaug/__init__.py`` (whose other
subpackages need TensorFlow), by registering a bare parent package first.
"""

import json
import pathlib
import sys
import types

import numpy as np

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent

# (name, policy, data_format, value_range): each op family alone and the full policy.
CASES = [
    ("color", "color", "channels_last", (-1.0, 1.0)),
    ("translation", "translation", "channels_last", (0.0, 1.0)),
    ("cutout", "cutout", "channels_last", (-1.0, 1.0)),
    ("all", "color,translation,cutout", "channels_last", (0.0, 2.0)),
    ("all_first", "color,translation,cutout", "channels_first", (-1.0, 1.0)),
    ("translation_first", "translation", "channels_first", (-1.0, 1.0)),
]
CUTOUT_SIZE = (3, 4)  # int(6 * 0.5 + 0.5), int(7 * 0.5 + 0.5)


def inputs():
    """A [3, 6, 7, 3] batch (odd, non-square), D weights ``w`` of the same shape, explicit parameters."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (3, 6, 7, 3)).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    t = {
        "brightness": rng.uniform(-0.5, 0.5, 3).astype("float32"),
        "saturation": rng.uniform(0.0, 2.0, 3).astype("float32"),
        "contrast": rng.uniform(0.5, 1.5, 3).astype("float32"),
        # identity, a small shift, everything shifted out vertically (dy = H)
        "translation": np.array([[0, 0], [2, -3], [6, 1]], "int32"),
        # a corner, clipped by the border, interior
        "cutout": np.array([[0, 0], [5, 6], [2, 3]], "int32"),
    }
    return x, w, t


def _transform(ref, x, t, policy, value_range):
    """The sequential NumPy reference of ``policy`` on NHWC float64 ``x``."""
    fill = (value_range[0] + value_range[1]) / 2.0
    names = policy.split(",")
    y = np.asarray(x, np.float64)
    if "color" in names:
        y = ref.contrast(ref.saturation(ref.brightness(y, t["brightness"]), t["saturation"]), t["contrast"])
    if "translation" in names:
        y = ref.translate(y, t["translation"], fill)
    if "cutout" in names:
        y = ref.cutout(y, t["cutout"], CUTOUT_SIZE, fill)
    return y


def expected(ref, policy, value_range):
    """NumPy ``y``, ``grad``, ``r1``, ``r1_tanh`` (NHWC), from the explicit Jacobian ``J`` per sample.

    ``T(x) = J x + T(0)`` is affine, so ``grad_x sum(w T(x)) = J^T w``; ``||J^T w||^2`` has gradient
    ``2 J J^T w``; ``P(w) = ||J^T u||^2`` with ``u = w sech^2(w y)`` (the gradient of
    ``sum(tanh(w T(x)))``) has gradient ``2 u'(w) (J J^T u)``,
    ``u' = sech^2(w y) (1 - 2 w y tanh(w y))``.
    """
    x, w, t = inputs()
    batch, n = x.shape[0], x[0].size
    base = _transform(ref, np.zeros(x.shape), t, policy, value_range).reshape(batch, n)
    jac = np.zeros((batch, n, n))
    for k in range(n):  # column k: the response to the k-th basis image, every sample at once
        e = np.zeros((batch, n))
        e[:, k] = 1.0
        jac[:, :, k] = _transform(ref, e.reshape(x.shape), t, policy, value_range).reshape(batch, n) - base
    xs, ws = x.reshape(batch, n).astype(np.float64), w.reshape(batch, n).astype(np.float64)
    y = np.einsum("bij,bj->bi", jac, xs) + base
    jjt = np.einsum("bij,bkj->bik", jac, jac)
    sech2 = 1.0 / np.cosh(ws * y) ** 2
    u = ws * sech2
    du = sech2 * (1.0 - 2.0 * ws * y * np.tanh(ws * y))
    out = {
        "y": y,
        "grad": np.einsum("bij,bi->bj", jac, ws),
        "r1": 2.0 * np.einsum("bij,bj->bi", jjt, ws),
        "r1_tanh": 2.0 * du * np.einsum("bij,bj->bi", jjt, u),
    }
    return {k: v.reshape(x.shape) for k, v in out.items()}


def _layer(augment, policy, data_format, value_range, jit_compile="auto"):
    return augment.DiffAugment(
        policy, value_range=value_range, data_format=data_format, seed=0, jit_compile=jit_compile
    )


def _to_format(array, data_format):
    return np.ascontiguousarray(np.transpose(array, (0, 3, 1, 2))) if data_format == "channels_first" else array


def _from_format(array, data_format):
    array = np.asarray(array)
    return np.transpose(array, (0, 2, 3, 1)) if data_format == "channels_first" else array


def results(augment, backend, jit_compile="auto"):
    """``{case_quantity: NHWC array}`` on ``backend``, through ``DiffAugment.transform_images``."""
    import keras

    x, w, t = inputs()
    out = {}
    for name, policy, data_format, value_range in CASES:
        layer = _layer(augment, policy, data_format, value_range, jit_compile)
        xf, wf = _to_format(x, data_format), _to_format(w, data_format)
        keys = [k for k in t if k in layer.get_random_transformation(xf)]
        params = {k: t[k] for k in keys}
        values = _DERIVATIVES[backend](lambda v, layer=layer, params=params: layer.transform_images(v, params), xf, wf)
        for quantity, value in values.items():
            out[f"{name}_{quantity}"] = _from_format(keras.ops.convert_to_numpy(value), data_format)
    return out


def _tensorflow(apply, x, w):
    import tensorflow as tf

    x, w = tf.constant(x), tf.Variable(w)
    out = {"y": apply(x)}
    for name, squash in (("r1", tf.identity), ("r1_tanh", tf.tanh)):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(squash(w * apply(x)))
            gx = inner.gradient(score, x)
            penalty = tf.reduce_sum(gx**2)
        out[name] = outer.gradient(penalty, w)
        if name == "r1":
            out["grad"] = gx
    return out


def _jax(apply, x, w):
    import jax
    import jax.numpy as jnp

    def penalty(w, squash):
        gx = jax.grad(lambda v: jnp.sum(squash(w * apply(v))))(x)
        return jnp.sum(gx**2)

    identity = lambda v: v  # noqa: E731
    return {
        "y": apply(x),
        "grad": jax.grad(lambda v: jnp.sum(w * apply(v)))(x),
        "r1": jax.grad(penalty)(w, identity),
        "r1_tanh": jax.jit(jax.grad(penalty), static_argnums=1)(w, jnp.tanh),  # also under jit
    }


def _torch(apply, x, w):
    import torch

    out = {"y": apply(torch.tensor(x)).detach()}
    for name, squash in (("r1", lambda v: v), ("r1_tanh", torch.tanh)):
        xv, wv = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        (gx,) = torch.autograd.grad(squash(wv * apply(xv)).sum(), xv, create_graph=True)
        (gx**2).sum().backward()
        out[name] = wv.grad
        if name == "r1":
            out["grad"] = gx.detach()
    return out


_DERIVATIVES = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def _structure(augment, backend):
    """Facts about the derivative graph: no scatter (JAX), no image-sized tensor kept (torch)."""
    x, _, t = inputs()
    layer = _layer(augment, "color,translation,cutout", "channels_last", (-1.0, 1.0))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        jaxpr = str(jax.make_jaxpr(jax.grad(lambda v: jnp.sum(layer.transform_images(v, t) ** 2)))(x))
        return {"jaxpr_has_scatter": "scatter" in jaxpr, "jaxpr_has_gather": "gather" in jaxpr}
    import torch

    big = torch.tensor(np.repeat(np.repeat(x, 8, axis=1), 8, axis=2), requires_grad=True)  # 48 x 56
    tb = dict(t, cutout=t["cutout"] * 8)
    y = layer.transform_images(big, tb)
    kept = _tensor_bytes(y.grad_fn.prepared)
    # float64 finite differences of the first and second derivative of the torch Function
    small = torch.tensor(x[:2, :, :5].astype(np.float64), requires_grad=True)
    t2 = {k: v[:2] for k, v in t.items()}
    apply = lambda v: layer.transform_images(v, t2)  # noqa: E731
    return {
        "kept_bytes": kept,
        "image_bytes": big.numel() * 4,
        "grad_fn": type(y.grad_fn).__name__,
        "gradcheck": bool(torch.autograd.gradcheck(apply, (small,), raise_exception=False)),
        "gradgradcheck": bool(torch.autograd.gradgradcheck(apply, (small,), raise_exception=False)),
    }


def _tensor_bytes(value, seen=None):
    """Bytes of every tensor reachable from ``value`` (tuples, lists, dicts, object attributes)."""
    import torch

    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v, seen) for v in value)
    if isinstance(value, dict):
        return sum(_tensor_bytes(v, seen) for v in value.values())
    if hasattr(value, "__dict__"):
        return _tensor_bytes(vars(value), seen)
    return 0


def _ops_and_layer_errors(augment, ref):
    """The ops, a layer call and a layer called with 3 then 1 channels (issue 14) against NumPy."""
    import keras

    from tf_diffaug.augment import ops

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 7, 9, 3)).astype("float32")
    offsets = np.array([[0, 0], [2, -3], [7, 0], [-1, 8]], "int32")
    centers = np.array([[0, 0], [6, 8], [7, 9], [3, 4]], "int32")
    delta, sat, con = (rng.uniform(lo, hi, 4).astype("float32") for lo, hi in [(-0.5, 0.5), (0, 2), (0.5, 1.5)])

    def diff(a, b):
        return float(np.max(np.abs(keras.ops.convert_to_numpy(a) - np.asarray(b, np.float64))))

    err = {
        "brightness": diff(ops.adjust_brightness(x, delta), ref.brightness(x, delta)),
        "saturation": diff(ops.adjust_saturation(x, sat), ref.saturation(x, sat)),
        "contrast": diff(ops.adjust_contrast(x, con), ref.contrast(x, con)),
        "translate": diff(ops.translate(x, offsets, fill=0.25), ref.translate(x, offsets, 0.25)),
        "cutout": diff(ops.cutout(x, centers, (3, 4), fill=-0.5), ref.cutout(x, centers, (3, 4), -0.5)),
    }
    layer = augment.DiffAugment(seed=0)
    t = {"brightness": delta, "saturation": sat, "contrast": con, "translation": offsets, "cutout": centers}
    err["layer_transform"] = diff(layer.transform_images(x, t), ref.diffaugment(x, t))
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    drawn = {
        k: keras.ops.convert_to_numpy(v) for k, v in augment.DiffAugment(seed=0).get_random_transformation(x).items()
    }
    err["layer_call"] = diff(y, ref.diffaugment(x, drawn))
    err["identity"] = diff(layer(x, training=False), x)
    first = augment.DiffAugment(seed=0, data_format="channels_first")(np.transpose(x, (0, 3, 1, 2)), training=True)
    err["channels_first"] = diff(np.transpose(keras.ops.convert_to_numpy(first), (0, 2, 3, 1)), y)
    # issue 14: one layer called with 3 channels, then 1, then another batch size and image size
    changing, twin = augment.DiffAugment(seed=3), augment.DiffAugment(seed=3)
    for k, batch in enumerate([x, x[..., :1], x[:2, :5, :8, :1], x[:3]]):
        out = changing(batch, training=True)
        params = {key: keras.ops.convert_to_numpy(v) for key, v in twin.get_random_transformation(batch).items()}
        err[f"changing_shape_{k}"] = diff(out, ref.diffaugment(batch, params))
    changed = bool(np.abs(y - x).max() > 0.1)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        grad = jax.grad(lambda v: ops.translate(v, offsets).sum())(x)
    else:
        import torch

        v = torch.tensor(x, requires_grad=True)
        ops.translate(v, offsets).sum().backward()
        grad = v.grad
    err["translate_grad"] = diff(grad, ref.translate_keep(x.shape, -offsets))
    return err, changed


def main(reference_path, output_path):
    import importlib.util

    package = types.ModuleType("tf_diffaug")
    package.__path__ = [str(ROOT / "tf_diffaug")]
    sys.modules["tf_diffaug"] = package
    import keras

    from tf_diffaug import augment

    spec = importlib.util.spec_from_file_location("numpy_reference", reference_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    backend = keras.backend.backend()
    tensorflow_imported = "tensorflow" in sys.modules  # before anything below could import it
    errors, changed = _ops_and_layer_errors(augment, ref)
    np.savez(output_path, **results(augment, backend))
    report = {
        "backend": backend,
        "errors": errors,
        "changed": changed,
        "structure": _structure(augment, backend),
        "tensorflow_imported": tensorflow_imported or "tensorflow" in sys.modules,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:3])
