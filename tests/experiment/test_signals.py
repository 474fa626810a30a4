"""SIGINT and SIGTERM stop `python -m train` (real subprocesses under `timeout -k`) with a checkpoint at the
step reached, exit 130/143 with the resume command, and a resume continues from exactly that step.

What is compared: a resumed run reseeds its data pipeline with the resume step (tf.data cannot restore
a shuffle buffer; see the driver's docstring), so a run stopped by SIGTERM at step j and resumed is
compared with a reference run that trains to step j, ends there with its last-step checkpoint and is
resumed from it by the ordinary mechanism: the checkpoints at j (the signal's and the reference's)
and at the end must be equal in every entry of the weights file (G, D, EMA G, both optimizers'
iterations and Adam slots, the step counter, every seed-generator state), read back with h5py. A
resume in this process then restores the signal's checkpoint and its optimizers must hold exactly
the saved (non-zero) Adam moments: a resume that reset them would fail there, even though it would
fail both runs of the comparison alike.
"""

import io
import os
import shutil
import signal
import subprocess
import time

import keras
import numpy as np
import pytest

from tests.experiment import command_line, weights_files
from tests.experiment.command_line import REPO
from tests.helpers import processes
from tf_diffaug import experiment
from tf_diffaug.experiment import checkpoint as checkpoint_lib

STEPS = 300


def flags(image_folder, workdir, steps=STEPS):
    return [
        f"--dataset={image_folder}",
        "--resolution=32",
        "--batch_size=4",
        '--network_kwargs={"width": 8}',
        "--fid_samples=0",
        "--grid_size=4",
        "--log_every=10",
        "--checkpoint_every=100",
        f"--steps={steps}",
        f"--workdir={workdir}",
    ]


def train(argv, tmp_path, name):
    """Runs `python -m train argv` to its end under `timeout -k`; returns (returncode, stdout, stderr)."""
    out = subprocess.run(
        processes.python_command("-m", "train", *argv, timeout=300),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=330,
        env=processes.environment(),
    )
    (tmp_path / f"{name}.log").write_text(out.stdout + out.stderr)
    return out.returncode, out.stdout, out.stderr


def stopped_by(sig, image_folder, workdir, tmp_path, after_step=50):
    """Starts a run, sends `sig` once it has logged `after_step`, waits for its exit.

    SIGINT goes to the whole process group, as Ctrl-C in a terminal does (`timeout` gets it too and
    forwards it); SIGTERM goes to `timeout`, which forwards it to the run as a scheduler's would.

    Returns:
        (returncode, stdout, stderr, run folder, seconds from the signal to the exit).
    """
    stdout, stderr = tmp_path / f"{sig.name}.out", tmp_path / f"{sig.name}.err"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        process = subprocess.Popen(
            processes.python_command("-m", "train", *flags(image_folder, workdir), timeout=300),
            cwd=REPO,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env=processes.environment(),
        )
        deadline = time.time() + 240
        metrics = None
        while time.time() < deadline and process.poll() is None:
            runs = os.listdir(workdir) if os.path.isdir(workdir) else []
            metrics = os.path.join(workdir, runs[0], "metrics.jsonl") if runs else None
            if metrics and os.path.exists(metrics) and f'"step": {after_step},' in open(metrics).read():
                break
            time.sleep(0.01)
        assert process.poll() is None, f"the run ended before the signal:\n{stderr.read_text()[-3000:]}"
        sent = time.time()
        if sig == signal.SIGINT:
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
        returncode = process.wait(timeout=120)
        elapsed = time.time() - sent
    return returncode, stdout.read_text(), stderr.read_text(), os.path.dirname(metrics), elapsed


def check_stop_message(sig, stderr, run_dir, workdir):
    """The one message of a stop: the step, the checkpoint at it, the resume command; returns the step."""
    assert "Traceback" not in stderr
    state = checkpoint_lib.read_state(os.path.join(run_dir, "checkpoints"))
    step = state["step"]
    weights = os.path.join(run_dir, "checkpoints", f"ckpt-{step:06d}.weights.h5")
    assert state["weights"] == os.path.basename(weights) and os.path.exists(weights)
    assert (
        f"Stopped by {sig.name} at step {step} of {STEPS}: checkpoint {weights} written; "
        f"resuming continues from step {step}.\nResume with: python -m train --resume --workdir={workdir}\n"
    ) in stderr
    assert weights_files.non_finite(weights) == []
    assert int(weights_files.read(weights)["vars/step"]) == step  # the model's own step counter agrees
    return step


def logged_steps(run_dir):
    import json

    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


