"""`python -m train` flags: every key is a flag, dry runs of every preset, `--config`, overrides, and
early failures naming the value."""

import json
import os
import subprocess
import sys

import pytest
from absl import app

from tests.experiment.command_line import REPO, call_main
from tests.helpers import processes
from tf_diffaug import experiment
from tf_diffaug.experiment import schema

# What the data check finds on this machine: no tfds set is prepared here, Fashion-MNIST comes from
# Debian's files, the low-shot preset names a folder that does not exist.
DATA_LINES = {
    ("emoji-faces", "train"): "data: 112 images (emoji-faces train)",
    (
        "fashion-mnist",
        "train[:1%]",
    ): "data: 600 images (fashion-mnist train[:1%], from /usr/share/datasets/fashion-mnist)",
}


def expected_data_check(config):
    """`(True, data line)` or `(False, start of the error)` for a preset's dataset, by the rules above."""
    dataset = config["dataset"]
    if (dataset, config["split"]) in DATA_LINES:
        return True, DATA_LINES[dataset, config["split"]]
    if dataset == "cifar10":
        return False, "The tfds dataset 'cifar10' is not prepared in"
    assert "/" in dataset, f"no expectation for dataset {dataset!r}"
    return False, f"Dataset folder {dataset!r} does not exist."


@pytest.mark.parametrize("preset", sorted(experiment.PRESETS))
def test_dry_run_of_every_preset_prints_the_resolved_config_and_checks_its_data(preset, capsys, tmp_path):
    opens, expected = expected_data_check(experiment.resolve_config(preset))
    argv = [f"--preset={preset}", "--dry_run", f"--workdir={tmp_path}"]
    if opens:
        config = call_main(argv)
        out = capsys.readouterr().out
        assert out.splitlines()[-1] == expected
    else:  # the configuration is printed, then the data check fails with one message
        with pytest.raises(app.UsageError) as info:
            call_main(argv)
        out = capsys.readouterr().out
        assert str(info.value).startswith("Dry run: the data cannot be opened. " + expected)
        config = json.loads(out[: out.index("\nDry run:")])
    assert config == experiment.resolve_config(preset)
    assert json.loads(out[: out.index("\nDry run:")]) == config
    assert os.listdir(tmp_path) == []  # a dry run writes nothing


def test_flags_override_the_preset(tmp_path):
    config = call_main(
        [
            "--preset=sngan-cifar10",
            "--steps=1000",
            "--log_every=100",
            "--eval_every=500",
            "--checkpoint_every=200",
            "--lr=1e-3",
            "--policy=cutout",
            "--augment_mode=d_only",
            "--adaptive",
            "--batch_size=8",
            "--fid_samples=64",
            "--seed=3",
            "--mixed_precision",
            "--strategy=mirrored",
            "--loss=non_saturating",
            '--network_kwargs={"g_width": 32}',
            f"--workdir={tmp_path}",
        ],
        environ={},  # the configuration only: cifar10 is not prepared here, so a dry run fails its data check
    )
    expected = experiment.resolve_config(
        "sngan-cifar10",
        steps=1000,
        log_every=100,
        eval_every=500,
        checkpoint_every=200,
        g_lr=1e-3,
        d_lr=1e-3,
        policy="cutout",
        augment_mode="d_only",
        adaptive=True,
        batch_size=8,
        fid_samples=64,
        seed=3,
        mixed_precision=True,
        strategy="mirrored",
        loss="non_saturating",
    )
    expected["network_kwargs"]["g_width"] = 32
    assert config == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--adaptive", "--augment_mode=none"],
            "adaptive=True needs an augmentation to adapt, got augment_mode 'none'",
        ),
        (["--resolution=48"], "resolution 48 is not supported by network 'dcgan'"),
        (["--batch_size=500"], "batch_size 500 is larger than dataset 'emoji-faces'"),
        (["--preset=fewshot"], "Unknown preset 'fewshot'. Expected one of ['biggan-cifar10'"),
        (["--policy=color,flip"], "Unknown op 'flip' in policy 'color,flip'"),
        (["--network_kwargs=[1]"], "--network_kwargs='[1]' is not a JSON object (dict)."),
        (["--network_kwargs={width: 8}"], "--network_kwargs='{width: 8}' is not a JSON object (dict)."),
        (["--resume"], "No run folder (NNNNN-<preset>) to resume"),
        (["--steps=4e2"], "--steps='4e2' is not an integer >= 1."),
        (["--crop=square"], "Unknown crop 'square'. Expected one of ['center', 'pad', 'none']."),
        (["--alpha_background=grey"], "Unknown alpha_background 'grey'. Expected one of ['white', 'black']."),
        (["--fid_resize=bicubic"], "Unknown fid_resize 'bicubic'. Expected one of ['legacy_tensorflow', 'clean']."),
        (["--freeze_d=-1"], "freeze_d must be an integer >= 0, got -1."),
        (["--conditional", "--dataset=emoji-faces"], "conditional=True needs a dataset with class labels"),
        (["--lr=fast"], "--lr='fast' is not a number > 0."),
        (["--steps=0"], "steps must be an integer >= 1, got 0."),
        (["--lecam_decay=1"], "lecam_decay must be a number in [0, 1), got 1.0."),
        (["--cr_weight=10", "--augment_mode=none"], "cr_weight=10.0 needs an augmentation of the reals"),
        (["--config=no/such/config.json"], "Configuration file 'no/such/config.json' does not exist."),
        (["--resume", "--config=x.json"], "--config='x.json' cannot be combined with --resume"),
        (["--jit_compile=xla"], "--jit_compile='xla' is not 'auto' or True or False."),
        (["--dataset=no-such-set"], "Unknown dataset 'no-such-set'"),
        (["--dataset=cifar10", "--resolution=32"], "The tfds dataset 'cifar10' is not prepared"),
        (["--dataset=./no/such/folder"], "Dataset folder './no/such/folder' does not exist"),
        (['--network_kwargs={"widht": 8}'], "Unknown option(s) ['widht'] for network 'dcgan'"),
    ],
)
def test_inconsistent_flags_fail_before_any_work(argv, message, tmp_path):
    workdir = tmp_path / "runs"
    with pytest.raises(app.UsageError) as info:
        call_main(argv + [f"--workdir={workdir}"])
    assert message in str(info.value)
    assert not workdir.exists()


