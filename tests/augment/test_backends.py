"""The ops and DiffAugment under the JAX and torch Keras backends (one subprocess each)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("backend_check.py")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_matches_numpy(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert report["changed"]
    for name, error in report["errors"].items():
        assert error < 2e-5, (name, error, report)
    assert report["errors"]["translate_grad"] == 0.0
    assert not report["tensorflow_imported"]  # tf_diffaug.augment itself never imports TensorFlow
