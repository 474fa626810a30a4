"""Configuration resolution and validation, run folders, the metrics log and the curves plot.

Everything here runs without training: values are compared with the preset tables, with tfds'
own split arithmetic, with the builders' declared resolutions and with files read back.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tf_diffaug import experiment
from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import curves, run_dir
from tf_diffaug.experiment import presets as presets_lib


@pytest.mark.parametrize("name", sorted(presets_lib.PRESETS))
def test_every_preset_resolves_to_defaults_plus_network_preset_plus_its_values(name):
    from tf_diffaug import networks

    config = experiment.resolve_config(name)
    preset = presets_lib.PRESETS[name]
    network = networks.PRESETS[preset["network_preset"]]
    expected = dict(presets_lib.DEFAULTS)
    expected.update({k: v for k, v in network.items() if k in expected and k != "source"})
    expected["network_kwargs"] = {k: v for k, v in network["network_kwargs"].items() if k != "latent_dim"}
    expected["latent_dim"] = network["network_kwargs"].get("latent_dim", expected["latent_dim"])
    expected.update(preset, preset=name)
    assert config == expected
    assert set(config) == set(presets_lib.DEFAULTS)
    assert config["source"], f"preset {name} must cite its source"


def test_paper_settings_of_the_presets():
    # Values stated by the issue / the papers' launch scripts, written out independently.
    lowshot = experiment.resolve_config("stylegan2-lowshot-256")
    assert (lowshot["batch_size"], lowshot["r1_gamma"], lowshot["resolution"]) == (16, 10.0, 256)
    assert (lowshot["latent_dim"], lowshot["beta_1"], lowshot["beta_2"], lowshot["g_lr"]) == (512, 0.0, 0.99, 0.002)
    assert lowshot["steps"] * lowshot["batch_size"] == 300_000  # 300 kimg
    for suffix, fraction in (("", 1.0), ("-20pct", 0.2), ("-10pct", 0.1)):
        config = experiment.resolve_config("biggan-cifar10" + suffix)
        size = config_lib.dataset_size(config["dataset"], config["split"])
        assert size == round(50_000 * fraction)
        assert (config["batch_size"], config["d_steps"]) == (50, 4)
    assert config_lib.dataset_size("fashion-mnist", "train[:1%]") == 600


def test_overrides_win_and_none_falls_through():
    config = experiment.resolve_config(
        "fewshot-cpu",
        steps=200,
        log_every=20,
        eval_every=100,
        checkpoint_every=40,
        lr=1e-3,
        policy="translation",
        batch_size=None,
        seed=7,
    )
    assert (config["steps"], config["g_lr"], config["d_lr"], config["policy"], config["seed"]) == (
        200,
        1e-3,
        1e-3,
        "translation",
        7,
    )
    assert config["batch_size"] == experiment.resolve_config("fewshot-cpu")["batch_size"] == 32


def test_network_preset_values_are_the_base_and_latent_dim_moves_out_of_kwargs():
    table = {
        "dcgan-cpu": {
            "network_kwargs": {"width": 16, "label_dim": 4, "latent_dim": 64},
            "d_steps": 3,
            "loss": "hinge",
            "source": "x",
            "not_a_key": 1,
        }
    }
    config = experiment.resolve_config("fewshot-cpu", network_presets=table, network_kwargs={"width": 8})
    assert config["network_kwargs"] == {"width": 8, "label_dim": 4}
    assert (config["latent_dim"], config["d_steps"], config["loss"]) == (64, 3, "hinge")
    assert config["source"] == presets_lib.PRESETS["fewshot-cpu"]["source"]
    config = experiment.resolve_config("fewshot-cpu", network_presets=table, network_kwargs={"latent_dim": 32})
    assert config["latent_dim"] == 32 and "latent_dim" not in config["network_kwargs"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"resolution": 48}, "resolution 48 is not supported by network 'dcgan'. Expected one of [32, 64, 128]"),
        ({"adaptive": True, "augment_mode": "none"}, "got augment_mode 'none'"),
        ({"batch_size": 113}, "batch_size 113 is larger than dataset 'emoji-faces' split 'train' (112 images)"),
        ({"policy": "colour,cutout"}, "Unknown op 'colour' in policy 'colour,cutout'"),
        ({"policy": ""}, "needs a non-empty policy"),
        ({"loss": "hinj"}, "Unknown loss 'hinj'"),
        ({"eval_every": 75}, "eval_every=75 must be a multiple of log_every=50"),
        ({"steps": 1000, "eval_every": 750}, "steps=1000 must be a multiple of eval_every=750"),
        ({"strategy": "horovod"}, "Unknown strategy 'horovod'"),
        ({"steps": 0}, "steps must be >= 1, got 0"),
        ({"fid_samples": 1}, "fid_samples must be 0"),
        ({"colour": 1}, "Unknown configuration key(s) ['colour']"),
        ({"prune_fraction": 1.0}, "prune_fraction must be in (0, 1), got 1.0"),
        ({"prune_rounds": -1}, "prune_rounds must be >= 0, got -1"),
        ({"prune_steps": 0}, "prune_steps must be None (= steps) or an integer >= 1, got 0"),
        ({"prune_steps": 100, "rewind": 100}, "rewind must be 'init' or an integer step in [0, 100)"),
        ({"rewind": "late"}, "rewind must be 'init' or an integer step in [0, 3000)"),
        ({"advaug_gamma": -0.01}, "advaug_gamma must be >= 0, got -0.01"),
        ({"prune_discriminator": 1}, "prune_discriminator must be True or False, got 1"),
    ],
)
def test_inconsistent_values_fail_naming_them(overrides, message):
    with pytest.raises(ValueError) as info:
        experiment.resolve_config("fewshot-cpu", **overrides)
    assert message in str(info.value)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown preset 'fewshot'") as info:
        experiment.resolve_config("fewshot")
    for name in presets_lib.PRESETS:
        assert repr(name) in str(info.value)


def test_folder_size_limits_batch(tmp_path):
    for i in range(5):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert config_lib.dataset_size(str(tmp_path)) == 5
    experiment.resolve_config("fewshot-cpu", dataset=str(tmp_path), batch_size=5)
    with pytest.raises(ValueError, match=r"batch_size 6 is larger than dataset .* \(5 images\)"):
        experiment.resolve_config("fewshot-cpu", dataset=str(tmp_path), batch_size=6)


@pytest.mark.parametrize(
    "split", ["train", "train[:10%]", "train[10%:30%]", "train[:500]", "train[100:250]", "test[-10%:]", "train[-1000:]"]
)
def test_split_sizes_match_tfds_arithmetic(split):
    tfds = pytest.importorskip("tensorflow_datasets")
    sizes = {"train": 50_000, "test": 10_000}
    instruction = tfds.core.ReadInstruction.from_spec(split).to_absolute(
        {k: tfds.core.SplitInfo(name=k, shard_lengths=[v], num_bytes=0) for k, v in sizes.items()}
    )
    # tfds gives absolute [from_, to) bounds, None meaning the start / the end of the split.
    expected = sum((sizes[a.splitname] if a.to is None else a.to) - (a.from_ or 0) for a in instruction)
    assert config_lib.dataset_size("cifar10", split) == expected


def test_static_tables_agree_with_the_library():
    import tf_diffaug as td
    from tf_diffaug.gan import losses
    from tf_diffaug.networks import biggan, dcgan, sngan, stylegan2

    modules = {"dcgan": dcgan, "sngan": sngan, "biggan": biggan, "stylegan2": stylegan2}
    assert {k: tuple(m.RESOLUTIONS) for k, m in modules.items()} == config_lib.RESOLUTIONS
    assert sorted(config_lib.NETWORKS) == td.networks.available()
    assert set(config_lib.LOSSES) == set(losses.LOSSES)
    assert set(config_lib.AUGMENT_MODES) == set(td.gan.AUGMENT_MODES)
    assert set(td.data.IMAGE_EXTENSIONS) <= set(config_lib.IMAGE_EXTENSIONS)


def test_run_dirs_are_numbered_and_latest_is_found(tmp_path):
    root = str(tmp_path / "runs")
    with pytest.raises(FileNotFoundError, match="No run folder"):
        run_dir.latest_run_dir(root)
    first = run_dir.create_run_dir(root, "fewshot-cpu")
    os.makedirs(os.path.join(root, "00007-other"))
    os.makedirs(os.path.join(root, "not-a-run"))
    second = run_dir.create_run_dir(root, "a b/c")
    assert os.path.basename(first) == "00000-fewshot-cpu"
    assert os.path.basename(second) == "00008-a-b-c"
    assert run_dir.latest_run_dir(root) == second
    assert [os.path.basename(p) for p in run_dir.list_run_dirs(root)] == [
        "00000-fewshot-cpu",
        "00007-other",
        "00008-a-b-c",
    ]


def test_metrics_log_converts_values_and_truncates_on_resume(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    log = run_dir.MetricsLog(path)
    for step in (10, 20, 30):
        log.write(step, {"d_loss": np.float32(step / 10), "fid": np.array([step * 1.5]), "kid": float("nan")})
    with open(path, "a") as f:
        f.write('{"step": 40, "d_lo')  # torn line of a killed process
    assert [r["step"] for r in log.read()] == [10, 20, 30]
    assert log.read()[1] == {"step": 20, "d_loss": 2.0, "fid": 30.0, "kid": None}
    resumed = run_dir.MetricsLog(path, resume_step=20)
    resumed.write(30, {"d_loss": 9.0})
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    assert [r["step"] for r in lines] == [10, 20, 30]
    assert lines[-1]["d_loss"] == 9.0


def test_curves_png_is_written(tmp_path):
    records = [{"step": s, "d_loss": 1.0 / s, "g_loss": s / 10.0, "aug_p": s / 40.0} for s in range(1, 40)]
    records[-1].update(fid=100.0, kid=0.05)
    path = curves.plot_curves(records, str(tmp_path / "curves.png"), title="x")
    image = np.asarray(Image.open(path))
    assert image.shape[0] == 900 and image.shape[1] == 800  # 3 panels of 3 inches at 100 dpi
    constant_p = [dict(r, aug_p=1.0) for r in records]
    image = np.asarray(Image.open(curves.plot_curves(constant_p, str(tmp_path / "c2.png"))))
    assert image.shape[0] == 600  # no aug_p panel when p never changes
    assert curves.series(records, "fid") == ([39], [100.0])
    assert image.std() > 0