def _faces(folder, count=3, size=8):
    """`count` small PNG images (real emoji faces) in `folder`; returns its path as a string."""
    from PIL import Image

    import tf_diffaug as td

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(td.data.load_array("emoji-faces", resolution=size)[:count]):
        Image.fromarray(image).save(folder / f"face{i}.png")
    return str(folder)


def _empty_folder(tmp):
    (tmp / "empty").mkdir()
    return [f"--dataset={tmp / 'empty'}"], f"No image files in folder '{tmp / 'empty'}' (searched recursively"


def _notes_only(tmp):
    (tmp / "notes").mkdir()
    (tmp / "notes" / "notes.txt").write_text("not an image")
    return [f"--dataset={tmp / 'notes'}"], "1 other file(s) skipped, e.g. 'notes.txt')."


def _dataset_file(tmp):
    (tmp / "one.png").write_bytes(b"")
    return [f"--dataset={tmp / 'one.png'}"], f"Dataset '{tmp / 'one.png'}' is a file, not a folder of images."


def _workdir_file(tmp):
    (tmp / "runs.txt").write_text("")
    message = f"--workdir '{tmp / 'runs.txt'}' is a file, not a folder. Expected a folder for the run folders"
    return [f"--workdir={tmp / 'runs.txt'}"], message


def _workdir_file_resume(tmp):
    argv, message = _workdir_file(tmp)
    return argv + ["--resume"], message


def _workdir_below_a_file(tmp):
    (tmp / "runs.txt").write_text("")
    runs = tmp / "runs.txt" / "runs"
    return [f"--workdir={runs}"], f"--workdir '{runs}' cannot be created: '{tmp / 'runs.txt'}' is a file, not a folder."


def _loose_images_with_classes(tmp):
    folder = _faces(tmp / "loose")
    return [f"--dataset={folder}", "--num_classes=3", "--batch_size=2"], "needs every image inside a class sub-folder"


def _classes_mismatch(tmp):
    for name in ("cats", "dogs"):
        _faces(tmp / "pets" / name, count=2)
    message = (
        f"num_classes=3 does not match the 2 class sub-folders ['cats', 'dogs'] of folder '{tmp / 'pets'}'. "
        "Expected num_classes=2 (or none to train unconditionally)."
    )
    return [f"--dataset={tmp / 'pets'}", "--num_classes=3", "--batch_size=2"], message


def _unprepared_tfds(tmp):
    return ["--dataset=cifar10", "--resolution=32"], "The tfds dataset 'cifar10' is not prepared in"


def _subset_too_large(tmp):
    return ["--subset_size=500"], (
        "subset_size 500 is larger than dataset 'emoji-faces' split 'train' (112 images). "
        "Expected subset_size <= 112 (or none: all of them)."
    )


