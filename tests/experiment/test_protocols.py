"""The paper protocols end to end (issue 13): every paper preset's pipeline at toy scale, and each
protocol key checked against a value computed another way.

Each paper preset runs as itself with only its scale shrunk (data, resolution, widths, steps,
sample counts): the conditional BigGAN presets on 200 Fashion-MNIST images, the others on the
embedded emoji faces; the ticket presets run both stages. The other tests compare the FID reference
with Inception statistics computed directly from `td.data.load_array`, the best FID with the minimum
over the logged evaluations, the learning rates with the closed form of a linear decay, the images
of one step with `d_steps x batch_size`, and the IMP stage's GAN with the configuration keys.
"""

import io
import json
import os

import keras
import numpy as np
import pytest

import tf_diffaug as td
from tf_diffaug import experiment
from tf_diffaug.experiment import build, presets
from tf_diffaug.experiment import ticket as ticket_lib

SCALE = {
    "resolution": 32,
    "steps": 2,
    "log_every": 1,
    "eval_every": 2,
    "checkpoint_every": 2,
    "fid_samples": 4,
    "fid_batch_size": 4,
    "grid_size": 4,
}


def toy_overrides(name):
    """The overrides that shrink preset `name` to a few seconds, keeping every protocol value."""
    preset = experiment.resolve_config(name)
    overrides = dict(SCALE)
    if preset["network"] == "biggan":  # class-conditional: labelled grey images, tiled to RGB
        overrides.update(
            dataset="fashion-mnist",
            split="train[:200]",
            batch_size=2,
            network_kwargs={"ch": 4},
            fid_reference_split="test[:16]",  # the preset's "test", 16 of its images
        )
        if preset["lecam_weight"]:
            overrides["lecam_start_step"] = 1  # the LeCam term at step 2
    elif preset["network"] == "sngan":
        overrides.update(
            dataset="emoji-faces", batch_size=2, g_batch_size=4, network_kwargs={"g_width": 8, "d_width": 8}
        )
        if preset["prune_rounds"]:
            overrides.update(prune_rounds=2, prune_steps=1)
    else:  # stylegan2: a folder of 100 images at 256 in the preset; the 112 faces here
        overrides.update(
            dataset="emoji-faces",
            batch_size=4,
            latent_dim=16,
            network_kwargs={"fmap_base": 64, "fmap_max": 16, "w_dim": 16},
        )
    if preset["subset_size"] is not None:
        overrides["subset_size"] = preset["subset_size"] // 125  # 5000 -> 40, 10000 -> 80
    return overrides


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow  # ~10-40 s per preset on 2 CPU cores
@pytest.mark.parametrize("name", presets.PAPER_PRESETS)
def test_every_paper_preset_runs_end_to_end_at_toy_scale(name, tmp_path, inception):
    config = experiment.resolve_config(name, **toy_overrides(name))
    paper = experiment.resolve_config(name)
    changed = {k for k in config if config[k] != paper[k]}
    assert changed <= set(toy_overrides(name)) | {"network_kwargs"}  # only the scale is changed
    stream = io.StringIO()
    result = experiment.run(config, str(tmp_path), verbose=0, stream=stream, inception=inception)
    records = _records(result["run_dir"])
    assert result["step"] == records[-1]["step"] == 2
    assert all(np.isfinite([r["d_loss"], r["g_loss"]]).all() for r in records if "d_loss" in r)
    assert np.isfinite(result["fid"]) and records[-1]["fid"] == result["fid"]
    assert (records[-1]["fid_best"], records[-1]["fid_best_step"]) == (result["fid"], 2)  # one evaluation
    with open(os.path.join(result["run_dir"], "config.json")) as f:
        assert json.load(f) == json.loads(json.dumps(config))
    # The reference: all images of fid_reference_split, not the (sub)set trained on.
    reference = td.metrics.FeatureStatistics.load(os.path.join(result["run_dir"], "fid_reference.npz"))
    expected = 16 if config["network"] == "biggan" else 112
    assert reference.features.shape == (expected, 2048)
    if config["subset_size"] is not None:  # the data line counts the subset and the split it is drawn from
        split_size = 200 if config["network"] == "biggan" else 112
        drawn = "the first of" if config["subset_seed"] is None else "a seeded subset of"  # Chen et al.: the first
        data_line = f"data: {config['subset_size']} images, {drawn} {split_size} ("
        assert stream.getvalue().startswith(data_line), stream.getvalue()[:200]
    if config["prune_rounds"]:
        with open(os.path.join(result["run_dir"], "ticket", "ticket.json")) as f:
            rounds = json.load(f)["rounds"]
        assert [r["round"] for r in rounds] == [1, 2]
        masks = np.load(os.path.join(result["run_dir"], "ticket", "generator_masks.npz"))
        shapes = {str(n): masks[f"mask_{i}"].shape for i, n in enumerate(masks["names"])}
        # prune_scope "conv": convolution kernels only (rank 4), G's linear stem stays dense
        assert shapes and all(len(shape) == 4 for shape in shapes.values()), shapes
        kept = sum(masks[f"mask_{i}"].sum() for i in range(len(shapes)))
        total = sum(int(np.prod(shape)) for shape in shapes.values())
        assert abs(1 - kept / total - (1 - 0.8**2)) < 2 / total + 1e-9
        assert result["generator_sparsity"] == pytest.approx(1 - kept / total)


