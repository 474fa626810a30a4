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
    expected.update({k: v for k, v in preset.items() if k not in ("description", "network_kwargs")}, preset=name)
    expected["network_kwargs"].update(preset.get("network_kwargs", {}))  # merged over the network preset's
    assert config == expected
    assert list(config) == list(presets_lib.DEFAULTS)  # schema order
    assert set(config) == set(presets_lib.DEFAULTS)
    assert config["source"], f"preset {name} must cite its source"


def test_paper_settings_of_the_presets():
    # Values stated by the issue / the papers' launch scripts, written out independently.
    lowshot = experiment.resolve_config("stylegan2-lowshot-256")
    assert (lowshot["batch_size"], lowshot["r1_gamma"], lowshot["resolution"]) == (16, 10.0, 256)
    assert (lowshot["latent_dim"], lowshot["beta_1"], lowshot["beta_2"], lowshot["g_lr"]) == (512, 0.0, 0.99, 0.002)
    # 300 kimg, counted as the official loop does: chunks of 4 minibatches until cur_nimg >= 300000
    assert lowshot["steps"] == 4 * -(-300_000 // (4 * lowshot["batch_size"])) == 18_752
    assert lowshot["network_kwargs"]["mapping_layers"] == 8  # run_low_shot.py: G_main's default
    for suffix, subset in (("", None), ("-20pct", 10_000), ("-10pct", 5_000), ("-10pct-lecam", 5_000)):
        config = experiment.resolve_config("biggan-cifar10" + suffix)
        assert config_lib.dataset_size(config["dataset"], config["split"]) == 50_000
        assert (config["subset_size"], config["subset_seed"]) == (subset, 0)
        assert (config["batch_size"], config["d_steps"]) == (50, 4)
        # 1000 epochs of 50k, 5000 epochs of 10k / 5k images at 4 x 50 images per step
        assert config["steps"] * 200 == (1000 * 50_000 if subset is None else 5000 * subset)
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
        ({"strategy": "horovod"}, "Unknown strategy 'horovod'"),
        ({"steps": 0}, "steps must be an integer >= 1, got 0."),
        ({"log_every": 0}, "log_every must be an integer >= 1, got 0."),
        ({"fid_samples": 1}, "fid_samples must be 0"),
        ({"colour": 1}, "Unknown configuration key(s) ['colour']"),
        ({"prune_fraction": 1.0}, "prune_fraction must be a number in (0, 1), got 1.0."),
        ({"prune_rounds": -1}, "prune_rounds must be an integer >= 0, got -1."),
        ({"prune_steps": 0}, "prune_steps must be None or an integer >= 1, got 0."),
        ({"prune_steps": 100, "rewind": 100}, "rewind must be 'init' or an integer step in [0, 100)"),
        ({"rewind": 3000}, "rewind must be 'init' or an integer step in [0, 3000)"),
        ({"rewind": "late"}, "rewind must be 'init' or an integer >= 0, got 'late'."),
        ({"advaug_gamma": -0.01}, "advaug_gamma must be a number >= 0, got -0.01."),
        ({"prune_discriminator": 1}, "prune_discriminator must be True or False, got 1."),
        ({"split": "train[:1O%]"}, "Bad split 'train[:1O%]'"),
        ({"network_preset": "dcgan-gpu"}, "Unknown network_preset 'dcgan-gpu'. Expected one of ['biggan-cifar'"),
    ],
)
def test_inconsistent_values_fail_naming_them(overrides, message):
    with pytest.raises(ValueError) as info:
        experiment.resolve_config("fewshot-cpu", **overrides)
    assert message in str(info.value)


