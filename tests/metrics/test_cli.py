"""`python -m tf_diffaug.metrics A B`: FID/KID between folders agree with td.metrics on the same images."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tf_diffaug.metrics import __main__ as cli
from tf_diffaug.metrics.distances import frechet_distance, kernel_distance

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Folder A: 3 images of 3 sizes (RGB, grey, RGBA) and a text file; folder B: 3 RGB images."""
    root = tmp_path_factory.mktemp("fid_folders")
    rng = np.random.default_rng(0)
    a, b = root / "a", root / "b"
    (a / "nested").mkdir(parents=True)
    b.mkdir()
    Image.fromarray(rng.integers(0, 256, (24, 40, 3)).astype(np.uint8)).save(a / "0.png")
    Image.fromarray(rng.integers(0, 256, (32, 32)).astype(np.uint8)).save(a / "nested" / "1.png")
    rgba = rng.integers(0, 256, (30, 20, 4)).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(a / "2.png")
    (a / "notes.txt").write_text("not an image")
    for index in range(3):
        Image.fromarray(rng.integers(64, 192, (28, 28, 3)).astype(np.uint8)).save(b / f"{index}.png")
    return str(a), str(b)


def _pil_images(folder):
    """The folder's images read independently with PIL: RGB, transparency composited on white."""
    paths = sorted(
        os.path.relpath(os.path.join(d, f), folder).replace(os.sep, "/")
        for d, _, files in os.walk(folder)
        for f in files
        if f.endswith(".png")
    )
    images = []
    for path in paths:
        image = Image.open(os.path.join(folder, path))
        if image.mode == "RGBA":
            image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
        images.append(np.asarray(image.convert("RGB")))
    return images


def _expected(extractor, folder_a, folder_b, resize):
    """td.metrics on the same images, one uniform [1, H, W, 3] array at a time."""
    feats = [
        np.concatenate([extractor(image[None], resize=resize) for image in _pil_images(folder)])
        for folder in (folder_a, folder_b)
    ]
    fid = frechet_distance(feats[0], feats[1], method="gram")
    kid, std = kernel_distance(feats[0], feats[1], return_std=True)
    return fid, kid, std


@pytest.mark.parametrize("resize", ["legacy_tensorflow", "clean"])
def test_main_in_process_agrees_with_td_metrics(folders, extractor, inception_cache_dir, capsys, resize):
    folder_a, folder_b = folders
    argv = [folder_a, folder_b, f"--resize={resize}", "--kid", "--json", "--fid_method=gram"]
    assert cli.main(argv + ["--cache_dir", inception_cache_dir, "--batch_size=2"]) == 0
    result = json.loads(capsys.readouterr().out)
    fid, kid, std = _expected(extractor, folder_a, folder_b, resize)
    assert result["fid"] == pytest.approx(fid, rel=1e-4)
    assert result["kid"] == pytest.approx(kid, rel=1e-4)
    assert result["kid_std"] == pytest.approx(std, rel=1e-3)
    assert result["resize"] == resize
    assert (result["num_images_a"], result["num_images_b"]) == (3, 3)
    assert result["skipped_a"] == [["notes.txt", "not an image extension"]] and result["skipped_b"] == []


def test_main_prints_text_lines(folders, inception_cache_dir, capsys):
    folder_a, folder_b = folders
    assert cli.main([folder_a, folder_b, "--fid_method=gram", "--cache_dir", inception_cache_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"A: {folder_a!r}: 3 images, 1 file skipped (notes.txt: not an image extension)"
    assert lines[1] == f"B: {folder_b!r}: 3 images, 0 files skipped"
    assert lines[2].startswith("FID (resize=legacy_tensorflow): ") and len(lines) == 3
    assert float(lines[2].split(": ")[1]) > 0


def test_bad_input_exits_2_with_the_reason(folders, tmp_path, capsys):
    folder_a, _ = folders
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as info:
        cli.main([folder_a, str(tmp_path / "empty")])
    assert info.value.code == 2
    assert "No image files in folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([folder_a, folder_a, "--resize=bicubic"])
    assert info.value.code == 2 and "invalid choice: 'bicubic'" in capsys.readouterr().err


@pytest.mark.slow
def test_module_runs_as_a_subprocess(folders, extractor, inception_cache_dir):
    folder_a, folder_b = folders
    command = [sys.executable, "-m", "tf_diffaug.metrics", folder_a, folder_b, "--resize=clean", "--kid", "--json"]
    command += ["--fid_method=eigh", "--cache_dir", inception_cache_dir]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    fid, kid, _ = _expected(extractor, folder_a, folder_b, "clean")
    assert result["fid"] == pytest.approx(fid, rel=1e-3)
    assert result["kid"] == pytest.approx(kid, rel=1e-3)