TINY = {"resolution": 32, "batch_size": 4, "network_kwargs": {"width": 8}, "fid_batch_size": 4, "grid_size": 4}


def test_fid_best_and_its_step_are_the_minimum_over_the_logged_evaluations(image_folder, inception, tmp_path):
    config = experiment.resolve_config(
        "fewshot-cpu",
        dataset=image_folder,
        steps=4,
        log_every=2,
        eval_every=1,
        checkpoint_every=4,
        fid_samples=4,
        **TINY,
    )
    stream = io.StringIO()
    result = experiment.run(config, str(tmp_path), verbose=0, stream=stream, inception=inception)
    records = _records(result["run_dir"])
    evaluated = [r for r in records if "fid" in r]
    assert [r["step"] for r in evaluated] == [1, 2, 3, 4]
    for index, record in enumerate(evaluated):  # each evaluation carries the best so far
        so_far = evaluated[: index + 1]
        best = min(so_far, key=lambda r: r["fid"])
        assert (record["fid_best"], record["fid_best_step"]) == (best["fid"], best["step"])
    best = min(evaluated, key=lambda r: r["fid"])
    assert records[-1]["step"] == 4 and (records[-1]["fid_best"], records[-1]["fid_best_step"]) == (
        best["fid"],
        best["step"],
    )
    assert (result["fid_best"], result["fid_best_step"]) == (best["fid"], best["step"])
    assert result["fid"] == evaluated[-1]["fid"]
    assert f"Best FID {best['fid']:.2f} at step {best['step']}" in stream.getvalue()


class _Log:
    """A `run_dir.MetricsLog` stand-in holding its records in memory."""

    def __init__(self, records=()):
        self.records = [dict(r) for r in records]

    def write(self, step, values):
        self.records.append(dict(values, step=step))

    def read(self):
        return [dict(r) for r in self.records]


def test_metrics_writer_keeps_the_best_fid_across_evaluations_and_a_resume():
    from tf_diffaug.experiment import callbacks, schedule

    plan = schedule.Schedule(steps=4, log_every=1, eval_every=1, checkpoint_every=4)
    log = _Log()
    writer = callbacks.MetricsWriter(log, plan)
    writer.on_train_begin()
    for epoch, fid in enumerate([5.0, 3.0, 4.0]):  # the minimum in the middle
        writer.on_epoch_end(epoch, {"d_loss": 1.0, "fid": fid, "kid": 0.1})
    assert [(r["fid_best"], r["fid_best_step"]) for r in log.records] == [(5.0, 1), (3.0, 2), (3.0, 2)]
    # A resumed run's writer starts from the records already logged.
    resumed = callbacks.MetricsWriter(_Log(log.records), schedule.Schedule(4, 1, 1, 4, start_step=3))
    resumed.on_train_begin()
    resumed.on_epoch_end(3, {"d_loss": 1.0, "fid": 3.5, "kid": 0.1})
    assert (resumed.log.records[-1]["fid_best"], resumed.log.records[-1]["fid_best_step"]) == (3.0, 2)
    assert resumed.log.records[-1]["fid"] == 3.5


