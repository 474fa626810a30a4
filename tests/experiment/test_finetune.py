"""Fine-tuning from a finished run (`init_from`), FreezeD (`freeze_d`) and `--generate=N`.

One 2-step source run on the 8 real emoji faces; the fine-tuned runs and the generated images are
compared with its in-memory model (the state of its last checkpoint) and its checkpoint file.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
from PIL import Image

import tf_diffaug as td
from tests.experiment import command_line, tiny
from tf_diffaug import experiment
from tf_diffaug.experiment import build, driver, finetune

TINY = dict(tiny.TINY, fid_samples=0)


def _numpy(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.fixture(scope="module")
def source(image_folder, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("source"))
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, steps=2, checkpoint_every=2, **TINY)
    result = experiment.run(config, workdir, verbose=0, stream=None)
    return workdir, result


@pytest.fixture(scope="module")
def frozen_run(image_folder, source, tmp_path_factory):
    """A fine-tuned run of 2 steps from the source run, D's first block frozen."""
    workdir = str(tmp_path_factory.mktemp("finetuned"))
    config = experiment.resolve_config(
        "fewshot-cpu",
        dataset=image_folder,
        steps=2,
        checkpoint_every=2,
        init_from=source[1]["run_dir"],
        freeze_d=1,
        seed=5,
        **TINY,
    )
    return experiment.run(config, workdir, verbose=0, stream=None)


def test_init_from_loads_g_d_and_ema_but_not_the_optimizers_or_the_step(image_folder, source):
    trained = source[1]["model"]
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, steps=2, **TINY)
    gan = build.build_gan(config)
    path = finetune.weights_file(source[1]["run_dir"])
    assert path == os.path.join(source[1]["run_dir"], "checkpoints", "ckpt-000002.weights.h5")
    finetune.load_networks(gan, path)
    for name in finetune.NETWORKS:
        for mine, theirs in zip(_numpy(getattr(gan, name).weights), _numpy(getattr(trained, name).weights)):
            np.testing.assert_array_equal(mine, theirs)
    # EMA-G came from the file's EMA, not from G (after 2 steps at decay 0.999 they differ).
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(_numpy(trained.generator.weights), _numpy(trained.ema_generator.weights))
    )
    assert int(keras.ops.convert_to_numpy(trained.g_optimizer.iterations)) == 2
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == 0
    assert int(keras.ops.convert_to_numpy(gan.d_optimizer.iterations)) == 0
    assert int(keras.ops.convert_to_numpy(gan.step_counter)) == 0
    for slot in gan.d_optimizer.variables[2:]:  # Adam moments: fresh zeros, not the source's
        assert not np.any(keras.ops.convert_to_numpy(slot))


def test_freeze_d_keeps_the_first_blocks_bit_identical_and_trains_the_rest(source, frozen_run):
    trained, gan = source[1]["model"], frozen_run["model"]
    blocks = finetune.discriminator_blocks(gan.discriminator)
    assert [(name, [layer.name for layer in layers]) for name, layers in blocks] == [
        ("lrelu0", ["images", "conv0", "lrelu0"]),
        ("lrelu1", ["conv1", "d_bn1", "lrelu1"]),
        ("lrelu2", ["conv2", "d_bn2", "lrelu2"]),
    ]
    source_d, tuned_d = trained.discriminator, gan.discriminator
    np.testing.assert_array_equal(
        _numpy(tuned_d.get_layer("conv0").weights)[0], _numpy(source_d.get_layer("conv0").weights)[0]
    )
    for name in ("conv1", "conv2", "linear"):  # unfrozen: trained on
        assert not np.array_equal(
            _numpy(tuned_d.get_layer(name).weights)[0], _numpy(source_d.get_layer(name).weights)[0]
        ), name
    # D's optimizer never held the frozen kernel: 2 + 2 x the trainable variables of D (Adam).
    assert not tuned_d.get_layer("conv0").trainable
    assert len(gan.d_optimizer.variables) == 2 + 2 * (len(source_d.trainable_variables) - 1)
    assert int(keras.ops.convert_to_numpy(gan.step_counter)) == 2  # 2 new steps from step 0
    with open(os.path.join(frozen_run["run_dir"], "config.json")) as f:
        saved = json.load(f)
    assert saved["init_from"] == os.path.join(source[1]["run_dir"], "checkpoints", "ckpt-000002.weights.h5")
    assert saved["freeze_d"] == 1