# Each key added for issue 12 (every setting of td.GAN / compile / Adam is a key), with bad values.
NEW_KEY_ERRORS = [
    ("g_lr", 0.0, "g_lr must be a number > 0, got 0.0."),
    ("g_lr", "2e-4", "g_lr must be a number > 0, got '2e-4'."),
    ("d_lr", -1e-4, "d_lr must be a number > 0, got -0.0001."),
    ("beta_1", 1.0, "beta_1 must be a number in [0, 1), got 1.0."),
    ("beta_2", -0.5, "beta_2 must be a number in [0, 1), got -0.5."),
    ("adam_epsilon", 0.0, "adam_epsilon must be a number > 0, got 0.0."),
    ("d_steps", 0, "d_steps must be an integer >= 1, got 0."),
    ("d_steps", 2.0, "d_steps must be an integer >= 1, got 2.0."),
    ("r1_gamma", -1.0, "r1_gamma must be a number >= 0, got -1.0."),
    ("r1_through_augment", "yes", "r1_through_augment must be True or False, got 'yes'."),
    ("cr_weight", -10.0, "cr_weight must be a number >= 0, got -10.0."),
    ("lecam_weight", float("inf"), "lecam_weight must be a number >= 0, got inf."),
    ("lecam_decay", 1.0, "lecam_decay must be a number in [0, 1), got 1.0."),
    ("lecam_start_step", -1, "lecam_start_step must be an integer >= 0, got -1."),
    ("lecam_start_step", 1.5, "lecam_start_step must be an integer >= 0, got 1.5."),
    ("ema_decay", 1.5, "ema_decay must be a number in [0, 1], got 1.5."),
    ("ema_start_step", -5, "ema_start_step must be an integer >= 0, got -5."),
    ("ada_target", 1.2, "ada_target must be a number in [0, 1], got 1.2."),
    ("ada_interval", 0, "ada_interval must be an integer >= 1, got 0."),
    ("ada_kimg", 0, "ada_kimg must be a number > 0, got 0."),
    ("mirror", "no", "mirror must be True or False, got 'no'."),
    ("latent_dim", 0, "latent_dim must be an integer >= 1, got 0."),
    ("fid_batch_size", 0, "fid_batch_size must be an integer >= 1, got 0."),
    ("grid_size", -4, "grid_size must be an integer >= 1, got -4."),
    ("jit_compile", "xla", "jit_compile must be 'auto' or True or False, got 'xla'."),
    ("jit_compile", 1, "jit_compile must be 'auto' or True or False, got 1."),
]


@pytest.mark.parametrize("key, value, message", NEW_KEY_ERRORS, ids=lambda v: repr(v)[:20])
def test_every_new_key_is_validated(key, value, message):
    with pytest.raises(ValueError) as info:
        experiment.resolve_config("fewshot-cpu", **{key: value})
    assert str(info.value) == message


def test_every_new_key_accepts_a_good_value():
    good = {k: v for k, v in [("g_lr", 1e-3), ("d_lr", 4e-4), ("beta_1", 0.0), ("beta_2", 0.99), ("adam_epsilon", 1e-8),
            ("d_steps", 2), ("r1_gamma", 10.0), ("r1_through_augment", False), ("cr_weight", 10.0), ("lecam_weight", 0.3),
            ("lecam_decay", 0.9), ("lecam_start_step", 1000), ("ema_decay", 0.0), ("ema_start_step", 10), ("ada_target", 0.5),
            ("ada_interval", 8), ("ada_kimg", 100), ("mirror", False), ("latent_dim", 64), ("fid_batch_size", 16),
            ("grid_size", 9), ("jit_compile", False)]}  # fmt: skip
    assert sorted(good) == sorted({key for key, _, _ in NEW_KEY_ERRORS})
    config = experiment.resolve_config("fewshot-cpu", **good)
    assert {k: config[k] for k in good} == good


def test_consistency_regularization_needs_augmented_reals():
    experiment.resolve_config("fewshot-cpu", cr_weight=10.0, augment_mode="real_only")
    with pytest.raises(ValueError) as info:
        experiment.resolve_config("fewshot-cpu", cr_weight=10.0, augment_mode="none")
    assert str(info.value) == (
        "cr_weight=10.0 needs an augmentation of the reals, got augment_mode 'none'. "
        "Expected augment_mode in ['both', 'real_only', 'd_only'] or cr_weight=0."
    )


