"""The data options (crop, alpha_background, channels) reach the loader; fid_resize reaches FID and its cache.

Two 2-step runs with `fid_resize="clean"` share one workdir: the first computes the reference
statistics into `<workdir>/fid_statistics/<key>.npz`, the second reads that file (untouched), and
the logged FID equals one recomputed from clean-mode Inception features.
"""

import os

import numpy as np
import pytest
from PIL import Image

import tf_diffaug as td
from tf_diffaug import experiment
from tf_diffaug.data import transforms
from tf_diffaug.experiment import build, schema
from tf_diffaug.metrics import resize

TINY = {"resolution": 32, "batch_size": 4, "network_kwargs": {"width": 8}, "fid_batch_size": 4, "grid_size": 4}


def test_the_schemas_choices_are_the_librarys():
    assert schema.CROP_MODES == transforms.CROP_MODES
    assert schema.ALPHA_BACKGROUNDS == tuple(transforms.ALPHA_BACKGROUNDS)
    assert schema.FID_RESIZE_MODES == resize.RESIZE_MODES
    assert schema.KEY["fid_resize"].default == resize.DEFAULT_RESIZE


@pytest.fixture(scope="module")
def wide_rgba_folder(tmp_path_factory):
    """4 transparent 48x32 images: an opaque coloured block on a transparent background."""
    folder = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    for i in range(4):
        rgba = np.zeros((32, 48, 4), np.uint8)
        rgba[8:24, 8 + 6 * i : 30 + 6 * i, :3] = rng.integers(0, 256, 3, dtype=np.uint8)
        rgba[8:24, 8 + 6 * i : 30 + 6 * i, 3] = 255
        Image.fromarray(rgba, "RGBA").save(folder / f"block{i}.png")
    return str(folder)


@pytest.mark.parametrize("crop, background, channels", [("pad", "black", 3), ("none", "white", 1)])
def test_crop_alpha_background_and_channels_reach_the_loader(wide_rgba_folder, crop, background, channels):
    config = experiment.resolve_config(
        "fewshot-cpu",
        dataset=wide_rgba_folder,
        crop=crop,
        alpha_background=background,
        channels=channels,
        **TINY,
    )
    expected = td.data.load_array(
        wide_rgba_folder, resolution=32, crop=crop, alpha_background=background, channels=channels
    )
    default = td.data.load_array(wide_rgba_folder, resolution=32, channels=channels)
    assert not np.array_equal(expected, default)  # the options change the pixels
    batch = next(iter(build.load_dataset(dict(config, mirror=False), 4, seed=0).take(1))).numpy()
    # The pipeline shuffles: compare as sets of images, mapped back to uint8.
    got = sorted(image[None].tobytes() for image in td.metrics.to_uint8(batch))
    assert got == sorted(image[None].tobytes() for image in expected)
    np.testing.assert_array_equal(build.reference_images(config), expected)


@pytest.fixture(scope="module")
def clean_runs(image_folder, inception, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("runs"))
    config = experiment.resolve_config(
        "fewshot-cpu",
        dataset=image_folder,
        steps=2,
        eval_every=2,
        checkpoint_every=2,
        fid_samples=4,
        fid_resize="clean",
        log_every=1,
        **TINY,
    )
    first = experiment.run(config, workdir, verbose=0, stream=None, inception=inception)
    key = build.reference_statistics_key(config)
    cached = td.metrics.statistics_path(key, os.path.join(workdir, "fid_statistics"))
    before = os.stat(cached)
    second = experiment.run(config, workdir, verbose=0, stream=None, inception=inception)
    return config, first, second, cached, before


def test_reference_statistics_are_cached_per_key_and_reused(clean_runs):
    config, first, second, cached, before = clean_runs
    assert os.path.basename(cached).startswith("faces0_train_32px_clean_")
    after = os.stat(cached)
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)  # read, not rewritten
    stats = td.metrics.FeatureStatistics.load(cached)
    assert stats.metadata["resize"] == "clean" and stats.metadata["num_images"] == 8
    for result in (first, second):
        copy = td.metrics.FeatureStatistics.load(os.path.join(result["run_dir"], "fid_reference.npz"))
        np.testing.assert_array_equal(copy.features, stats.features)
    legacy = build.reference_statistics_key(dict(config, fid_resize="legacy_tensorflow"))
    assert legacy != os.path.basename(cached)[: -len(".npz")]  # another mode, another file
    assert build.reference_statistics_key(dict(config, crop="pad")) != build.reference_statistics_key(config)


def test_fid_resize_clean_reaches_the_fid_callback(clean_runs, inception):
    config, first, _, _, _ = clean_runs
    reals = td.data.load_array(config["dataset"], resolution=32)
    real = inception(reals, batch_size=8, resize="clean")
    images = td.metrics.to_uint8(first["model"].generate(4, use_ema=True, seed=config["seed"] + 1_000_003))
    fake = inception(images, batch_size=4, resize="clean")
    assert td.metrics.frechet_distance(real, fake, method="gram") == pytest.approx(first["fid"], rel=1e-4)
    legacy = td.metrics.frechet_distance(inception(reals, batch_size=8), inception(images, batch_size=4), method="gram")
    assert legacy != pytest.approx(first["fid"], rel=1e-3)  # the mode matters
