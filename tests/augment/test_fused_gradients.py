"""The fused kernel on TensorFlow: closed-form derivatives of every order against NumPy, shape changes.

The cases and the NumPy expectations (explicit Jacobians of the sequential reference ops) are those
of ``backend_check.py``, which runs the same cases on JAX and torch (``test_backends.py``).
"""

import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug import augment
from tf_diffaug.augment import fused

SCRIPT = pathlib.Path(__file__).with_name("backend_check.py")
spec = importlib.util.spec_from_file_location("augment_backend_check", SCRIPT)
CHECK = importlib.util.module_from_spec(spec)
spec.loader.exec_module(CHECK)


@pytest.fixture(scope="module")
def expected(ref):
    out = {}
    for name, policy, _, value_range in CHECK.CASES:
        out.update({f"{name}_{q}": v for q, v in CHECK.expected(ref, policy, value_range).items()})
    return out


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_tensorflow_derivatives_match_numpy(expected, jit_compile):
    """Forward, ``J^T w``, and both R1 double-backward cases, per family, in both data formats."""
    got = CHECK.results(augment, "tensorflow", jit_compile=jit_compile)
    assert set(got) == set(expected)
    for key, value in got.items():
        scale = max(1.0, float(np.abs(expected[key]).max()))
        np.testing.assert_allclose(np.asarray(value), expected[key], atol=2e-5 * scale, err_msg=key)


def test_expectations_are_not_degenerate(expected):
    """Every case moves pixels or colors, and the R1 terms are far from zero (the checks can fail)."""
    x, w, _ = CHECK.inputs()
    for name, *_ in CHECK.CASES:
        assert np.abs(expected[f"{name}_y"] - x).max() > 0.1, name
        assert np.abs(expected[f"{name}_r1"]).max() > 0.1, name
        assert np.abs(expected[f"{name}_r1_tanh"]).max() > 1e-3, name


def _params(layer, images):
    return {k: np.asarray(v) for k, v in layer.get_random_transformation(images).items()}


@pytest.mark.parametrize("in_graph", [False, True])
def test_layer_accepts_changing_channels_and_shapes(ref, in_graph):
    """Issue 14: one DiffAugment called with 3 channels, then 1, then another batch and size."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (4, 9, 10, 3)).astype("float32")
    layer, twin = augment.DiffAugment(seed=11), augment.DiffAugment(seed=11)  # twin: the same draws
    call = tf.function(lambda v: layer(v, training=True)) if in_graph else (lambda v: layer(v, training=True))
    for batch in [x, x[..., :1], x[:2, :6, :7, :1], x[:3], x[..., :2]]:
        got = np.asarray(call(tf.constant(batch)))
        np.testing.assert_allclose(got, ref.diffaugment(batch, _params(twin, batch)), atol=2e-5)
        assert got.shape == batch.shape


def test_fused_kernel_accepts_changing_channels(ref):
    """The compiled kernel itself keeps one trace per static image shape (H, W, C stay static)."""
    apply = fused.compile_for_backend(jit_compile=True)
    x, _, t = CHECK.inputs()
    color = (t["brightness"], t["saturation"], t["contrast"])
    for channels in (3, 1, 3, 2):
        v = x[..., :channels]
        got = apply(v, color, t["translation"], t["cutout"], CHECK.CUTOUT_SIZE, fill=0.0)
        np.testing.assert_allclose(got, ref.diffaugment(v, t), atol=2e-5)


def test_tensorflow_gradient_has_no_scatter():
    """The gradient graph runs the transposed gather, not autodiff of the gather (a segment sum)."""
    x, _, t = CHECK.inputs()
    layer = augment.DiffAugment(seed=0, jit_compile=False)

    @tf.function
    def gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = layer.transform_images(v, t)
        return tape.gradient(tf.reduce_sum(y * y), v)

    graph = gradient.get_concrete_function(tf.constant(x)).graph
    ops = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        ops |= {node.op for node in function.node_def}
    assert "GatherV2" in ops
    assert not {op for op in ops if "Scatter" in op or "SegmentSum" in op}, ops


def test_gradient_of_the_gradient_is_the_jacobian():
    """``grad_w <J^T w, v> = J v = T(v) - T(0)``: the transpose map's own gradient is the linear map."""
    x, w, t = CHECK.inputs()
    v = np.cos(3.0 * x).astype("float32")
    layer = augment.DiffAugment(seed=0)
    x, w = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as second:
        second.watch(w)
        with tf.GradientTape() as first:
            first.watch(x)
            score = tf.reduce_sum(w * layer.transform_images(x, t))
        gx = first.gradient(score, x)
        inner = tf.reduce_sum(gx * v)
    jv = second.gradient(inner, w)
    expected = layer.transform_images(v, t) - layer.transform_images(np.zeros_like(v), t)
    np.testing.assert_allclose(jv, expected, atol=2e-5)
    assert np.abs(np.asarray(expected)).max() > 0.1