def test_intervals_need_not_divide_each_other():
    # Before the schema: "eval_every=75 must be a multiple of log_every=50", "steps=400 must be a multiple of
    # eval_every=1500". Any positive intervals resolve now; the schedule reaches the last step.
    config = experiment.resolve_config("fewshot-cpu", steps=130, log_every=20, eval_every=50, checkpoint_every=40)
    assert (config["steps"], config["log_every"], config["eval_every"], config["checkpoint_every"]) == (130, 20, 50, 40)
    assert experiment.resolve_config("fewshot-cpu", steps=400, batch_size=8)["eval_every"] == 1500
    assert experiment.resolve_config("fewshot-cpu", eval_every=75)["eval_every"] == 75


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


def test_validation_reads_the_registries_of_the_library(monkeypatch):
    # One home per registry: a policy op registered with the augment package becomes valid at once,
    # and each network's resolutions are those of td.networks' catalog.
    from tf_diffaug.augment import policy_names
    from tf_diffaug.networks import catalog

    with pytest.raises(ValueError, match="Unknown op 'zoom'"):
        experiment.resolve_config("fewshot-cpu", policy="color,zoom")
    policy_names.add_name("zoom")
    try:
        assert experiment.resolve_config("fewshot-cpu", policy="color,zoom")["policy"] == "color,zoom"
    finally:
        policy_names.remove_name("zoom")
    monkeypatch.setitem(catalog.RESOLUTIONS, "dcgan", (16, 64))
    assert experiment.resolve_config("fewshot-cpu", resolution=16)["resolution"] == 16
    with pytest.raises(ValueError, match=r"Expected one of \[16, 64\]"):
        experiment.resolve_config("fewshot-cpu", resolution=32)
    assert experiment.dataset_size is config_lib.dataset_size
    from tf_diffaug.data import catalog as data_catalog

    assert config_lib.dataset_size is data_catalog.dataset_size


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


def test_run_folders_are_named_after_the_dataset_when_it_is_not_the_presets(tmp_path):
    def name(preset, dataset=None):
        config = experiment.resolve_config(preset, **({} if dataset is None else {"dataset": dataset}))
        return run_dir.run_name(config)

    assert name("fewshot-cpu") == name("fewshot-cpu", "emoji-faces") == "fewshot-cpu"
    assert name("fewshot-cpu", "/my/folder/") == "fewshot-cpu-folder"
    assert name("fewshot-cpu", "~/data/myfolder") == "fewshot-cpu-myfolder"
    assert name("fashion-mnist-1pct", "cifar100") == "fashion-mnist-1pct-cifar100"
    assert name("stylegan2-lowshot-256") == "stylegan2-lowshot-256"  # its own folder, data/100-shot-obama
    assert name("stylegan2-lowshot-256", "data/100-shot-grumpy_cat") == "stylegan2-lowshot-256-100-shot-grumpy_cat"
    root = str(tmp_path / "runs")
    for previous in ("00000-fewshot-cpu", "00002-other"):
        os.makedirs(os.path.join(root, previous))
    path = run_dir.create_run_dir(root, name("fewshot-cpu", "/data/myfolder"))
    assert os.path.basename(path) == "00003-fewshot-cpu-myfolder"


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


def test_none_is_a_value_for_the_keys_that_accept_it():
    # A 10 % preset with subset_size none trains on the whole split; batch_size None stays "not set".
    config = experiment.resolve_config("biggan-cifar10-10pct", subset_size=None, batch_size=None)
    assert (config["subset_size"], config["batch_size"]) == (None, 50)
    assert experiment.resolve_config("biggan-cifar10-10pct")["subset_size"] == 5_000
    # The first-N subset of Chen et al.'s ticket presets survives a preset and a saved configuration.
    ticket = experiment.resolve_config("sngan-cifar10-10pct-ticket")
    assert (ticket["subset_size"], ticket["subset_seed"]) == (5_000, None)
    assert experiment.resolve_config("sngan-cifar10-10pct-ticket", subset_seed=0)["subset_seed"] == 0
    saved = experiment.resolve_config("biggan-cifar10-10pct", subset_size=None)
    assert experiment.resolve_config(base=saved)["subset_size"] is None  # not the preset's 5000


