"""Class-conditional folder runs and the pictures of a run folder: reals.png, the augment grids, p and r_t.

A two-class folder (4 + 4 real emoji faces at 32x32) trains conditionally for 2 steps; its grids,
classes.json and reals.png are compared pixel for pixel with the loader's images and with the
final model (the state of the last grid step). An adaptive run checks the ADA curves' data.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

import tf_diffaug as td
from tests.experiment import tiny
from tf_diffaug import experiment
from tf_diffaug.experiment import curves, data_report, pictures
from tf_diffaug.gan.callbacks import image_grid

TINY = {k: v for k, v in dict(tiny.TINY, fid_samples=0, checkpoint_every=1).items() if k != "fid_batch_size"}
GRID_SEED_OFFSET = 2_000_003  # the driver's sample-grid seed: config seed + this
PAD = 2  # td.gan.image_grid's border


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pets")
    faces = td.data.load_array("emoji-faces", resolution=32)[:8]
    for name, part in (("dogs", faces[4:]), ("cats", faces[:4])):  # made out of order: names are sorted
        (folder / name).mkdir()
        for i, image in enumerate(part):
            Image.fromarray(image).save(folder / name / f"{name}{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def conditional_run(pets, tmp_path_factory):
    config = experiment.resolve_config("fewshot-cpu", dataset=pets, conditional=True, steps=2, **TINY)
    assert config["num_classes"] is None  # it follows the folder when the run starts
    result = experiment.run(config, str(tmp_path_factory.mktemp("runs")), verbose=0, stream=None)
    return config, result


def _png(path):
    return np.asarray(Image.open(path))


def test_a_two_class_folder_trains_conditionally(conditional_run):
    config, result = conditional_run
    run_dir, gan = result["run_dir"], result["model"]
    with open(os.path.join(run_dir, "classes.json")) as f:
        assert json.load(f) == ["cats", "dogs"]
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    assert (saved["conditional"], saved["num_classes"]) == (True, 2)
    assert gan.num_classes == 2 and len(gan.discriminator.inputs) == 2


def test_the_grids_of_a_conditional_run_have_one_row_per_class(conditional_run):
    config, result = conditional_run
    gan, samples = result["model"], os.path.join(result["run_dir"], "samples")
    grid = _png(os.path.join(samples, "step-000002.png"))
    assert grid.shape == (2 * 32 + 3 * PAD, 2 * 32 + 3 * PAD, 3)  # 2 classes x (4 // 2) images
    seed = config["seed"] + GRID_SEED_OFFSET
    rows = td.metrics.to_uint8(gan.generate(4, labels=np.array([0, 0, 1, 1]), use_ema=True, seed=seed))
    swapped = td.metrics.to_uint8(gan.generate(4, labels=np.array([1, 1, 0, 0]), use_ema=True, seed=seed))
    assert not np.array_equal(rows, swapped)  # the label changes the image, so the rows tell the classes
    for index in range(4):
        top, left = PAD + (index // 2) * (32 + PAD), PAD + (index % 2) * (32 + PAD)
        np.testing.assert_array_equal(grid[top : top + 32, left : left + 32], rows[index])


def test_reals_png_is_a_grid_of_the_training_images_class_by_class(conditional_run, pets):
    _, result = conditional_run
    images, labels = td.data.load_array(pets, resolution=32, with_labels=True)
    first = np.concatenate([images[labels == c][:2] for c in (0, 1)])
    reals = _png(os.path.join(result["run_dir"], "samples", "reals.png"))
    np.testing.assert_array_equal(reals, image_grid(first, columns=2))


def test_augment_grids_show_t_real_beside_t_fake_at_every_grid_step(conditional_run, pets):
    config, result = conditional_run
    gan, samples = result["model"], os.path.join(result["run_dir"], "samples")
    assert sorted(os.listdir(samples)) == [
        "augment-000001.png",
        "augment-000002.png",
        "reals.png",
        "step-000001.png",
        "step-000002.png",
    ]
    picture = _png(os.path.join(samples, "augment-000002.png"))
    reals = _png(os.path.join(samples, "reals.png"))
    width = reals.shape[1]
    assert picture.shape == (reals.shape[0], 2 * width, 3)
    left, right = picture[:, :width], picture[:, width:]
    assert np.abs(left.astype(int) - reals).mean() > 5  # augmented: color, translation, cutout
    # Recomputed: the GAN's policy on the same reals and on G's (not EMA-G's) fixed-latent images.
    seed = config["seed"] + GRID_SEED_OFFSET
    images, labels = td.data.load_array(pets, resolution=32, with_labels=True)
    first = np.concatenate([images[labels == c][:2] for c in (0, 1)])
    np.testing.assert_array_equal(left, image_grid(pictures.augmented(gan.augment, first, seed + 1), columns=2))
    fakes = td.metrics.to_uint8(gan.generate(4, labels=np.array([0, 0, 1, 1]), use_ema=False, seed=seed))
    np.testing.assert_array_equal(right, image_grid(pictures.augmented(gan.augment, fakes, seed + 3), columns=2))
    np.testing.assert_array_equal(  # at step 1 G was another one: the pictures follow training
        _png(os.path.join(samples, "augment-000001.png"))[:, :width], left
    )
    assert not np.array_equal(_png(os.path.join(samples, "augment-000001.png"))[:, width:], right)


def test_conditional_needs_two_class_folders_and_no_loose_images(image_folder, pets, tmp_path):
    flat = experiment.resolve_config("fewshot-cpu", dataset=image_folder, conditional=True, **TINY)
    with pytest.raises(data_report.DataError, match="needs every image inside a class sub-folder"):
        data_report.check_data(flat)
    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "one" / "cats" / "a.png")
    one = experiment.resolve_config("fewshot-cpu", dataset=str(tmp_path / "one"), conditional=True, batch_size=1)
    with pytest.raises(data_report.DataError, match=r"needs at least 2 class sub-folders holding images, found 1"):
        data_report.check_data(one)
    emoji = experiment.resolve_config("fewshot-cpu", conditional=True)
    with pytest.raises(data_report.DataError, match="conditional=True needs a dataset with class labels"):
        data_report.check_data(emoji)
    both = experiment.resolve_config("fewshot-cpu", dataset=pets, conditional=True, num_classes=3, **TINY)
    with pytest.raises(data_report.DataError, match=r"num_classes=3 does not match the 2 class sub-folders"):
        data_report.check_data(both)
    report = data_report.check_data(experiment.resolve_config("fewshot-cpu", dataset=pets, conditional=True, **TINY))
    assert report.class_names == ["cats", "dogs"] and report.line().endswith("; 2 classes (cats, dogs)")


def test_an_adaptive_run_logs_and_draws_p_and_r_t(image_folder, tmp_path):
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, adaptive=True, ada_interval=1, steps=2, **TINY
    )
    result = experiment.run(config, str(tmp_path), verbose=0, stream=None)
    records = [json.loads(line) for line in open(result["metrics"])]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert -1.0 <= record["ada_r_t"] <= 1.0
        # ada_interval=1: p moves by sign(r_t - 0.6) * 4 images / 500k from its previous value.
    p_values = [0.0] + [r["aug_p"] for r in records]
    for before, after, record in zip(p_values, p_values[1:], records):
        step = np.sign(record["ada_r_t"] - 0.6) * 4 / 500_000
        assert after == pytest.approx(min(max(before + step, 0.0), 1.0), abs=1e-7)
    assert curves.series(records, "ada_r_t")[0] == [1, 2]
    image = _png(result["curves"])
    assert image.shape[0] == 900  # losses, p and r_t, FID: three panels of 300 px
