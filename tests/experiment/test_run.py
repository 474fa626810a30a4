"""End-to-end runs on a tiny image folder: every artefact of a run, schedules whose intervals do not
divide, resume after SIGKILL and with other intervals, and the GAN each configuration key builds.

The folder holds 8 real emoji faces at 32x32; the DCGAN is shrunk (`width=8`) so a step costs
milliseconds. Artefacts are checked against values recomputed another way: FID from the saved
reference statistics and freshly generated samples, the sample grid from the final EMA generator,
TensorBoard scalars against metrics.jsonl, checkpoint weights against the trained model.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

import tf_diffaug as td
from tests.experiment import command_line
from tests.experiment.command_line import REPO
from tests.helpers import processes
from tf_diffaug import experiment
from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import driver

TINY_NET = {"batch_size": 4, "network_kwargs": {"width": 8}, "fid_batch_size": 4, "grid_size": 4}
from tests.experiment.tiny import TINY  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(image_folder, inception, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("runs"))
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=2, eval_every=2, checkpoint_every=1, fid_samples=4, **TINY
    )
    stream = io.StringIO()
    result = experiment.run(config, workdir, verbose=0, stream=stream, inception=inception)
    return config, result, stream.getvalue()


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_run_folder_config_and_metrics(tiny_run):
    config, result, out = tiny_run
    run_dir = result["run_dir"]
    # The preset's name, then the dataset's: the folder is not the preset's emoji-faces.
    assert os.path.basename(run_dir) == f"00000-fewshot-cpu-{os.path.basename(config['dataset'])}"
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f) == json.loads(json.dumps(config))
    records = _records(run_dir)
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert np.isfinite([record["d_loss"], record["g_loss"]]).all()
        assert record["aug_p"] == 1.0  # fixed DiffAugment: every sample augmented
    assert "fid" not in records[0] and records[1]["fid"] == result["fid"] and records[1]["kid"] == result["kid"]
    assert out.startswith(f"data: 8 images (folder '{config['dataset']}' train)\n")  # the image count first
    assert f"Run folder: {run_dir}" in out
    assert f"FID {result['fid']:.2f}, KID {result['kid']:.4f}" in out
    assert f"Last sample grid: {result['grid']}" in out


def _frechet_distance_numpy(a, b):
    """FID of two small feature sets from first principles: the means, the covariance traces and
    tr((S_a S_b)^(1/2)) = nuclear norm of A_c B_c^T / sqrt((n_a - 1)(n_b - 1)) (A_c, B_c centred)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a_c, b_c = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.svd(a_c @ b_c.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    diff = a.mean(0) - b.mean(0)
    return diff @ diff + (a_c**2).sum() / (len(a) - 1) + (b_c**2).sum() / (len(b) - 1) - 2 * cross


def test_fid_matches_recomputation(tiny_run, inception):
    config, result, _ = tiny_run
    gan = result["model"]
    reference = td.metrics.FeatureStatistics.load(os.path.join(result["run_dir"], "fid_reference.npz"))
    real = inception(td.data.load_array(config["dataset"], resolution=32), batch_size=8)
    np.testing.assert_allclose(reference.features, real, rtol=1e-4, atol=1e-4)
    # FIDCallback draws its samples with seed `seed + chunk index` (one chunk here).
    images = td.metrics.to_uint8(gan.generate(4, use_ema=True, seed=config["seed"] + 1_000_003))
    fake = inception(images, batch_size=4)
    assert _frechet_distance_numpy(real, fake) == pytest.approx(result["fid"], rel=1e-4)


def test_sample_grids_show_the_ema_generator(tiny_run):
    config, result, _ = tiny_run
    samples = os.path.join(result["run_dir"], "samples")
    assert sorted(os.listdir(samples)) == [
        "augment-000001.png",
        "augment-000002.png",
        "reals.png",
        "step-000001.png",
        "step-000002.png",
    ]
    assert result["grid"] == os.path.join(samples, "step-000002.png")
    grid = np.asarray(Image.open(result["grid"]))
    images = td.metrics.to_uint8(result["model"].generate(4, use_ema=True, seed=config["seed"] + 2_000_003))
    pad = 2  # td.gan.SampleGrid's black border
    assert grid.shape == (2 * 32 + 3 * pad, 2 * 32 + 3 * pad, 3)
    for index, image in enumerate(images):
        top, left = pad + (index // 2) * (32 + pad), pad + (index % 2) * (32 + pad)
        np.testing.assert_array_equal(grid[top : top + 32, left : left + 32], image)


def test_tensorboard_scalars_match_metrics_jsonl(tiny_run):
    import tensorflow as tf

    _, result, _ = tiny_run
    train_dir = os.path.join(result["run_dir"], "tensorboard", "train")
    values = {}
    for name in os.listdir(train_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(train_dir, name)):
            for value in event.summary.value:
                if value.tag == "epoch_d_loss":
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    logged = [r["d_loss"] for r in _records(result["run_dir"])]
    assert [values[k] for k in sorted(values)] == pytest.approx(logged, rel=1e-6)


def test_checkpoint_restores_the_trained_weights(tiny_run):
    config, result, _ = tiny_run
    ckpt_dir = os.path.join(result["run_dir"], "checkpoints")
    state = checkpoint_lib.read_state(ckpt_dir)
    assert (state["step"], state["epoch"]) == (2, 2)
    assert sorted(f for f in os.listdir(ckpt_dir) if f.endswith(".h5")) == [
        "ckpt-000001.weights.h5",
        "ckpt-000002.weights.h5",
    ]
    fresh = driver.build_gan(config)
    checkpoint_lib.restore_checkpoint(fresh, ckpt_dir)
    trained = result["model"]
    for a, b in zip(
        fresh.ema_generator.weights + fresh.d_optimizer.variables,
        trained.ema_generator.weights + trained.d_optimizer.variables,
    ):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert int(keras.ops.convert_to_numpy(fresh.step_counter)) == 2


def test_curves_png(tiny_run):
    _, result, _ = tiny_run
    image = np.asarray(Image.open(result["curves"]))
    assert image.ndim == 3 and image.shape[0] >= 600 and image.std() > 0


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_checkpoint(image_folder, tmp_path, capsys):
    workdir = str(tmp_path / "runs")
    steps = 40
    command = [
        "timeout",
        "-k",
        "5",
        "170",
        sys.executable,
        "-m",
        "train",
        f"--dataset={image_folder}",
        "--resolution=32",
        "--batch_size=4",
        '--network_kwargs={"width": 8}',
        f"--steps={steps}",
        "--log_every=1",
        "--checkpoint_every=3",
        f"--eval_every={steps}",
        "--fid_samples=0",
        f"--workdir={workdir}",
    ]
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=processes.environment()
        )
        run_name = f"00000-fewshot-cpu-{os.path.basename(image_folder)}"
        state_path = os.path.join(workdir, run_name, "checkpoints", "state.json")
        deadline = time.time() + 160
        while not os.path.exists(state_path) and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert os.path.exists(state_path), log_path.read_text()[-3000:]
    killed_at = checkpoint_lib.read_state(os.path.dirname(state_path))["step"]
    assert 3 <= killed_at < steps, "the run finished before it could be killed"
    logged_before = [r["step"] for r in _records(os.path.dirname(os.path.dirname(state_path)))]
    assert logged_before[:killed_at] == list(range(1, killed_at + 1))

    result = command_line.call_main(["--resume", f"--workdir={workdir}"])
    out = capsys.readouterr().out
    assert f"Resuming {os.path.dirname(os.path.dirname(state_path))} from step {killed_at}." in out
    assert [r["step"] for r in _records(result["run_dir"])] == list(range(1, steps + 1))
    gan = result["model"]
    # Restored state: a restart from scratch would have counted only steps - killed_at steps.
    assert int(keras.ops.convert_to_numpy(gan.step_counter)) == steps
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == steps
    assert checkpoint_lib.read_state(os.path.dirname(state_path))["step"] == steps
    assert os.listdir(workdir) == [run_name]


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tf_diffaug import experiment
workdir, folder = sys.argv[1], sys.argv[2]
config = experiment.resolve_config("fewshot-cpu", dataset=folder, resolution=32, batch_size=4, steps=8,
                                   log_every=1, eval_every=8, checkpoint_every=4, fid_samples=0, grid_size=4,
                                   network_kwargs={"width": 8}, strategy="mirrored", adaptive=True)
first = experiment.run(config, workdir, verbose=0, stream=None)
p_saved = float(keras.ops.convert_to_numpy(first["model"].augment.p))
resumed = experiment.run(experiment.resume_config(workdir, steps=10), workdir, resume=True, verbose=0, stream=None)
gan = resumed["model"]
print(json.dumps({"replicas": gan.distribute_strategy.num_replicas_in_sync, "p_saved": p_saved,
                  "step": int(keras.ops.convert_to_numpy(gan.step_counter))}))
"""


@pytest.mark.slow
def test_mirrored_adaptive_run_resumes_with_its_p(image_folder, tmp_path):
    workdir = str(tmp_path / "runs")
    out = subprocess.run(
        ["timeout", "-k", "5", "170", sys.executable, "-c", MIRRORED_SCRIPT, workdir, image_folder],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=processes.environment(),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["replicas"] == 2 and summary["step"] == 10
    records = _records(os.path.join(workdir, f"00000-fewshot-cpu-{os.path.basename(image_folder)}"))
    assert [r["step"] for r in records] == list(range(1, 11))
    # ADA rule (DESIGN.md): p moves by (ada_interval * global batch) / 500k per adjustment, from 0.
    quantum = 4 * 4 / 500_000
    p = [r["aug_p"] for r in records]
    assert p[7] == pytest.approx(summary["p_saved"]) and summary["p_saved"] > 0
    assert all(abs(v / quantum - round(v / quantum)) < 1e-3 for v in p)
    assert p[8] == pytest.approx(p[7])  # the resumed run starts from the restored p, not from 0


def test_lottery_ticket_run_prunes_trains_sparse_and_resumes_with_its_masks(image_folder, tmp_path, capsys, recwarn):
    # Stage I (2 IMP rounds of 2 steps, 20 % per round) then stage II with AdvAug, through the CLI.
    workdir = str(tmp_path / "runs")
    argv = [
        f"--dataset={image_folder}",
        "--resolution=32",
        "--batch_size=4",
        '--network_kwargs={"width": 8}',
        "--log_every=1",
        "--checkpoint_every=1",
        "--fid_samples=0",
        "--prune_rounds=2",
        "--prune_steps=2",
        "--rewind=init",
        "--advaug_gamma=0.01",
        f"--workdir={workdir}",
    ]
    first = command_line.call_main(argv + ["--steps=2"])
    out = capsys.readouterr().out
    run_dir = first["run_dir"]
    ticket_dir = os.path.join(run_dir, "ticket")
    masks = td.lottery.PruningMasks(first["model"].generator)  # reads back the attached masks
    pruned, total = masks.counts()
    # Global magnitude pruning removes floor-rounded 20 % of the survivors per round (one weight of slack).
    assert abs(pruned - (total - 0.8 * (0.8 * total))) <= 2
    assert first["generator_sparsity"] == pytest.approx(pruned / total)
    assert f"Lottery ticket: G sparsity {pruned / total:.2%}" in out
    with np.load(os.path.join(ticket_dir, "generator_masks.npz")) as saved:
        for i, mask in enumerate(masks.masks):
            np.testing.assert_array_equal(saved[f"mask_{i}"], mask.astype(bool))
    with open(os.path.join(ticket_dir, "ticket.json")) as f:
        record = json.load(f)
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    assert record["rounds"][-1]["generator_sparsity"] == pytest.approx(pruned / total)
    assert [r["step"] for r in _records(run_dir)] == [1, 2]  # stage I is not part of the run's steps
    gan = first["model"]
    assert int(keras.ops.convert_to_numpy(gan.step_counter)) == 2  # rewound to 0 after stage I, then 2 steps
    assert gan.advaug_gamma == pytest.approx(0.01)
    for model in (gan.generator, gan.ema_generator):
        for variable, mask in zip(td.lottery.PruningMasks(model).kernels, masks.masks):
            assert np.all(keras.ops.convert_to_numpy(variable)[mask == 0] == 0.0)

    resumed = command_line.call_main(["--resume", f"--workdir={workdir}", "--steps=4"])
    out = capsys.readouterr().out
    assert "Ticket reloaded from" in out and "Finding a lottery ticket" not in out
    assert [r["step"] for r in _records(run_dir)] == [1, 2, 3, 4]
    again = td.lottery.PruningMasks(resumed["model"].generator)
    for before, after, variable in zip(masks.masks, again.masks, again.kernels):
        np.testing.assert_array_equal(before, after)
        assert np.all(keras.ops.convert_to_numpy(variable)[after == 0] == 0.0)
    assert int(keras.ops.convert_to_numpy(resumed["model"].step_counter)) == 4
    # Every fit (stage I rounds, the resume's warm-up step, training) passed shuffle=False for its tf.data
    # pipeline: Keras' "`shuffle=True` was passed, but will be ignored" never came.
    assert [str(w.message) for w in recwarn if "shuffle" in str(w.message)] == []


def _tensorboard_scalars(folder, tag):
    """{step: value} of a scalar tag in the TensorBoard event files of `folder`."""
    import tensorflow as tf

    values = {}
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_a_schedule_whose_intervals_do_not_divide_ends_with_every_event(inception, tmp_path):
    # The command: the last step (130) is logged, evaluated and checkpointed.
    flags = "--steps=130 --log_every=20 --eval_every=50 --checkpoint_every=40 --fid_samples=16 --batch_size=8"
    config = command_line.call_main(flags.split() + ["--resolution=32"], environ={})
    workdir = str(tmp_path / "runs")
    result = experiment.run(config, workdir, verbose=0, stream=io.StringIO(), inception=inception)
    run_dir = result["run_dir"]
    records = _records(run_dir)
    assert [r["step"] for r in records if "d_loss" in r] == [20, 40, 60, 80, 100, 120, 130]
    assert [r["step"] for r in records if "fid" in r] == [50, 100, 130]
    assert [r["step"] for r in records] == [20, 40, 50, 60, 80, 100, 120, 130]
    # step 50: an evaluation, not a log point (with the best FID so far)
    assert set(records[2]) == {"step", "fid", "kid", "fid_best", "fid_best_step", "time"}
    assert result["step"] == 130 and result["fid"] == records[-1]["fid"] and np.isfinite(result["fid"])
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    assert checkpoint_lib.read_state(ckpt_dir)["step"] == 130
    assert sorted(f for f in os.listdir(ckpt_dir) if f.endswith(".h5")) == [
        "ckpt-000120.weights.h5",
        "ckpt-000130.weights.h5",
    ]
    assert sorted(os.listdir(os.path.join(run_dir, "samples"))) == [
        *(f"augment-{step:06d}.png" for step in (40, 80, 120, 130)),
        "reals.png",
        "step-000040.png",
        "step-000080.png",
        "step-000120.png",
        "step-000130.png",
    ]
    assert int(keras.ops.convert_to_numpy(result["model"].g_optimizer.iterations)) == 130
    # Keras ran epochs of gcd(130, 20, 50, 40) = 10 steps: TensorBoard holds one d_loss per epoch (the
    # epoch mean). Each logged d_loss is the mean of the epoch means of its segment (equal lengths).
    epochs = _tensorboard_scalars(os.path.join(run_dir, "tensorboard", "train"), "epoch_d_loss")
    assert sorted(epochs) == list(range(13))
    segments = {20: [0, 1], 40: [2, 3], 60: [4, 5], 80: [6, 7], 100: [8, 9], 120: [10, 11], 130: [12]}
    for record in records:
        if "d_loss" in record:
            expected = np.mean([epochs[e] for e in segments[record["step"]]])
            assert record["d_loss"] == pytest.approx(expected, rel=1e-5), record["step"]
    # The FID callback ran after epochs 5, 10 and 13 (steps 50, 100, 130) and nowhere else.
    fid_scalars = _tensorboard_scalars(os.path.join(run_dir, "tensorboard", "fid"), "fid")
    assert sorted(fid_scalars) == [5, 10, 13]
    assert [fid_scalars[e] for e in (5, 10, 13)] == pytest.approx([r["fid"] for r in records if "fid" in r])


def test_resume_with_other_intervals_continues_on_the_new_schedule(image_folder, tmp_path):
    workdir = str(tmp_path / "runs")
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=60, log_every=20, checkpoint_every=40, fid_samples=0, **TINY_NET
    )
    experiment.run(config, workdir, verbose=0, stream=None)
    run_dir = os.path.join(workdir, f"00000-fewshot-cpu-{os.path.basename(image_folder)}")
    assert checkpoint_lib.read_state(os.path.join(run_dir, "checkpoints"))["step"] == 60
    # 110 steps logged every 25: epochs of gcd(110, 25, 40, 60) = 5 steps from the checkpoint at 60.
    resumed = experiment.run(
        experiment.resume_config(workdir, steps=110, log_every=25), workdir, resume=True, verbose=0, stream=None
    )
    assert [r["step"] for r in _records(run_dir)] == [20, 40, 60, 75, 100, 110]
    state = checkpoint_lib.read_state(os.path.join(run_dir, "checkpoints"))
    assert (state["step"], state["epoch"]) == (110, 22)
    assert sorted(f for f in os.listdir(os.path.join(run_dir, "checkpoints")) if f.endswith(".h5")) == [
        "ckpt-000080.weights.h5",
        "ckpt-000110.weights.h5",
    ]
    assert int(keras.ops.convert_to_numpy(resumed["model"].step_counter)) == 110
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    assert (saved["steps"], saved["log_every"]) == (110, 25) and list(saved) == list(experiment.DEFAULTS)


def test_build_gan_passes_every_setting_to_the_gan_and_its_optimizers(image_folder):
    settings = dict(
        latent_dim=48,
        g_lr=1e-3,
        d_lr=4e-4,
        beta_1=0.1,
        beta_2=0.95,
        adam_epsilon=1e-5,
        d_steps=2,
        r1_gamma=5.0,
        r1_through_augment=False,
        cr_weight=3.0,
        lecam_weight=0.2,
        lecam_decay=0.9,
        lecam_start_step=7,
        ema_decay=0.8,
        ema_start_step=11,
        advaug_gamma=0.01,
        adaptive=True,
        ada_target=0.7,
        ada_interval=6,
        ada_kimg=123.0,
        augment_mode="real_only",
        loss="least_squares",
        jit_compile=False,
        seed=5,
    )
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, resolution=32, **TINY_NET, **settings)
    gan = driver.build_gan(config)
    for optimizer, lr in ((gan.g_optimizer, 1e-3), (gan.d_optimizer, 4e-4)):
        assert isinstance(optimizer, keras.optimizers.Adam)
        values = (float(keras.ops.convert_to_numpy(optimizer.learning_rate)), optimizer.beta_1, optimizer.beta_2)
        assert values == pytest.approx((lr, 0.1, 0.95)) and optimizer.epsilon == 1e-5
    compiled = gan.get_compile_config()
    for name in ("d_steps", "r1_gamma", "r1_through_augment", "cr_weight", "lecam_weight", "lecam_decay"):
        assert compiled[name] == settings[name], name
    for name in ("lecam_start_step", "ada_target", "ada_interval", "ada_kimg"):
        assert compiled[name] == settings[name], name
    assert compiled["loss"] == "least_squares"
    assert (gan.latent_dim, gan.ema_decay, gan.ema_start_step, gan.advaug_gamma, gan.seed) == (48, 0.8, 11, 0.01, 5)
    assert gan.augment_mode == "real_only" and isinstance(gan.augment, td.augment.AdaptiveAugment)
    assert gan.generator.inputs[0].shape[-1] == 48 and gan.jit_compile is False
    assert {"r1_penalty", "cr_penalty", "lecam_penalty"} <= {m.name for m in gan.metrics}
