"""`Schedule`: event steps compared with a step-by-step enumeration, and the Keras epochs reaching them."""

import itertools

import pytest

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment.schedule import Schedule


def enumerate_events(steps, log_every, eval_every, checkpoint_every, evaluate, start_step):
    """Walks every step after `start_step` and lists when each event happens (the definition)."""
    walk = range(start_step + 1, steps + 1)
    log = [s for s in walk if s % log_every == 0 or s == steps]
    evaluation = [s for s in walk if evaluate and (s % eval_every == 0 or s == steps)]
    checkpoint = [s for s in walk if s % checkpoint_every == 0 or s == steps]
    return log, evaluation, checkpoint


CASES = list(
    itertools.product(
        (130, 97, 400, 1000), (1, 20, 33, 50), (50, 64, 1500), (40, 77, 500), (True, False), (0, 20, 60, 90)
    )
)


def test_events_match_a_step_by_step_walk_and_fall_on_epoch_ends():
    for case in CASES:
        check_case(*case)


def check_case(steps, log_every, eval_every, checkpoint_every, evaluate, start_step):
    schedule = Schedule(steps, log_every, eval_every, checkpoint_every, evaluate=evaluate, start_step=start_step)
    log, evaluation, checkpoint = enumerate_events(steps, log_every, eval_every, checkpoint_every, evaluate, start_step)
    assert (schedule.log_steps(), schedule.eval_steps(), schedule.checkpoint_steps()) == (log, evaluation, checkpoint)
    assert log[-1] == checkpoint[-1] == steps and (evaluation[-1] == steps if evaluate else evaluation == [])
    # Walk the fits as Keras runs them: epoch e trains epoch_length(e) steps and ends at step_after(e); a
    # fit iterates the dataset from its start, so it skips the batches the fits before it used.
    step, ends, used = start_step, [], 0
    for fit in schedule.fits():
        assert fit.skip == used
        for epoch in range(fit.initial_epoch, fit.epochs):
            assert schedule.epoch_length(epoch) == fit.steps_per_epoch
            step += fit.steps_per_epoch
            assert schedule.step_after(epoch) == step
            ends.append(step)
        used += fit.steps_per_epoch * (fit.epochs - fit.initial_epoch)
    assert step == steps and used == steps - start_step
    assert set(log) | set(evaluation) | set(checkpoint) <= set(ends)
    # Every epoch but a resume's first has epoch_steps steps, the longest length dividing every interval
    # and the last step (the start step does not shorten them: it only adds one short first epoch).
    full = [schedule.epoch_length(e) for e in range(schedule.initial_epoch, schedule.epochs)]
    assert set(full[1:]) <= {schedule.epoch_steps} and 0 < full[0] <= schedule.epoch_steps
    assert (full[0] == schedule.epoch_steps) == (start_step % schedule.epoch_steps == 0)
    intervals = [steps, log_every, checkpoint_every] + ([eval_every] if evaluate else [])
    assert all(v % schedule.epoch_steps == 0 for v in intervals)
    assert not any(all(v % m == 0 for v in intervals) for m in range(schedule.epoch_steps + 1, min(intervals) + 1))


def test_a_resume_inside_an_epoch_trains_the_rest_of_it_then_full_epochs():
    # A checkpoint written at step 37 by a signal; the run logs every 20, checkpoints every 40 (epochs of 10).
    schedule = Schedule(130, 20, 50, 40, start_step=37)
    assert (schedule.epoch_steps, schedule.initial_epoch, schedule.head_steps) == (10, 3, 3)
    assert schedule.fits() == [(3, 4, 3, 0), (4, 13, 10, 3)]
    assert (schedule.epoch_start(3), schedule.step_after(3), schedule.epoch_length(3)) == (37, 40, 3)
    assert schedule.log_steps() == [40, 60, 80, 100, 120, 130] and schedule.checkpoint_steps()[:2] == [40, 80]
    aligned = Schedule(130, 20, 50, 40, start_step=40)
    assert aligned.fits() == [(4, 13, 10, 0)] and aligned.head_steps == 0
    assert Schedule(130, 20, 50, 40, start_step=130).fits() == []
    assert Schedule(130, 20, 50, 40, start_step=125).fits() == [(12, 13, 5, 0)]  # the head is the last epoch


def test_the_default_preset_keeps_its_50_step_epochs():
    config = config_lib.resolve_config("fewshot-cpu")
    schedule = Schedule.from_config(config)
    assert (config["steps"], config["log_every"], config["eval_every"], config["checkpoint_every"]) == (
        3000,
        50,
        1500,
        500,
    )
    assert (schedule.epoch_steps, schedule.epochs, schedule.initial_epoch) == (50, 60, 0)
    assert schedule.eval_steps() == [1500, 3000]
    assert schedule.checkpoint_steps() == [500, 1000, 1500, 2000, 2500, 3000]
    assert schedule.log_steps() == list(range(50, 3001, 50))


def test_the_issue_schedule():
    # python -m train --steps=130 --log_every=20 --eval_every=50 --checkpoint_every=40 --fid_samples=16
    schedule = Schedule(130, 20, 50, 40)
    assert schedule.log_steps() == [20, 40, 60, 80, 100, 120, 130]
    assert schedule.eval_steps() == [50, 100, 130]
    assert schedule.checkpoint_steps() == [40, 80, 120, 130]
    assert (schedule.epoch_steps, schedule.epochs) == (10, 13)
    no_fid = Schedule.from_config(dict(steps=130, log_every=20, eval_every=50, checkpoint_every=40, fid_samples=0))
    assert no_fid.eval_steps() == [] and no_fid.epoch_steps == 10  # gcd(130, 20, 40)


def test_steps_that_once_had_to_divide_now_resolve():
    # Measured on main before the schema: "steps=400 must be a multiple of eval_every=1500".
    config = config_lib.resolve_config("fewshot-cpu", steps=400, batch_size=8)
    schedule = Schedule.from_config(config)
    assert schedule.eval_steps() == [400] and schedule.checkpoint_steps() == [400] and schedule.epoch_steps == 50


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 10, 10, 10), "steps must be an integer >= 1, got 0."),
        ((100, 0, 10, 10), "log_every must be an integer >= 1, got 0."),
        ((100, 10, 2.5, 10), "eval_every must be an integer >= 1, got 2.5."),
        ((100, 10, 10, 10, True, 120), "start_step must be an integer in [0, steps=100], got 120."),
    ],
)
def test_bad_schedules_are_refused(args, message):
    with pytest.raises(ValueError) as info:
        Schedule(*args)
    assert str(info.value) == message