def test_fid_reference_split_is_every_image_of_that_split_not_the_training_subset():
    config = experiment.resolve_config(
        "fashion-mnist-1pct", subset_size=40, fid_reference_split="test", resolution=32, channels=1, batch_size=4
    )
    direct = td.data.load_array("fashion-mnist", split="test", resolution=32, channels=1)
    assert direct.shape == (10_000, 32, 32, 1)
    np.testing.assert_array_equal(build.reference_images(config), direct)
    # None: the training images, i.e. the subset trained on.
    trained = td.data.load_array("fashion-mnist", split="train[:1%]", resolution=32, channels=1, subset_size=40)
    assert trained.shape == (40, 32, 32, 1)
    np.testing.assert_array_equal(build.reference_images(dict(config, fid_reference_split=None)), trained)


def test_a_run_measures_fid_against_the_test_split_statistics(inception, tmp_path):
    config = experiment.resolve_config(
        "fashion-mnist-1pct",
        steps=1,
        log_every=1,
        eval_every=1,
        checkpoint_every=1,
        fid_samples=4,
        fid_reference_split="test[:8]",
        **TINY,
    )
    result = experiment.run(config, str(tmp_path), verbose=0, stream=None, inception=inception)
    saved = td.metrics.FeatureStatistics.load(os.path.join(result["run_dir"], "fid_reference.npz"))
    images = td.data.load_array("fashion-mnist", split="test[:8]", resolution=32, channels=1)
    features = inception(images, batch_size=4)
    np.testing.assert_allclose(saved.mu, features.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(saved.sigma, np.cov(features, rowvar=False), rtol=1e-4, atol=1e-5)


def test_a_step_reads_d_steps_times_batch_size_images(image_folder, tmp_path, monkeypatch):
    from tf_diffaug.experiment import driver

    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, d_steps=2, steps=1, log_every=1, eval_every=1, checkpoint_every=1,
        fid_samples=0, **dict(TINY, batch_size=3),
    )  # fmt: skip
    built = []

    def recording_load_dataset(*args, **kwargs):
        dataset = build.load_dataset(*args, **kwargs)
        built.append(tuple(dataset.element_spec.shape))
        return dataset

    monkeypatch.setattr(driver, "load_dataset", recording_load_dataset)
    result = experiment.run(config, str(tmp_path), verbose=0, stream=None)
    assert built == [(6, 32, 32, 3)]  # 2 D updates x 3 images, one element per step
    assert result["step"] == 1
    # td.GAN refuses a batch-sized element with d_steps = 2: the driver's element is what it needs.
    gan = result["model"]
    with pytest.raises(ValueError, match="d_steps"):
        gan.train_step(keras.ops.zeros((3, 32, 32, 3)))


