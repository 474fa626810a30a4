"""Faults during a run, in this process: divergence (a loss, or the weights), checkpoints of NaN weights
(never written, never rotated in), resume from the last finite checkpoint, the curves marker, a signal
during a lottery-ticket search (resumed at the next round, ending with the uninterrupted ticket),
and the signal catcher's rules.

Divergence is made to happen at a known step: the runs' Adam gets a learning rate schedule that is
infinite at exactly one iteration (`PiecewiseConstantDecay`), so the weights become non-finite after
that step's update and the losses from the next step on. Checkpoints are read back with h5py.
"""

import io
import json
import math
import os
import signal

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

import tf_diffaug as td
from tests.experiment import weights_files
from tf_diffaug import experiment
from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import curves, driver, faults
from tf_diffaug.experiment.schedule import Schedule

TINY = {
    "resolution": 32,
    "batch_size": 4,
    "network_kwargs": {"width": 8},
    "fid_samples": 0,
    "grid_size": 4,
    "loss": "least_squares",
}
LOSSES = {"d_loss", "g_loss", "real_score", "fake_score"}


class SpikedAdam(keras.optimizers.Adam):
    """Adam whose learning rate is infinite at one iteration (step s of a run runs with iterations == s - 1).

    The learning rate stays a variable, so the optimizer has the same variables (and checkpoint
    entries) as the plain Adam a resume builds.
    """

    def __init__(self, *args, spike_at, **kwargs):
        super().__init__(*args, **kwargs)
        self.spike_at = spike_at

    def _get_current_learning_rate(self):
        rate = super()._get_current_learning_rate()
        return keras.ops.where(keras.ops.equal(self.iterations, self.spike_at), float("inf"), rate)


def diverge_at(monkeypatch, step, generator_only=False):
    """Makes the Adam of G (and of D unless `generator_only`) take an infinite step at train step `step`.

    Within a step D is updated before G's loss is computed; G's update comes last, so a spike of G's
    optimizer alone leaves every loss of that step finite.
    """
    adam, built = keras.optimizers.Adam, []

    def make(learning_rate, **kwargs):
        built.append(learning_rate)  # build_gan makes G's optimizer first, then D's
        if generator_only and len(built) % 2 == 0:
            return adam(learning_rate, **kwargs)
        return SpikedAdam(learning_rate, spike_at=step - 1, **kwargs)

    monkeypatch.setattr(keras.optimizers, "Adam", make)


def records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def only_run(workdir):
    (name,) = os.listdir(workdir)
    return os.path.join(workdir, name)


def test_a_nan_loss_stops_the_run_and_resume_restarts_from_the_last_finite_checkpoint(
    image_folder, tmp_path, monkeypatch
):
    workdir = str(tmp_path / "runs")
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=40, log_every=10, checkpoint_every=10, **TINY
    )
    diverge_at(monkeypatch, 26)  # NaN weights after step 26's update, NaN losses from step 27
    with pytest.raises(faults.TrainingDiverged) as info:
        experiment.run(config, workdir, verbose=0, stream=io.StringIO())
    error = info.value
    run_dir = only_run(workdir)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    assert (error.step, error.first_step, error.where) == (30, 21, None)
    assert error.key in LOSSES and math.isnan(error.value)
    assert str(error).startswith(
        f"Training diverged at step 30: {error.key} = nan (the mean over steps 21-30). Nothing of it was saved: "
        f"the last checkpoint, step 20 ({ckpt_dir}/ckpt-000020.weights.h5), is finite and a resume restarts from it."
    )
    # Nothing of steps 21-30: no checkpoint, log line or grid; both checkpoints finite, entry by entry.
    assert weights_files.checkpoint_files(ckpt_dir) == ["ckpt-000010.weights.h5", "ckpt-000020.weights.h5"]
    assert checkpoint_lib.read_state(ckpt_dir)["step"] == 20
    for name in weights_files.checkpoint_files(ckpt_dir):
        assert weights_files.non_finite(os.path.join(ckpt_dir, name)) == []
    assert [r["step"] for r in records(run_dir)] == [10, 20]
    grids = ["augment-000010.png", "augment-000020.png", "reals.png", "step-000010.png", "step-000020.png"]
    assert sorted(os.listdir(os.path.join(run_dir, "samples"))) == grids  # none of step 30
    with open(os.path.join(run_dir, "diverged.json")) as f:
        assert json.load(f) == {"step": 30, "key": error.key, "value": "nan", "first_step": 21, "where": None}
    assert marker_columns(np.asarray(Image.open(os.path.join(run_dir, "curves.png"))))

    monkeypatch.undo()  # the plain Adam again: the resumed attempt trains through
    out = io.StringIO()
    resumed = experiment.run(experiment.resume_config(workdir), workdir, resume=True, verbose=0, stream=out)
    text = out.getvalue()
    assert (
        f"The run diverged at step 30 ({error.key} = nan). Resuming from its last finite checkpoint, step 20." in text
    )
    assert f"Resuming {run_dir} from step 20." in text
    assert [r["step"] for r in records(run_dir)] == [10, 20, 30, 40]
    assert all(np.isfinite(r[k]) for r in records(run_dir) for k in ("d_loss", "g_loss"))
    assert int(keras.ops.convert_to_numpy(resumed["model"].step_counter)) == 40
    assert not os.path.exists(os.path.join(run_dir, "diverged.json"))
    assert not marker_columns(np.asarray(Image.open(resumed["curves"])))