@pytest.mark.slow
def test_sigint_saves_the_step_reached_exits_130_and_resume_continues_from_it(image_folder, tmp_path, capsys):
    workdir = str(tmp_path / "runs")
    returncode, stdout, stderr, run_dir, elapsed = stopped_by(signal.SIGINT, image_folder, workdir, tmp_path)
    assert returncode == 130, stderr[-3000:]
    step = check_stop_message(signal.SIGINT, stderr, run_dir, workdir)
    assert 50 <= step < STEPS and elapsed < 60
    assert "SIGINT received: finishing the current step, then writing a checkpoint" in stdout
    logged = logged_steps(run_dir)  # up to the last log point reached (a stop at one comes before its line)
    assert logged == list(range(10, logged[-1] + 1, 10)) and step - 10 <= logged[-1] <= step
    print(f"\nSIGINT at step {step}: exited {elapsed:.1f} s after the signal")  # shown with -s

    started = time.time()
    result = command_line.call_main(["--resume", f"--workdir={workdir}"])
    out = capsys.readouterr().out
    assert f"Resuming {run_dir} from step {step}." in out
    assert logged_steps(run_dir) == list(range(10, STEPS + 1, 10))
    gan = result["model"]
    assert int(keras.ops.convert_to_numpy(gan.step_counter)) == STEPS
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == STEPS
    print(f"resume from step {step} to {STEPS}: {time.time() - started:.1f} s")


@pytest.mark.slow
def test_sigterm_then_resume_equals_a_run_checkpointed_and_resumed_at_the_same_step(image_folder, tmp_path):
    killed = str(tmp_path / "killed")
    returncode, stdout, stderr, run_dir, elapsed = stopped_by(signal.SIGTERM, image_folder, killed, tmp_path)
    assert returncode == 143, stderr[-3000:]
    step = check_stop_message(signal.SIGTERM, stderr, run_dir, killed)
    assert 50 <= step < STEPS
    print(f"\nSIGTERM at step {step}: exited {elapsed:.1f} s after the signal")
    copy = str(tmp_path / "copy")
    shutil.copytree(killed, copy)  # the stopped run as it was, for the in-process check below

    returncode, stdout, _ = train(["--resume", f"--workdir={killed}"], tmp_path, "killed-resumed")
    assert returncode == 0 and f"Resuming {run_dir} from step {step}." in stdout
    # The reference: the same configuration trained to `step` (its last step, always checkpointed), resumed.
    reference = str(tmp_path / "reference")
    assert train(flags(image_folder, reference, steps=step), tmp_path, "reference")[0] == 0
    (name,) = os.listdir(reference)
    ref_dir = os.path.join(reference, name)
    at_step = weights_files.assert_same(
        os.path.join(copy, os.path.basename(run_dir), "checkpoints", f"ckpt-{step:06d}.weights.h5"),
        os.path.join(ref_dir, "checkpoints", f"ckpt-{step:06d}.weights.h5"),
    )
    returncode, stdout, _ = train(["--resume", f"--workdir={reference}", f"--steps={STEPS}"], tmp_path, "ref-resumed")
    assert returncode == 0 and f"Resuming {ref_dir} from step {step}." in stdout
    final = weights_files.assert_same(
        os.path.join(run_dir, "checkpoints", f"ckpt-{STEPS:06d}.weights.h5"),
        os.path.join(ref_dir, "checkpoints", f"ckpt-{STEPS:06d}.weights.h5"),
    )
    # Every kind of state is in what was compared, and it moved on after the resume step.
    for prefix in ("generator/", "discriminator/", "ema_generator/", "g_optimizer/", "d_optimizer/", "vars/random"):
        assert any(k.startswith(prefix) for k in final), prefix
    assert int(final["vars/step"]) == STEPS and int(final["g_optimizer/vars/0"]) == STEPS
    assert int(final["d_optimizer/vars/0"]) == STEPS
    moved = [k for k in final if not np.array_equal(final[k], at_step[k])]
    assert any(k.startswith("vars/random_state") for k in moved) and any("optimizer/vars/2" in k for k in moved)
    assert logged_steps(run_dir) == list(range(10, STEPS + 1, 10))
    assert logged_steps(ref_dir) == sorted(set(range(10, STEPS + 1, 10)) | {step})  # its first run ended at `step`

    # A resume restores the Adam moments saved at the signal (a reset to zeros would fail here).
    saved = weights_files.read(
        os.path.join(copy, os.path.basename(run_dir), "checkpoints", f"ckpt-{step:06d}.weights.h5")
    )
    restored = experiment.run(
        experiment.resume_config(copy, steps=step), copy, resume=True, verbose=0, stream=io.StringIO()
    )["model"]
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = getattr(restored, name)
        assert len(optimizer.variables) == len([k for k in saved if k.startswith(f"{name}/vars/")])
        for index, variable in enumerate(optimizer.variables):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), saved[f"{name}/vars/{index}"])
        moments = [keras.ops.convert_to_numpy(v) for v in optimizer.variables[2:]]
        assert all(np.abs(m).max() > 0 for m in moments), f"{name}: a moment is all zero"
    assert int(keras.ops.convert_to_numpy(restored.step_counter)) == step