def test_a_saved_configuration_reruns_and_overrides_still_apply(tmp_path):
    saved = experiment.resolve_config(
        "fashion-mnist-1pct", steps=500, seed=4, cr_weight=5.0, network_kwargs={"width": 8}
    )
    path = tmp_path / "config.json"
    run_dir.write_json(str(path), saved)
    base = config_lib.load_config_file(str(path))
    assert experiment.resolve_config(base=base) == saved  # the file's preset fills nothing: every key is there
    assert experiment.resolve_config(base=base, seed=5, lr=1e-3) == dict(saved, seed=5, g_lr=1e-3, d_lr=1e-3)
    # A config.json written before keys were added: the missing keys take their defaults.
    old = {k: v for k, v in saved.items() if k not in ("adam_epsilon", "lecam_decay", "r1_through_augment")}
    assert experiment.resolve_config(base=old) == dict(
        saved, adam_epsilon=1e-7, lecam_decay=0.9, r1_through_augment=True
    )


def test_a_partial_configuration_file_starts_from_its_preset():
    partial = {"preset": "sngan-cifar10", "steps": 77, "network_kwargs": {"g_width": 64}}
    expected = experiment.resolve_config("sngan-cifar10", steps=77, network_kwargs={"g_width": 64})
    assert experiment.resolve_config(base=partial) == expected
    assert expected["network_kwargs"]["d_width"] == 128  # merged over the network preset's kwargs
    # An explicit preset replaces the file's; the file's values still apply over it.
    assert experiment.resolve_config("fewshot-cpu", base={"preset": "sngan-cifar10", "steps": 77}) == (
        experiment.resolve_config("fewshot-cpu", steps=77)
    )
    assert experiment.resolve_config(base={"steps": 77})["preset"] == presets_lib.DEFAULT_PRESET


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object of configuration keys, got list"),
        ('{"stepz": 5}', "has unknown key(s) ['stepz']. Expected keys of ["),
    ],
)
def test_bad_configuration_files_name_the_path(tmp_path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as info:
        config_lib.load_config_file(str(path))
    assert f"Configuration file {str(path)!r}" in str(info.value) and message in str(info.value)


def test_resume_allows_exactly_the_resumable_keys(tmp_path):
    workdir = tmp_path / "runs"
    folder = run_dir.create_run_dir(str(workdir), "fewshot-cpu")
    saved = experiment.resolve_config("fewshot-cpu", steps=300, log_every=50)
    old = {k: v for k, v in saved.items() if k not in ("ada_kimg", "lecam_start_step")}  # an older config.json
    run_dir.write_json(os.path.join(folder, run_dir.CONFIG_FILE), old)
    changed = dict(steps=450, log_every=30, eval_every=70, checkpoint_every=90, fid_samples=0, fid_batch_size=8)
    changed.update(grid_size=4, strategy="mirrored", jit_compile=False)
    assert sorted(changed) == sorted(config_lib.RESUMABLE_KEYS)
    assert experiment.resume_config(str(workdir), **changed) == dict(saved, **changed)
    assert experiment.resume_config(str(workdir), ada_kimg=500.0, lr=saved["g_lr"]) == saved  # same values: no change
    with pytest.raises(ValueError) as info:
        experiment.resume_config(str(workdir), seed=3, adam_epsilon=1e-8)
    assert str(info.value) == (
        f"Cannot change adam_epsilon=1e-08, seed=3 when resuming {folder!r} (saved: adam_epsilon=1e-07, seed=0). "
        f"Only {list(config_lib.RESUMABLE_KEYS)} may change on resume."
    )
    with pytest.raises(ValueError, match=r"^log_every must be an integer >= 1, got 0\.$"):
        experiment.resume_config(str(workdir), log_every=0)


def test_check_resume_compares_values_as_json_does():
    saved = experiment.resolve_config("fewshot-cpu")
    config_lib.check_resume(saved, dict(saved, ada_kimg=500), "run")  # 500 == 500.0
    config_lib.check_resume(json.loads(json.dumps(saved)), saved, "run")
    with pytest.raises(ValueError, match=r"Cannot change mirror=1 when resuming 'run' \(saved: mirror=True\)"):
        config_lib.check_resume(saved, dict(saved, mirror=1), "run")
