"""DiffAugment on the JAX and torch backends (one subprocess each) against NumPy and the TensorFlow closed form.

``backend_check.py`` computes, per op family and for the full policy, in both data formats, the
forward values, ``grad_x sum(w T(x))`` and the R1 double backward ``grad_w ||grad_x D(T(x))||^2``
(``D = sum(w .)`` and ``sum(tanh(w .))``) on the backend; this process computes the same on
TensorFlow and from the explicit NumPy Jacobian of the sequential reference ops.
"""

import importlib.util
import json
import pathlib
import subprocess

import numpy as np
import pytest

from tests.helpers import processes

SCRIPT = pathlib.Path(__file__).with_name("backend_check.py")
QUANTITIES = ("y", "grad", "r1", "r1_tanh")


def _load_check():
    spec = importlib.util.spec_from_file_location("augment_backend_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _load_check()
CASE_NAMES = [case[0] for case in CHECK.CASES]


@pytest.fixture(scope="module")
def reference(ref):
    """(NumPy expectations, TensorFlow closed-form results), keyed ``{case}_{quantity}``."""
    from tf_diffaug import augment

    expected = {}
    for name, policy, _, value_range in CHECK.CASES:
        expected.update({f"{name}_{q}": v for q, v in CHECK.expected(ref, policy, value_range).items()})
    tensorflow = {k: np.asarray(v) for k, v in CHECK.results(augment, "tensorflow").items()}
    return expected, tensorflow


@pytest.fixture(scope="module", params=["jax", "torch"])
def backend_run(request, ref, tmp_path_factory):
    backend = request.param
    output = tmp_path_factory.mktemp(backend) / "results.npz"
    env = processes.environment(KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    command = processes.python_command(SCRIPT, ref.__file__, output, timeout=600)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(output) as arrays:
        return backend, report, {k: arrays[k] for k in arrays.files}


@pytest.mark.slow
def test_backend_ops_and_layer_match_numpy(backend_run):
    backend, report, _ = backend_run
    assert report["backend"] == backend
    assert report["changed"]
    for name, error in report["errors"].items():
        assert error < 2e-5, (name, error, report)
    assert report["errors"]["translate_grad"] == 0.0
    # issue 14: 3 channels, then 1, then another batch and image size, all through one layer
    assert {f"changing_shape_{k}" for k in range(4)} <= set(report["errors"])
    assert not report["tensorflow_imported"]  # tf_diffaug.augment itself never imports TensorFlow


@pytest.mark.slow
@pytest.mark.parametrize("case", CASE_NAMES)
def test_backend_gradients_match_numpy_and_tensorflow(backend_run, reference, case):
    """Forward, first-order gradient and both R1 double-backward cases, per family and format."""
    backend, _, arrays = backend_run
    expected, tensorflow = reference
    for quantity in QUANTITIES:
        key = f"{case}_{quantity}"
        scale = max(1.0, float(np.abs(expected[key]).max()))
        np.testing.assert_allclose(arrays[key], expected[key], atol=2e-5 * scale, err_msg=f"{backend} {key} vs NumPy")
        np.testing.assert_allclose(arrays[key], tensorflow[key], atol=2e-5 * scale, err_msg=f"{backend} {key} vs TF")
    assert np.abs(expected[f"{case}_r1_tanh"]).max() > 1e-3  # the case is not trivially zero


@pytest.mark.slow
def test_backend_derivatives_are_closed_form(backend_run):
    """No scatter in the JAX gradient; torch keeps no image-sized tensor and passes finite differences."""
    backend, report, _ = backend_run
    structure = report["structure"]
    if backend == "jax":
        assert structure["jaxpr_has_gather"]  # the forward and the transposed shift are gathers...
        assert not structure["jaxpr_has_scatter"]  # ...and autodiff of a gather (a scatter-add) never runs
    else:
        assert structure["grad_fn"].startswith("_Forward")
        # per-sample parameters, [B, L] masks and the [B * C * H] row index: far below one image
        assert structure["kept_bytes"] < structure["image_bytes"] / 10, structure
        assert structure["gradcheck"] and structure["gradgradcheck"]