def test_an_architecture_mismatch_is_one_clear_error(image_folder, source, tmp_path):
    path = os.path.join(source[1]["run_dir"], "checkpoints", "ckpt-000002.weights.h5")
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=1, init_from=path, **dict(TINY, network_kwargs={"width": 16})
    )
    with pytest.raises(driver.RunSetupError) as info:
        experiment.run(config, str(tmp_path / "runs"), verbose=0, stream=None)
    assert str(info.value) == (
        f"init_from: the generator of {path!r} does not match the generator the configuration builds: "
        f"layer 'bn0' variable 'vars/0' has shape (32,) in {path!r} but (64,) in the configuration's generator. "
        "Use the architecture settings the source run was trained with (network, network_preset, network_kwargs, "
        "resolution, channels, latent_dim, num_classes; see its config.json)."
    )
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"freeze_d": 4},
            "freeze_d=4 exceeds the 3 blocks of discriminator 'dcgan_discriminator' (lrelu0, lrelu1, "
            "lrelu2, from the input side). Expected freeze_d in [0, 3].",
        ),
        ({"init_from": "no/such/run"}, "init_from 'no/such/run' does not exist. Expected a run folder"),
        ({"init_from": "RUN", "prune_rounds": 1}, "cannot be combined with prune_rounds=1"),
    ],
)
def test_bad_fine_tuning_settings_fail_before_any_work(image_folder, source, tmp_path, overrides, message):
    if overrides.get("init_from") == "RUN":
        overrides = dict(overrides, init_from=source[1]["run_dir"])
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, steps=1, **dict(TINY, **overrides))
    with pytest.raises(driver.RunSetupError) as info:
        experiment.run(config, str(tmp_path / "runs"), verbose=0, stream=None)
    assert message in str(info.value)
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")


def test_residual_and_stylegan2_blocks_are_their_d_block_layers():
    _, d = td.networks.get("sngan", resolution=32, g_width=8, d_width=8)
    blocks = finetune.discriminator_blocks(d)
    assert [name for name, _ in blocks] == ["d_block1", "d_block2", "d_block3", "d_block4"]
    for index, (_, layers) in enumerate(blocks, start=1):  # each block holds its own d<i>_ layers, all of them
        weighted = sorted(layer.name for layer in layers if layer.weights)
        own = re.compile(rf"^(sn_)?d{index}_")  # spectral-norm wrappers are named sn_<layer>
        expected = sorted(layer.name for layer in d.layers if own.match(layer.name) and layer.weights)
        assert weighted == expected
    _, d = td.networks.get("stylegan2", resolution=32, fmap_base=64, fmap_max=16)
    names = [name for name, _ in finetune.discriminator_blocks(d)]
    assert names == ["d_block32", "d_block16", "d_block8"]
    first = [layer.name for layer in finetune.discriminator_blocks(d)[0][1] if layer.weights]
    assert sorted(first) == ["b32_conv0", "b32_conv1", "b32_fromrgb", "b32_skip"]


def _pngs(folder):
    return np.stack([np.asarray(Image.open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))])


def test_generate_writes_the_ema_generators_images(source, capsys):
    workdir, result = source
    run_dir = result["run_dir"]
    folder = command_line.call_main(["--generate=5", "--resume", f"--workdir={workdir}", "--generate_seed=3"])
    assert folder == os.path.join(run_dir, "generated-000002")
    assert sorted(os.listdir(folder)) == [f"{i:06d}.png" for i in range(5)]
    expected = td.metrics.to_uint8(result["model"].generate(5, use_ema=True, seed=3))
    np.testing.assert_array_equal(_pngs(folder), expected)
    assert (
        f"Wrote 5 images of the EMA generator of {finetune.weights_file(run_dir)} to {folder}"
        in capsys.readouterr().out
    )
    # --init_from=RUN (here a checkpoint file) samples the same networks; the default seed is 0.
    weights = os.path.join(run_dir, "checkpoints", "ckpt-000002.weights.h5")
    other = str(source[0] + "-copy")
    folder = experiment.generate(weights, 3, out_dir=other)
    np.testing.assert_array_equal(_pngs(folder), td.metrics.to_uint8(result["model"].generate(3, use_ema=True, seed=0)))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--generate=2"], "--generate=2 needs exactly one of --resume"),
        (["--generate=2", "--resume", "--steps=5"], "--generate uses the configuration of the run it samples; drop"),
        (["--generate=0", "--init_from=RUN"], "The number of images to generate must be an integer >= 1, got 0."),
    ],
)
def test_generate_refuses_bad_flags(source, argv, message):
    from absl import app

    argv = [a.replace("RUN", source[1]["run_dir"]) for a in argv] + [f"--workdir={source[0]}"]
    with pytest.raises(app.UsageError) as info:
        command_line.call_main(argv)
    assert message in str(info.value)