@pytest.mark.parametrize("d_steps", [1, 5])
def test_linear_lr_decay_reaches_zero_at_the_last_step_of_each_optimizer(d_steps):
    config = experiment.resolve_config(
        "sngan-cifar10", lr_decay="linear", steps=10, d_steps=d_steps, g_lr=4e-4, d_lr=2e-4,
        network_kwargs={"g_width": 8, "d_width": 8},
    )  # fmt: skip
    gan = build.build_gan(config)
    for optimizer, rate, updates in ((gan.g_optimizer, 4e-4, 10), (gan.d_optimizer, 2e-4, 10 * d_steps)):
        for done in (0, 1, updates // 2, updates - 1, updates, updates + 3):
            optimizer.iterations.assign(done)
            expected = rate * max(0.0, 1.0 - done / updates)  # SN LinearShift from the first iteration to 0
            assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(
                expected, abs=rate * 1e-6
            )  # float32
    constant = build.build_gan(dict(config, lr_decay="none"))
    constant.g_optimizer.iterations.assign(7)
    assert float(keras.ops.convert_to_numpy(constant.g_optimizer.learning_rate)) == pytest.approx(4e-4)


def test_a_linear_decay_run_cannot_change_its_length_on_resume(tmp_path):
    from tf_diffaug.experiment import config as config_lib

    saved = experiment.resolve_config("sngan-cifar10", steps=100)
    assert saved["lr_decay"] == "linear"
    with pytest.raises(ValueError, match=r"lr_decay='linear' decays to 0 at steps=100"):
        config_lib.check_resume(saved, dict(saved, steps=200), str(tmp_path))
    config_lib.check_resume(saved, dict(saved, eval_every=7), str(tmp_path))  # other resumable keys still may


def test_the_gan_gets_the_protocol_keys():
    config = experiment.resolve_config(
        "sngan-cifar10-10pct-ticket", network_kwargs={"g_width": 8, "d_width": 8}, advaug_g_layer="g_block1"
    )
    gan = build.build_gan(config)
    assert (gan.g_batch_size, gan.d_steps, gan.advaug_g_layer) == (128, 5, "g_block1")
    assert (gan.advaug_gamma, gan.ema_decay, gan.g_optimizer.epsilon) == (0.01, 0.999, 1e-8)
    assert gan.augment is None and gan.augment_mode == "none"


def test_the_imp_stage_trains_its_own_gan_from_the_run_gan_weights():
    config = experiment.resolve_config(
        "sngan-cifar10-10pct-ticket-diffaug",
        network_kwargs={"g_width": 8, "d_width": 8},
        prune_augment_mode="none",
        prune_advaug_gamma=0.0,
    )
    gan = build.build_gan(config)
    stage = ticket_lib.stage_one_gan(gan, config)
    assert stage is not gan
    assert (stage.augment_mode, stage.augment, stage.advaug_gamma) == ("none", None, 0.0)
    assert (gan.augment_mode, gan.advaug_gamma) == ("both", 0.01) and gan.augment is not None
    for mine, theirs in ((stage.generator, gan.generator), (stage.discriminator, gan.discriminator)):
        for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert (stage.g_batch_size, stage.d_steps) == (gan.g_batch_size, gan.d_steps)
    # The same settings (None: as the run): the run's GAN itself, as before issue 13.
    same = dict(config, prune_augment_mode=None, prune_advaug_gamma=None)
    assert ticket_lib.stage_one_gan(gan, same) is gan
    assert ticket_lib.stage_one_gan(gan, dict(same, prune_augment_mode="both", prune_advaug_gamma=0.01)) is gan


@pytest.mark.slow
def test_a_conv_scope_ticket_run_resumes_with_its_masks(tmp_path, inception):
    name = "sngan-cifar10-10pct-ticket"
    config = experiment.resolve_config(name, **toy_overrides(name))
    first = experiment.run(config, str(tmp_path), verbose=0, stream=None, inception=inception)
    resumed_config = experiment.resume_config(str(tmp_path), steps=3, eval_every=3)
    resumed = experiment.run(resumed_config, str(tmp_path), resume=True, verbose=0, stream=None, inception=inception)
    assert resumed["run_dir"] == first["run_dir"] and resumed["step"] == 3
    masks = np.load(os.path.join(first["run_dir"], "ticket", "generator_masks.npz"))
    saved = [masks[f"mask_{i}"] for i in range(len(masks["names"]))]
    for model in (resumed["model"].generator, resumed["model"].ema_generator):
        kernels = td.lottery.PruningMasks(model, prune_scope="conv").kernels  # the saved masks' order
        assert [tuple(k.shape) for k in kernels] == [m.shape for m in saved]
        for kernel, mask in zip(kernels, saved):
            assert np.all(keras.ops.convert_to_numpy(kernel)[~mask] == 0)  # pruned weights stay 0
