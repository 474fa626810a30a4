"""`python -m train` flags: dry runs of every preset, overrides, and early failures naming the value."""

import json
import os
import subprocess
import sys

import pytest
from absl import app

from tf_diffaug import experiment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def call_main(argv, environ=None):
    """Parses `argv` into absl's FLAGS and calls `train.main.main` in this process."""
    from train import main as cli

    cli.FLAGS.unparse_flags()
    cli.FLAGS(["train"] + list(argv))
    if environ is not None:
        return cli.config_from_flags(cli.FLAGS, environ=environ)
    return cli.main(["train"])


@pytest.mark.parametrize("preset", sorted(experiment.PRESETS))
def test_dry_run_of_every_preset_prints_the_resolved_config(preset, capsys, tmp_path):
    config = call_main([f"--preset={preset}", "--dry_run", f"--workdir={tmp_path}"])
    out = capsys.readouterr().out
    assert config == experiment.resolve_config(preset)
    assert json.loads(out[: out.index("\nDry run:")]) == config
    assert os.listdir(tmp_path) == []  # a dry run writes nothing


def test_flags_override_the_preset(tmp_path):
    config = call_main(
        [
            "--preset=sngan-cifar10",
            "--dry_run",
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
        ]
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
        (["--network_kwargs=[1]"], "--network_kwargs must be a JSON object"),
        (["--resume"], "No run folder (NNNNN-<preset>) to resume"),
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


def test_multiworker_needs_tf_config(tmp_path):
    with pytest.raises(app.UsageError, match="--strategy=multiworker needs the TF_CONFIG"):
        call_main(["--strategy=multiworker", f"--workdir={tmp_path}"], environ={})
    config = call_main(["--strategy=multiworker", f"--workdir={tmp_path}"], environ={"TF_CONFIG": "{}"})
    assert config["strategy"] == "multiworker"


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
    assert out.returncode == 0, out.stderr[-2000:]
    printed = json.loads(out.stdout[: out.stdout.index("\nDry run:")])
    assert printed == experiment.resolve_config("biggan-cifar10-10pct", steps=5000)
    assert printed["split"] == "train[:10%]"


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
