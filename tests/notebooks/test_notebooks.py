"""Executes the three notebooks in fast mode (TD_FAST=1) and checks their figures and metrics.

Each notebook runs in a fresh Jupyter kernel of *this* interpreter (a kernelspec written into a
temporary JUPYTER_PATH, so nothing depends on a kernel installed on the machine) with its working
directory and figure folder in a temporary directory. The checks use values computed another way:
PNG sizes follow from the grid geometry, the printed metrics must equal the ones the notebook wrote
to metrics.json, and the exact values (distinct draws, gradient mask) follow from the maths.
"""

import json
import math
import os
import pathlib
import re
import sys

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

pytestmark = pytest.mark.slow  # each notebook runs in its own kernel (30-95 s)

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
METRIC_LINE = re.compile(r"^(?P<name>[\w/%.-]+) = (?P<value>\S+)$", re.MULTILINE)
KERNEL_NAME = "tf-diffaug-test-python"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec for sys.executable in a temporary JUPYTER_PATH, and TD_FAST=1."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (tf_diffaug tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", os.pathsep.join([str(root), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep))
        patch.setenv("TD_FAST", "1")
        patch.delenv("TD_DATA", raising=False)
        yield patch


def execute(name, tmp_path, patch):
    """Runs notebooks/<name>.ipynb in tmp_path; returns (stdout text, PNG outputs, figure folder)."""
    figures = tmp_path / "figures"
    patch.setenv("TD_FIGURES", str(figures))
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    stdout, pngs = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                stdout.append(output["text"])
            if "image/png" in output.get("data", {}):
                pngs.append(output["data"]["image/png"])
    return "".join(stdout), pngs, figures / name


def printed_metrics(stdout, folder):
    """Metrics printed as `name = value`; they must be finite and equal those in metrics.json."""
    printed = {m["name"]: float(m["value"]) for m in METRIC_LINE.finditer(stdout)}
    saved = json.loads((folder / "metrics.json").read_text())
    assert set(printed) == set(saved)
    for key, value in printed.items():
        assert math.isfinite(value), (key, value)
        assert value == pytest.approx(saved[key], rel=1e-5, abs=1e-9), key  # printed with 6 significant digits
    return printed


def png(path, min_side=100):
    """Opens a saved figure; it must be a real picture (not blank, not tiny)."""
    assert path.is_file() and path.stat().st_size > 2000, path
    image = np.asarray(Image.open(path).convert("RGB"))
    assert min(image.shape[:2]) >= min_side, (path, image.shape)
    assert image.std() > 5, f"{path} is blank"
    return image


def test_01_diffaugment_layer(kernel_env, tmp_path):
    stdout, pngs, folder = execute("01_diffaugment_layer", tmp_path, kernel_env)
    metrics = printed_metrics(stdout, folder)
    for name in ["faces", "op_brightness", "op_saturation", "op_contrast", "op_translation", "op_cutout",
                 "policy_color", "policy_translation", "policy_cutout", "policy_color_translation_cutout",
                 "per_sample", "gradients", "keras_guide_gan_samples"]:
        png(folder / f"{name}.png")
    assert len(pngs) == 13
    # 16 copies of one face in a batch: every sample gets its own parameters.
    assert metrics["distinct_augmentations_of_16"] == 16
    assert metrics["same_seed_max_abs_difference"] == 0
    assert metrics["inference_max_abs_difference"] == 0
    # d sum(T(x)) / dx of translation + cutout is a 0/1 mask with one 1 per kept output value.
    assert metrics["gradient_mask_vs_forward_max_error"] == 0
    assert 0 < metrics["gradient_nonzero_fraction"] < 1
    assert metrics["gradient_finite"] == 1
    assert metrics["keras_guide_gan/d_loss"] > 0 and metrics["keras_guide_gan/g_loss"] > 0


def test_02_few_shot_training(kernel_env, tmp_path):
    stdout, pngs, folder = execute("02_few_shot_training", tmp_path, kernel_env)
    metrics = printed_metrics(stdout, folder)
    for name in ["training_set", "progress_diffaugment", "progress_none", "discriminator_scores", "fid_kid",
                 "final_samples"]:
        png(folder / f"{name}.png")
    assert len(pngs) == 6
    for mode in ("both", "none"):
        grids = sorted((folder / f"samples_{mode}").glob("samples_epoch_*.png"))
        assert len(grids) == 3  # fast mode: 3 epochs, a grid after each
        # SampleGrid: 36 images of 32x32 in 6 columns with 2-pixel padding -> 6 * 34 + 2 = 206 pixels.
        assert png(grids[-1]).shape[:2] == (206, 206)
        lines = (folder / f"fid_{mode}.jsonl").read_text().splitlines()
        assert len(lines) == 1  # fast mode: one evaluation, at the end
        record = json.loads(lines[0])
        name = "diffaugment" if mode == "both" else "none"
        assert metrics[f"fid/{name}"] == pytest.approx(record["fid"], rel=1e-5)
        assert metrics[f"kid/{name}"] == pytest.approx(record["kid"], rel=1e-5, abs=1e-9)
        assert record["step"] == 30
        assert metrics[f"fid/{name}"] > 0
    assert set(metrics) == {"fid/diffaugment", "kid/diffaugment", "fid/none", "kid/none",
                            "d_train_minus_held_out/diffaugment", "d_train_minus_held_out/none"}


def frechet_distance_from_features(a, b):
    """FID through the eigenvalues of the small [N_a, N_a] matrix M M^T, M = A_c B_c^T.

    The non-zero eigenvalues of S_a S_b = A_c^T M B_c / c (c = (N_a - 1)(N_b - 1)) are those of
    M M^T / c, so tr sqrt(S_a S_b) = sum(sqrt(eigvalsh(M M^T))) / sqrt(c).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a_c, b_c = a - a.mean(0), b - b.mean(0)
    m = a_c @ b_c.T
    c = (len(a) - 1) * (len(b) - 1)
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(m @ m.T), 0, None)).sum() / np.sqrt(c)
    mean_term = np.sum((a.mean(0) - b.mean(0)) ** 2)
    return mean_term + (a_c ** 2).sum() / (len(a) - 1) + (b_c ** 2).sum() / (len(b) - 1) - 2 * trace_sqrt


def test_03_limited_data(kernel_env, tmp_path):
    stdout, pngs, folder = execute("03_limited_data", tmp_path, kernel_env)
    metrics = printed_metrics(stdout, folder)
    for name in ["real_fractions", "fid_vs_fraction", "samples_by_fraction", "failure_modes"]:
        png(folder / f"{name}.png")
    assert len(pngs) == 4
    runs = [(mode, fraction) for mode in ("both", "none") for fraction in ("1%", "10%")]
    assert set(metrics) == {f"{kind}/{mode}/{fraction}" for kind in ("fid", "kid") for mode, fraction in runs}
    features = np.load(folder / "features.npz")
    assert features["reference"].shape == (32, 2048)  # fast mode: 32 test images
    for mode, fraction in runs:
        generated = features[f"{mode}_{fraction[:-1]}pct"]
        assert generated.shape == (32, 2048)
        expected = frechet_distance_from_features(features["reference"], generated)
        assert expected > 0
        assert metrics[f"fid/{mode}/{fraction}"] == pytest.approx(expected, rel=1e-4)