BAD_INPUTS = {
    "subset larger than the split": _subset_too_large,
    "empty folder": _empty_folder,
    "folder of other files": _notes_only,
    "dataset is a file": _dataset_file,
    "workdir is a file": _workdir_file,
    "workdir is a file, resume": _workdir_file_resume,
    "workdir below a file": _workdir_below_a_file,
    "class folders: loose images": _loose_images_with_classes,
    "class folders: num_classes": _classes_mismatch,
    "tfds set not prepared": _unprepared_tfds,
}


# The cases the data check (not the configuration's validation or the workdir check) refuses.
DATA_CHECK_CASES = {case for case in BAD_INPUTS if "workdir" not in case and "subset" not in case}


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "run"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_and_workdirs_fail_with_one_message_before_any_work(case, dry_run, tmp_path):
    argv, message = BAD_INPUTS[case](tmp_path)
    if not any(a.startswith("--workdir") for a in argv):
        argv.append(f"--workdir={tmp_path / 'runs'}")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(app.UsageError) as info:
        call_main(argv + (["--dry_run"] if dry_run else []))
    assert message in str(info.value)
    if dry_run and case in DATA_CHECK_CASES:  # the configuration passed; the data check refused it
        assert str(info.value).startswith("Dry run: the data cannot be opened. ")
    assert sorted(os.listdir(tmp_path)) == before  # no run folder, no workdir


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_another_keras_backend_is_refused_naming_keras_backend(backend, tmp_path):
    with pytest.raises(app.UsageError) as info:
        call_main([f"--workdir={tmp_path / 'runs'}"], environ={"KERAS_BACKEND": backend})
    assert str(info.value) == (
        f"KERAS_BACKEND is {backend!r}, but training needs Keras' TensorFlow backend (tf.distribute, "
        "tf.data); from Python, td.GAN also trains on JAX. Run with KERAS_BACKEND=tensorflow, or unset it."
    )
    assert call_main([f"--workdir={tmp_path}"], environ={"KERAS_BACKEND": "tensorflow"})["preset"] == "fewshot-cpu"


def test_a_discriminator_with_two_outputs_per_image_is_refused(tmp_path, monkeypatch):
    import keras

    import tf_diffaug as td

    get = td.networks.get

    def two_logits(*args, **kwargs):  # e.g. a classifier's head where a real/fake score belongs
        generator, discriminator = get(*args, **kwargs)
        features = discriminator.layers[-2].output
        return generator, keras.Model(discriminator.inputs, keras.layers.Dense(2)(features), name="two_logits")

    monkeypatch.setattr(td.networks, "get", two_logits)
    workdir = tmp_path / "runs"
    with pytest.raises(app.UsageError) as info:
        call_main(["--resolution=32", "--batch_size=4", '--network_kwargs={"width": 8}', f"--workdir={workdir}"])
    assert str(info.value) == (
        "The discriminator 'two_logits' outputs shape (None, 2); td.GAN needs one real/fake score per image: "
        "one output of shape (batch, 1) or (batch,)."
    )
    assert not workdir.exists()


def test_dry_run_reports_a_folders_images_and_skipped_files(tmp_path, capsys):
    folder = _faces(tmp_path / "faces", count=5)
    (tmp_path / "faces" / "notes.txt").write_text("")
    call_main([f"--dataset={folder}", "--batch_size=4", "--dry_run", f"--workdir={tmp_path / 'runs'}"])
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"data: 5 images (folder '{folder}' train); 1 file(s) skipped (notes.txt: not an image extension)"
    )