def test_weights_that_turn_nan_while_the_losses_are_finite_are_never_checkpointed(image_folder, tmp_path, monkeypatch):
    # Step 30's update makes the weights infinite; the losses of steps 21-30 were computed before it.
    workdir = str(tmp_path / "runs")
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=40, log_every=10, checkpoint_every=10, **TINY
    )
    diverge_at(monkeypatch, 30, generator_only=True)
    with pytest.raises(faults.TrainingDiverged) as info:
        experiment.run(config, workdir, verbose=0, stream=None)
    run_dir = only_run(workdir)
    assert (info.value.step, info.value.key) == (30, "weights")
    assert str(info.value).startswith("Training diverged at step 30: the weights hold non-finite values (")
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    assert weights_files.checkpoint_files(ckpt_dir) == ["ckpt-000010.weights.h5", "ckpt-000020.weights.h5"]
    assert [r["step"] for r in records(run_dir)] == [10, 20]  # the guard ran before the log line of step 30
    assert "step-000030.png" not in os.listdir(os.path.join(run_dir, "samples"))


def test_save_checkpoint_refuses_non_finite_weights_and_leaves_the_finite_ones(image_folder, tmp_path):
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, **TINY)
    gan = driver.build_gan(config)
    gan.fit(driver.load_dataset(config, 4, seed=0), epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    ckpt_dir = str(tmp_path / "checkpoints")
    checkpoint_lib.save_checkpoint(gan, ckpt_dir, step=5, epoch=5)
    before = weights_files.read(os.path.join(ckpt_dir, "ckpt-000005.weights.h5"))
    slot = gan.g_optimizer.variables[2]  # an Adam moment: the optimizers' state is checked too
    slot.assign(keras.ops.full(slot.shape, float("nan")))
    with pytest.raises(faults.TrainingDiverged) as info:
        checkpoint_lib.save_checkpoint(gan, ckpt_dir, step=6, epoch=6, keep=1)  # keep=1 would rotate 5 away
    assert info.value.key == "weights" and info.value.value.startswith("g_optimizer/vars/2")
    assert sorted(os.listdir(ckpt_dir)) == ["ckpt-000005.weights.h5", "state.json"]  # no file of step 6
    assert checkpoint_lib.read_state(ckpt_dir)["step"] == 5
    after = weights_files.read(os.path.join(ckpt_dir, "ckpt-000005.weights.h5"))
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert faults.non_finite_variables(gan) == [slot.path]


def test_resume_passes_over_a_non_finite_checkpoint_written_by_an_older_version(image_folder, tmp_path):
    workdir = str(tmp_path / "runs")
    config = experiment.resolve_config(
        "fewshot-cpu", dataset=image_folder, steps=20, log_every=10, checkpoint_every=10, **TINY
    )
    experiment.run(config, workdir, verbose=0, stream=None)
    run_dir = only_run(workdir)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    with h5py.File(os.path.join(ckpt_dir, "ckpt-000020.weights.h5"), "r+") as f:  # as before the guard existed
        kernel = f["generator/layers/dense/vars/0"]
        kernel[...] = np.full(kernel.shape, np.nan, kernel.dtype)
    assert checkpoint_lib.resume_point(ckpt_dir) == (
        {"step": 10, "epoch": None, "weights": "ckpt-000010.weights.h5"},
        [("ckpt-000020.weights.h5", "generator/layers/dense/vars/0")],
    )
    out = io.StringIO()
    resumed = experiment.run(experiment.resume_config(workdir, steps=30), workdir, resume=True, verbose=0, stream=out)
    assert (
        "Checkpoint ckpt-000020.weights.h5 holds non-finite values (generator/layers/dense/vars/0): passed over. "
        "Resuming from its last finite checkpoint, step 10." in out.getvalue()
    )
    assert f"Resuming {run_dir} from step 10." in out.getvalue()
    assert [r["step"] for r in records(run_dir)] == [10, 20, 30]
    assert int(keras.ops.convert_to_numpy(resumed["model"].step_counter)) == 30
    assert weights_files.checkpoint_files(ckpt_dir) == ["ckpt-000020.weights.h5", "ckpt-000030.weights.h5"]
    for name in weights_files.checkpoint_files(ckpt_dir):  # step 20 was trained again and overwritten
        assert weights_files.non_finite(os.path.join(ckpt_dir, name)) == []


def marker_columns(image):
    """Columns where the divergence marker's colour runs down most of a panel (a vertical line)."""
    rgb = image[..., :3].astype(int)
    marker = np.all(np.abs(rgb - (255, 0, 255)) <= 12, axis=-1)
    return [int(c) for c in np.nonzero(marker.sum(axis=0) > 0.5 * image.shape[0] / 3)[0]]


def test_curves_mark_the_divergence_step(tmp_path):
    logged = [{"step": s, "d_loss": 1.0 + s / 100, "g_loss": 2.0 - s / 100} for s in (10, 20, 30, 40, 50)]
    plain = np.asarray(Image.open(curves.plot_curves(logged, str(tmp_path / "plain.png"))))
    assert marker_columns(plain) == []
    x = {}
    for step in (20, 30, 40):
        diverged = {"step": step, "key": "d_loss", "value": "nan"}
        marked = np.asarray(Image.open(curves.plot_curves(logged, str(tmp_path / f"{step}.png"), diverged=diverged)))
        columns = marker_columns(marked)
        assert columns and max(columns) - min(columns) <= 4  # one thin vertical line ...
        colour = np.all(np.abs(marked[..., :3].astype(int) - (255, 0, 255)) <= 12, axis=-1)
        rows = np.nonzero(colour[:, columns[0]])[0]
        assert rows.max() - rows.min() > 0.8 * marked.shape[0]  # ... through both panels
        x[step] = np.mean(columns)
    # ... at its step on the x axis: equally spaced steps are equally spaced columns, and one more
    # spacing after step 40 is where the d_loss line (matplotlib's first colour, tab:blue) ends, at step 50.
    spacing = x[30] - x[20]
    assert spacing > 50 and abs((x[40] - x[30]) - spacing) <= 1.5
    blue = np.all(np.abs(marked[..., :3].astype(int) - (0x1F, 0x77, 0xB4)) <= 12, axis=-1)
    assert abs(np.nonzero(blue.any(axis=0))[0].max() - (x[40] + spacing)) <= 6  # a step is ~160 columns
    assert (
        curves.divergence_label({"step": 30, "key": "d_loss", "value": "nan"}) == "diverged at step 30 (d_loss = nan)"
    )


def test_divergence_guard_names_the_global_step_of_a_resumed_runs_short_first_epoch():
    schedule = Schedule(130, 20, 50, 40, evaluate=False, start_step=37)  # epochs of 10; the first is 38-40
    guard = faults.DivergenceGuard(schedule)
    guard.on_epoch_end(4, {"d_loss": 0.5, "note": "text", "fid": 12.0})  # step 50: no event, finite: no check
    with pytest.raises(faults.TrainingDiverged) as info:
        guard.on_epoch_end(3, {"d_loss": 0.5, "g_loss": float("-inf")})
    assert (info.value.step, info.value.first_step, info.value.key, info.value.value) == (40, 38, "g_loss", -math.inf)
    assert str(info.value) == "Training diverged at step 40: g_loss = -inf (the mean over steps 38-40)"


def test_a_copy_of_the_first_signal_is_ignored_and_a_later_one_exits_at_once(monkeypatch):
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    clock = iter([100.0, 100.001, 101.0])
    monkeypatch.setattr(faults.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    catcher = faults.SignalCatcher(stream=out, enabled=False)
    catcher._handle(signal.SIGTERM, None)
    catcher._handle(signal.SIGTERM, None)  # 1 ms later: `timeout` forwarded the same signal twice
    assert catcher.received == signal.SIGTERM and exits == []
    with catcher.saving():
        catcher._handle(signal.SIGINT, None)  # 1 s later, while the checkpoint is written: ignored
    assert exits == []
    clock = iter([102.0])
    catcher._handle(signal.SIGINT, None)
    assert exits == [128 + signal.SIGINT]
    lines = [line for line in out.getvalue().splitlines() if line]
    assert lines == [
        "SIGTERM received: finishing the current step, then writing a checkpoint (send it again to exit at once "
        "without one).",
        "SIGINT received again while the checkpoint is written: ignored until it is complete.",
        "SIGINT received again: exiting without a checkpoint (the last periodic one stays).",
    ]


LOTTERY = dict(TINY, loss="hinge", steps=1, log_every=1, checkpoint_every=1, prune_rounds=3, prune_steps=2)


@pytest.mark.slow  # two stage-I searches (~40 s)
def test_a_signal_during_stage_one_resumes_at_the_next_round_and_finds_the_same_ticket(
    image_folder, tmp_path, monkeypatch
):
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, **LOTTERY)
    whole = experiment.run(config, str(tmp_path / "whole"), verbose=0, stream=None)

    find_ticket = td.lottery.find_ticket
    calls = []

    def signal_after_the_first_round(*args, **kwargs):
        calls.append(kwargs["rewind"])
        ticket = find_ticket(*args, **kwargs)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between round 1 and round 2
        return ticket

    monkeypatch.setattr(td.lottery, "find_ticket", signal_after_the_first_round)
    workdir = str(tmp_path / "killed")
    with pytest.raises(faults.TrainingInterrupted) as info:
        experiment.run(config, workdir, verbose=0, stream=None)
    run_dir = only_run(workdir)
    ticket_dir = os.path.join(run_dir, "ticket")
    assert info.value.exit_code == 143 and info.value.step is None
    assert str(info.value) == (
        f"Stopped by SIGTERM during stage I round 2/3: the 1 completed round(s) are saved in {ticket_dir}; "
        "resuming continues with round 2."
    )
    assert len(calls) == 2  # round 2 started and stopped after its first step
    with open(os.path.join(ticket_dir, "stage1.json")) as f:
        progress = json.load(f)
    assert progress["rounds_done"] == 1 and [r["round"] for r in progress["rounds"]] == [1]
    assert "generator_masks.npz" not in os.listdir(ticket_dir)  # stage I is not complete

    monkeypatch.undo()
    out = io.StringIO()
    resumed = experiment.run(experiment.resume_config(workdir), workdir, resume=True, verbose=0, stream=out)
    text = out.getvalue()
    assert f"Resuming the lottery-ticket search after round 1 of 3 (saved in {ticket_dir})" in text
    assert "Finding a lottery ticket" not in text and "IMP round 1/3" not in text
    assert "IMP round 2/3" in text and "IMP round 3/3" in text
    # The same ticket as the uninterrupted run: masks, per-round records (losses too) and final weights.
    for name in ("generator_masks.npz",):
        with np.load(os.path.join(whole["run_dir"], "ticket", name)) as a, np.load(os.path.join(ticket_dir, name)) as b:
            assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
    with (
        open(os.path.join(whole["run_dir"], "ticket", "ticket.json")) as f,
        open(os.path.join(ticket_dir, "ticket.json")) as g,
    ):
        assert json.load(f) == json.load(g)
    weights_files.assert_same(
        os.path.join(whole["run_dir"], "checkpoints", "ckpt-000001.weights.h5"),
        os.path.join(run_dir, "checkpoints", "ckpt-000001.weights.h5"),
    )
    assert sorted(n for n in os.listdir(ticket_dir) if n.startswith("stage1")) == []  # progress files removed
    assert resumed["generator_sparsity"] == pytest.approx(whole["generator_sparsity"])


@pytest.mark.slow  # per-round and all-round searches (~20-45 s each)
@pytest.mark.parametrize("rewind", ["init", 1])
def test_rounds_one_call_at_a_time_equal_one_call_of_all_rounds(image_folder, rewind):
    # What prepare_ticket relies on: after round 1 the networks sit at the rewind point, so a round that
    # rewinds to where it starts is the next round of the same search.
    # No flips: then every pass over a pipeline yields the same batches, and both searches see the same data.
    config = experiment.resolve_config("fewshot-cpu", dataset=image_folder, **dict(TINY, loss="hinge", mirror=False))

    def fresh():
        keras.utils.set_random_seed(0)
        return driver.build_gan(config), driver.load_dataset(config, 4, seed=0)

    kwargs = dict(fraction=0.2, steps_per_round=2, reset_discriminator=True)
    together, dataset = fresh()
    ticket = td.lottery.find_ticket(together, dataset, rounds=3, rewind=rewind, **kwargs)
    apart, dataset = fresh()
    for index in range(3):
        last = td.lottery.find_ticket(apart, dataset, rounds=1, rewind=rewind if index == 0 else "init", **kwargs)
    for a, b in zip(ticket.generator_masks.masks, last.generator_masks.masks):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(together.variables, apart.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    for a, b in zip(together.g_optimizer.variables, apart.g_optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