@pytest.mark.slow
def test_the_driver_refuses_a_keras_backend_set_in_keras_json(tmp_path):
    # No KERAS_BACKEND: Keras reads its backend from $KERAS_HOME/keras.json; the driver asks Keras.
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    out = subprocess.run(
        processes.python_command("-m", "train", "--steps=1", f"--workdir={tmp_path / 'runs'}", timeout=200),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=230,
        env={k: v for k, v in processes.environment(KERAS_HOME=str(tmp_path)).items() if k != "KERAS_BACKEND"},
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert (
        "Training needs Keras' TensorFlow backend (tf.distribute, tf.data), but Keras runs on 'jax'. "
        'Set KERAS_BACKEND=tensorflow (or "backend": "tensorflow" in ~/.keras/keras.json); from Python, '
        "td.GAN also trains on JAX, and DiffAugment runs on JAX and torch." in out.stderr
    )
    assert not (tmp_path / "runs").exists()


def test_multiworker_needs_tf_config(tmp_path):
    with pytest.raises(app.UsageError, match="--strategy=multiworker needs the TF_CONFIG"):
        call_main(["--strategy=multiworker", f"--workdir={tmp_path}"], environ={})
    config = call_main(["--strategy=multiworker", f"--workdir={tmp_path}"], environ={"TF_CONFIG": "{}"})
    assert config["strategy"] == "multiworker"


@pytest.mark.slow
def test_python_m_train_dry_run_subprocess(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--preset=biggan-cifar10-10pct",
            "--dry_run",
            "--steps=5000",
            f"--workdir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The configuration is printed, then the data check fails: cifar10 is not prepared on this machine.
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "Dry run: the data cannot be opened. The tfds dataset 'cifar10' is not prepared in" in out.stderr
    printed = json.loads(out.stdout[: out.stdout.index("\nDry run:")])
    assert printed == experiment.resolve_config("biggan-cifar10-10pct", steps=5000)


@pytest.mark.slow
def test_console_script_runs_outside_the_checkout(tmp_path):
    # The installed `tf-diffaug-train` entry point (package `tf_diffaug_train`, not a top-level `train`)
    # resolves the same configuration as `python -m train`, from a folder that is not the checkout.
    from importlib import metadata

    (entry,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "tf-diffaug-train"]
    assert entry.value == "tf_diffaug_train.main:run"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tf_diffaug_train.main import run; sys.argv[0] = 'tf-diffaug-train'; run()",
            "--preset=fashion-mnist-1pct",
            "--dry_run",
            "--steps=6000",
            f"--workdir={tmp_path / 'runs'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    printed = json.loads(out.stdout[: out.stdout.index("\nDry run:")])
    assert printed == experiment.resolve_config("fashion-mnist-1pct", steps=6000)
    assert not (tmp_path / "runs").exists()


# A non-default value for every configuration key, as flag text and as the value it must become.
FLAG_VALUES = {
    "dataset": ("fashion-mnist", "fashion-mnist"),
    "split": ("train[:2%]", "train[:2%]"),
    "subset_size": ("100", 100),
    "subset_seed": ("7", 7),
    "resolution": ("64", 64),
    "channels": ("1", 1),
    "num_classes": ("10", 10),
    "conditional": (None, True),  # fashion-mnist's 10 classes: num_classes 10 matches
    "mirror": (None, True),  # boolean: --mirror
    "crop": ("pad", "pad"),
    "alpha_background": ("black", "black"),
    "network": ("dcgan", "dcgan"),
    "network_preset": ("biggan-cifar", "biggan-cifar"),
    "network_kwargs": ('{"g_width": 8}', None),  # merged over biggan-cifar's: see the test
    "latent_dim": ("64", 64),
    "init_from": ("runs/00000-fewshot-cpu", "runs/00000-fewshot-cpu"),
    "freeze_d": ("2", 2),
    "policy": ("translation", "translation"),
    "augment_mode": ("real_only", "real_only"),
    "adaptive": (None, True),
    "ada_target": ("0.5", 0.5),
    "ada_interval": ("8", 8),
    "ada_kimg": ("100", 100.0),
    "loss": ("wasserstein", "wasserstein"),
    "g_lr": ("1e-3", 1e-3),
    "d_lr": ("4e-4", 4e-4),
    "beta_1": ("0.3", 0.3),
    "beta_2": ("0.99", 0.99),
    "adam_epsilon": ("1e-6", 1e-6),
    "lr_decay": ("none", "none"),  # the preset's sngan-cifar10 decays linearly
    "d_steps": ("2", 2),
    "r1_gamma": ("10", 10.0),
    "r1_through_augment": (None, False),
    "cr_weight": ("10", 10.0),
    "lecam_weight": ("0.3", 0.3),
    "lecam_decay": ("0.95", 0.95),
    "lecam_start_step": ("1000", 1000),
    "ema_decay": ("0.5", 0.5),
    "ema_start_step": ("100", 100),
    "advaug_gamma": ("0.01", 0.01),
    "advaug_g_layer": ("g_block1", "g_block1"),
    "batch_size": ("8", 8),
    "g_batch_size": ("16", 16),
    "steps": ("400", 400),
    "log_every": ("30", 30),
    "eval_every": ("70", 70),
    "checkpoint_every": ("90", 90),
    "fid_samples": ("0", 0),
    "fid_batch_size": ("16", 16),
    "fid_reference_split": ("test[:100]", "test[:100]"),
    "sample_bn_mode": ("train", "train"),
    "fid_resize": ("clean", "clean"),
    "fid_statistics_dir": ("stats", "stats"),
    "grid_size": ("9", 9),
    "prune_rounds": ("2", 2),
    "prune_fraction": ("0.5", 0.5),
    "prune_steps": ("50", 50),
    "prune_scope": ("conv", "conv"),
    "prune_rank_on": ("ema", "ema"),
    "prune_augment_mode": ("d_only", "d_only"),
    "prune_advaug_gamma": ("0.02", 0.02),
    "rewind": ("7", 7),
    "prune_discriminator": (None, True),
    "reset_discriminator": (None, False),
    "preset": ("sngan-cifar10", "sngan-cifar10"),
    "source": ("my notes", "my notes"),
    "strategy": ("mirrored", "mirrored"),
    "mixed_precision": (None, True),
    "jit_compile": ("false", False),
    "seed": ("3", 3),
}


def test_every_configuration_key_is_a_flag_that_sets_it(tmp_path):
    from tf_diffaug import networks

    assert sorted(FLAG_VALUES) == sorted(schema.KEY)
    kwargs = {k: v for k, v in networks.PRESETS["biggan-cifar"]["network_kwargs"].items() if k != "latent_dim"}
    values = dict(FLAG_VALUES, network_kwargs=('{"g_width": 8}', dict(kwargs, g_width=8)))
    argv = [f"--workdir={tmp_path}", "--dry_run"]
    for name, (text, value) in values.items():
        if text is not None:
            argv.append(f"--{name}={text}")
        else:  # an absl boolean: --name or --noname
            argv.append(f"--{name}" if value else f"--no{name}")
    config = call_main(argv)
    assert {name: config[name] for name in values} == {name: value for name, (_, value) in values.items()}
    for name, (_, value) in values.items():  # each one differs from what the preset alone gives
        assert experiment.resolve_config("sngan-cifar10")[name] != value or name == "preset", name


def test_lr_sets_both_rates_and_explicit_rates_win(tmp_path):
    assert (call_main(["--lr=3e-4", "--dry_run"])["g_lr"], call_main(["--lr=3e-4", "--dry_run"])["d_lr"]) == (
        3e-4,
        3e-4,
    )
    config = call_main(["--lr=3e-4", "--d_lr=1e-4", "--dry_run"])
    assert (config["g_lr"], config["d_lr"]) == (3e-4, 1e-4)


def test_config_flag_reruns_a_saved_configuration_and_flags_override_it(tmp_path, capsys):
    saved = experiment.resolve_config("fashion-mnist-1pct", steps=600, seed=2, lecam_weight=0.1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    assert call_main([f"--config={path}", "--dry_run", f"--workdir={tmp_path}"]) == saved
    out = capsys.readouterr().out
    assert json.loads(out[: out.index("\nDry run:")]) == saved
    assert list(json.loads(out[: out.index("\nDry run:")])) == list(schema.KEY)  # printed in schema order
    rerun = call_main([f"--config={path}", "--seed=3", "--lr=1e-3", "--nomirror", "--dry_run"])
    assert rerun == dict(saved, seed=3, g_lr=1e-3, d_lr=1e-3, mirror=False)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"preset": "sngan-cifar10", "steps": 123}))
    assert call_main([f"--config={partial}"], environ={}) == experiment.resolve_config("sngan-cifar10", steps=123)
    assert call_main([f"--config={partial}", "--preset=fewshot-cpu", "--dry_run"]) == experiment.resolve_config(
        "fewshot-cpu", steps=123
    )
    partial.write_text(json.dumps({"steps": 5, "colour": "red"}))
    with pytest.raises(app.UsageError, match=r"Configuration file .* has unknown key\(s\) \['colour'\]"):
        call_main([f"--config={partial}", "--dry_run"])


def test_steps_no_longer_need_to_be_a_multiple_of_eval_every(tmp_path):
    # Measured on main before issue 12: "steps=400 must be a multiple of eval_every=1500".
    config = call_main(["--steps=400", "--batch_size=8", "--dry_run", f"--workdir={tmp_path}"])
    assert (config["steps"], config["eval_every"], config["batch_size"]) == (400, 1500, 8)


def test_list_presets_prints_each_with_its_description(capsys):
    call_main(["--list_presets"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()[1:]
    assert [line.split()[0] for line in lines] == sorted(experiment.PRESETS)
    for line, name in zip(lines, sorted(experiment.PRESETS)):
        assert line.rstrip().endswith(experiment.PRESETS[name]["description"])
    assert "fewshot-cpu (default)" in out
