"""Stage I of a lottery-ticket run: find the sparse subnetwork before training, or reload it.

A configuration with `prune_rounds > 0` trains a ticket (Chen et al., "Data-Efficient GAN Training
Beyond (Just) Augmentations: A Lottery Ticket Perspective", NeurIPS 2021, arXiv:2103.00397):
`td.lottery.find_ticket` runs `prune_rounds` rounds of training (`prune_steps` steps each, or
`steps`), global magnitude pruning of `prune_fraction` of G's remaining kernel weights (and D's with
`prune_discriminator`) and rewinding to initialization (or to step `rewind`), then the usual run
trains the rewound sparse networks (stage II) with the masks in force. `prune_scope` says which
kernels are pruned ("conv": convolutions only, Chen et al.'s selection) and `prune_rank_on` whose
magnitudes rank G's ("ema": the EMA generator's, Chen et al.'s ticket).

Stage I may train under other settings than stage II: `prune_augment_mode` and
`prune_advaug_gamma` (Chen et al. find the SNGAN ticket without DiffAugment and AdvAug, then train
it with AdvAug). `stage_one_gan` then builds a GAN of its own for the rounds, from the run's
configuration with those settings and the run GAN's initial weights; when stage I is done, its
rewound networks, optimizer state and masks go to the run's GAN (`_hand_over`). With the same
settings the rounds train the run's GAN itself.

The rounds are run one `find_ticket(rounds=1)` call at a time, each continuing from the networks
the previous one rewound, with the masks it left attached: after round 1 the networks are at the
rewind point (initialization, or step `rewind` of round 1), so every later round is
`find_ticket(rounds=1, rewind="init")` from there, which is what one call of `rounds` rounds does
(a test checks both give the same masks). Each round trains on its own pipeline, seeded by the round
(`round_dataset`, `ROUND_SEED_STRIDE`): a pipeline's random flips change with every pass over it, so
one pipeline shared by the rounds would give round `r` data that depends on how far the rounds
before it (and their prefetching) read; per-round pipelines make a resumed search find exactly the
ticket of an uninterrupted one. After each round the progress is saved in `ticket/`:
`stage1-round-RRR-generator_masks.npz` (and `-discriminator_masks.npz`), the GAN's full state at
the rewind point (`stage1-round-RRR.weights.h5`: weights, optimizer slots, step counter, random
states) and, last, `stage1.json` naming them with the per-round records. A run killed during
stage I resumes with the round after the last saved one, and loses at most that round.

When stage I is done the run folder gets `ticket/`: `generator_masks.npz` (and
`discriminator_masks.npz`), the `PruningMasks.save` files; `ticket.json`, one record per round
(sparsity, pruned count, the round's last losses) plus the per-kernel sparsity; `sparsity.txt`, the
same as a table. A step-0 checkpoint of the rewound, masked networks is written, then the masks are
moved into place (their presence means stage I is complete) and the stage-I progress files are
removed: a resumed run that finds the masks reattaches them and restores its latest checkpoint.
"""

import os

from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import faults
from tf_diffaug.experiment import run_dir as run_dir_lib

TICKET_DIR = "ticket"
GENERATOR_MASKS = "generator_masks.npz"
DISCRIMINATOR_MASKS = "discriminator_masks.npz"
STAGE1_FILE = "stage1.json"
#: Round `r` of stage I trains on the run's pipeline seeded with `seed + r * ROUND_SEED_STRIDE`.
ROUND_SEED_STRIDE = 3_000_017


def _ema(gan):
    ema = getattr(gan, "ema_generator", None)
    return None if ema is gan.generator else ema


def _attach(gan, generator_path, discriminator_path=None, prune_scope="all"):
    """Loads mask files onto `gan`'s networks; returns `(g_masks, d_masks, ema_masks)`.

    The masks are built with the `prune_scope` they were found with: a file holds one mask per
    kernel of that selection, matched in order.
    """
    from tf_diffaug import lottery

    g_masks = lottery.PruningMasks(gan.generator, prune_scope=prune_scope).load(generator_path)
    ema = _ema(gan)
    ema_masks = lottery.PruningMasks(ema, prune_scope=prune_scope).load(generator_path) if ema is not None else None
    d_masks = None
    if discriminator_path is not None and os.path.exists(discriminator_path):
        d_masks = lottery.PruningMasks(gan.discriminator, prune_scope=prune_scope).load(discriminator_path)
    return g_masks, d_masks, ema_masks


def load_ticket(gan, ticket_dir, prune_scope="all"):
    """Attaches the masks saved in `ticket_dir` to `gan`'s networks; returns a `td.lottery.Ticket`.

    Args:
        gan: the run's GAN.
        ticket_dir: the run folder's `ticket/`.
        prune_scope: the configuration's `prune_scope` (the kernels the masks are of).

    Returns:
        The ticket, or None when `ticket_dir` holds no generator masks (stage I is not complete).
    """
    from tf_diffaug import lottery

    path = os.path.join(ticket_dir, GENERATOR_MASKS)
    if not os.path.exists(path):
        return None
    g_masks, d_masks, ema_masks = _attach(
        gan, path, os.path.join(ticket_dir, DISCRIMINATOR_MASKS), prune_scope=prune_scope
    )
    records = []
    json_path = os.path.join(ticket_dir, "ticket.json")
    if os.path.exists(json_path):
        records = run_dir_lib.read_json(json_path)["rounds"]
    return lottery.Ticket(g_masks, d_masks, ema_masks, records)


def stage_one_settings(config):
    """`(augment_mode, advaug_gamma, round_steps)` of the IMP rounds (`prune_*` keys, None: the run's)."""
    mode = config["augment_mode"] if config["prune_augment_mode"] is None else config["prune_augment_mode"]
    gamma = config["advaug_gamma"] if config["prune_advaug_gamma"] is None else config["prune_advaug_gamma"]
    return mode, gamma, config["prune_steps"] or config["steps"]


def stage_one_gan(gan, config):
    """The GAN the IMP rounds train: `gan` itself, or one of their own settings with `gan`'s weights.

    A GAN of its own is built (`build.build_gan`, call it inside the run's strategy scope) when
    `prune_augment_mode` or `prune_advaug_gamma` differ from the run's `augment_mode` /
    `advaug_gamma`, or when `lr_decay` schedules the learning rates over a run and a round is
    shorter (`prune_steps`): its learning rates then decay over a round. Its G, EMA G and D start
    from `gan`'s weights (all of them: spectral-norm vectors and batch-norm statistics too), so
    the rounds rewind to the initialization stage II trains from.

    Example:
        >>> stage = stage_one_gan(gan, dict(config, prune_augment_mode="none"))   # doctest: +SKIP
        >>> stage.augment_mode, stage is gan                                      # doctest: +SKIP
        ('none', False)
    """
    from tf_diffaug.experiment.build import build_gan

    mode, gamma, round_steps = stage_one_settings(config)
    decays_per_round = config["lr_decay"] != "none" and round_steps != config["steps"]
    if mode == config["augment_mode"] and gamma == config["advaug_gamma"] and not decays_per_round:
        return gan
    stage = build_gan(dict(config, augment_mode=mode, advaug_gamma=gamma, steps=round_steps))
    for mine, theirs in (
        (stage.generator, gan.generator),
        (stage.discriminator, gan.discriminator),
        (_ema(stage), _ema(gan)),
    ):
        if mine is not None and theirs is not None:
            mine.set_weights(theirs.get_weights())
    return stage


def _hand_over(stage, gan, ticket, prune_scope):
    """Moves stage I's result from its own GAN `stage` onto the run's `gan`; returns `gan`'s ticket.

    The rewound networks (the initialization, or the late-rewinding point), the optimizers' state
    and the step counter are copied; the masks are attached to `gan`'s G, EMA G and D with the
    same `prune_scope` and applied.
    """
    from tf_diffaug import lottery

    for mine, theirs in ((gan.generator, stage.generator), (gan.discriminator, stage.discriminator)):
        mine.set_weights(theirs.get_weights())
    if _ema(gan) is not None and _ema(stage) is not None:
        _ema(gan).set_weights(_ema(stage).get_weights())
    for mine, theirs in ((gan.g_optimizer, stage.g_optimizer), (gan.d_optimizer, stage.d_optimizer)):
        if [tuple(v.shape) for v in mine.variables] == [tuple(v.shape) for v in theirs.variables]:
            for variable, value in zip(mine.variables, theirs.variables):
                variable.assign(value)
    gan.step_counter.assign(stage.step_counter)

    def bind(model, masks):
        if model is None or masks is None:
            return None
        bound = lottery.PruningMasks(model, prune_scope=prune_scope)
        bound.assign(masks.masks)
        return bound

    handed = lottery.Ticket(
        bind(gan.generator, ticket.generator_masks),
        bind(gan.discriminator, ticket.discriminator_masks),
        bind(_ema(gan), ticket.generator_masks),
        ticket.rounds,
    )
    handed.apply()
    if getattr(gan, "train_function", None) is not None:  # traced before the masks: trace anew
        gan.make_train_function(force=True)
    return handed


def read_progress(ticket_dir):
    """The `stage1.json` of an unfinished stage I (`rounds_done`, `rounds`, file names), or None."""
    path = os.path.join(ticket_dir, STAGE1_FILE)
    return run_dir_lib.read_json(path) if os.path.exists(path) else None


def _save_masks(masks, path):
    tmp = os.path.join(os.path.dirname(path), "tmp-" + os.path.basename(path))  # ends in .npz: kept by np.savez
    masks.save(tmp)
    os.replace(tmp, path)


def _save_progress(gan, out, done, records, g_masks, d_masks):
    """Writes round `done`'s masks and the GAN's state, then `stage1.json`, then drops older rounds."""
    os.makedirs(out, exist_ok=True)
    prefix = f"stage1-round-{done:03d}"
    progress = {
        "rounds_done": done,
        "rounds": records,
        "weights": f"{prefix}.weights.h5",
        "generator_masks": f"{prefix}-{GENERATOR_MASKS}",
        "discriminator_masks": f"{prefix}-{DISCRIMINATOR_MASKS}" if d_masks is not None else None,
    }
    _save_masks(g_masks, os.path.join(out, progress["generator_masks"]))
    if d_masks is not None:
        _save_masks(d_masks, os.path.join(out, progress["discriminator_masks"]))
    checkpoint_lib.write_weights(gan, os.path.join(out, progress["weights"]), step=None)
    run_dir_lib.write_json(os.path.join(out, STAGE1_FILE), progress)
    _remove_progress_files(out, keep=prefix)


def _remove_progress_files(out, keep=None):
    for name in os.listdir(out) if os.path.isdir(out) else []:
        if name.startswith("stage1-round-") and (keep is None or not name.startswith(keep)):
            os.remove(os.path.join(out, name))


def _round_line(record, rounds):
    losses = ", ".join(f"{k} {record[k]:.4f}" for k in ("d_loss", "g_loss") if k in record)
    return (
        f"IMP round {record['round']}/{rounds}: G sparsity {record['generator_sparsity']:.2%}"
        f", D sparsity {record['discriminator_sparsity']:.2%}; {losses}\n"
    )


def prepare_ticket(
    gan,
    dataset,
    config,
    ticket_dir,
    checkpoint_dir,
    out=None,
    verbose=1,
    stream=None,
    callbacks=None,
    warmup=None,
    round_dataset=None,
    build_stage_one=None,
):
    """Reloads the ticket of a resumed run from `ticket_dir`, or finds it (stage I) and saves it.

    Args:
        gan: the compiled `td.GAN` of the run, freshly built.
        dataset: the run's repeated training dataset (every round's, unless `round_dataset`).
        config: the resolved configuration (`prune_rounds`, `prune_fraction`, `prune_steps`,
            `rewind`, `prune_discriminator`, `reset_discriminator`).
        ticket_dir: the run folder's `ticket/` (read).
        checkpoint_dir: where the step-0 checkpoint of the ticket is written (the run's
            `checkpoints/`).
        out: folder to write the ticket files into (default `ticket_dir`; a temporary folder on
            non-chief workers).
        verbose: `fit` verbosity of the pruning rounds.
        stream: file-like object for one line per round and the sparsity table, or None.
        callbacks: Keras callbacks of every round's `fit` (e.g. `faults.StopOnSignal` and
            `faults.DivergenceGuard`; their `where` is set to the round).
        warmup: zero-argument callable building the GAN's variables before a saved stage-I state
            is loaded (one `fit` step).
        round_dataset: optional callable `round -> dataset` (1-based) giving each round its own
            pipeline (the driver seeds it with `seed + round * ROUND_SEED_STRIDE`).
        build_stage_one: zero-argument callable returning the GAN of the rounds (default
            `stage_one_gan(gan, config)`; the driver builds it under the run's strategy). Called
            only when stage I has rounds left to train.

    Returns:
        The `td.lottery.Ticket`, its masks attached to `gan`'s networks.

    Raises:
        faults.SignalStop, faults.TrainingDiverged: from a round (`where` names it); the rounds
            before it are saved.
    """
    from tf_diffaug import lottery

    scope, rank_on = config["prune_scope"], config["prune_rank_on"]
    ticket = load_ticket(gan, ticket_dir, prune_scope=scope)
    if ticket is not None:
        if stream is not None:
            stream.write(f"Ticket reloaded from {ticket_dir}: G sparsity {ticket.generator_sparsity:.2%}.\n")
        return ticket
    out = out or ticket_dir
    rounds = config["prune_rounds"]
    steps = config["prune_steps"] or config["steps"]
    callbacks = list(callbacks or [])
    done, records, masks = 0, [], None
    stage = build_stage_one() if build_stage_one is not None else stage_one_gan(gan, config)
    if stage is not gan:

        def warmup():  # the rounds' own GAN: one step builds its variables
            stage.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)

    progress = read_progress(ticket_dir)
    if progress is not None:
        done, records = progress["rounds_done"], progress["rounds"]
        discriminator = progress["discriminator_masks"]
        masks = _attach(
            stage,
            os.path.join(ticket_dir, progress["generator_masks"]),
            os.path.join(ticket_dir, discriminator) if discriminator else None,
            prune_scope=scope,
        )
        checkpoint_lib.load_weights(stage, os.path.join(ticket_dir, progress["weights"]), warmup)
        if stream is not None:
            stream.write(
                f"Resuming the lottery-ticket search after round {done} of {rounds} (saved in {ticket_dir}): "
                f"G sparsity {masks[0].sparsity:.2%}.\n"
            )
    elif stream is not None:
        mode, gamma, _ = stage_one_settings(config)
        stream.write(
            f"Finding a lottery ticket: {rounds} rounds x {steps} steps, pruning "
            f"{config['prune_fraction']:.0%} of the remaining {'conv ' if scope == 'conv' else ''}weights "
            f"per round ranked on {'the EMA generator' if rank_on == 'ema' else 'G'}, rewind to "
            f"{config['rewind']}; augment_mode {mode}, advaug_gamma {gamma:g}.\n"
        )
    if stream is not None:
        stream.flush()
    for index in range(done + 1, rounds + 1):
        for callback in callbacks:
            if hasattr(callback, "where"):
                callback.where = f"stage I round {index}/{rounds}"
        found = lottery.find_ticket(
            stage,
            dataset if round_dataset is None else round_dataset(index),
            rounds=1,
            fraction=config["prune_fraction"],
            steps_per_round=steps,
            prune_discriminator=config["prune_discriminator"],
            # Round 1 takes the rewind point (init or step `rewind`) and leaves the networks there;
            # from it, every later round is a round that rewinds to where it starts.
            rewind=config["rewind"] if index == 1 else "init",
            reset_discriminator=config["reset_discriminator"],
            callbacks=callbacks,
            verbose=verbose,
            prune_scope=scope,
            rank_on=rank_on,
        )
        records.append(dict(found.rounds[0], round=index))
        masks = (found.generator_masks, found.discriminator_masks, found.ema_masks)
        try:
            _save_progress(stage, out, index, records, masks[0], masks[1])
        except faults.TrainingDiverged as error:  # finite losses, but the rewound weights are not
            error.where = f"stage I round {index}/{rounds}"
            raise
        if stream is not None:
            stream.write(_round_line(records[-1], rounds))
            stream.flush()
    ticket = lottery.Ticket(masks[0], masks[1], masks[2], records)
    if stage is not gan:
        ticket = _hand_over(stage, gan, ticket, scope)
    if stream is not None:
        stream.write(ticket.generator_masks.summary() + "\n")
        stream.flush()
    os.makedirs(out, exist_ok=True)
    saved = [(ticket.generator_masks, GENERATOR_MASKS)]
    if ticket.discriminator_masks is not None:
        saved.append((ticket.discriminator_masks, DISCRIMINATOR_MASKS))
    for masks_of, name in saved:  # np.savez adds ".npz" to a name without it: keep it in the temp name
        masks_of.save(os.path.join(out, f"tmp-{name}"))
    run_dir_lib.write_json(
        os.path.join(out, "ticket.json"),
        {
            "rounds": ticket.rounds,
            "generator_layer_sparsity": ticket.generator_masks.layer_sparsity(),
            "discriminator_layer_sparsity": (
                ticket.discriminator_masks.layer_sparsity() if ticket.discriminator_masks is not None else None
            ),
        },
    )
    with open(os.path.join(out, "sparsity.txt"), "w") as f:
        f.write(ticket.generator_masks.summary() + "\n")
        if ticket.discriminator_masks is not None:
            f.write("\n" + ticket.discriminator_masks.summary() + "\n")
    checkpoint_lib.save_checkpoint(gan, checkpoint_dir, step=0, epoch=0)
    for _, name in saved:  # the masks last: their presence means stage I and its checkpoint are done
        os.replace(os.path.join(out, f"tmp-{name}"), os.path.join(out, name))
    if os.path.exists(os.path.join(out, STAGE1_FILE)):
        os.remove(os.path.join(out, STAGE1_FILE))
    _remove_progress_files(out)
    return ticket


__all__ = [
    "ROUND_SEED_STRIDE",
    "TICKET_DIR",
    "load_ticket",
    "prepare_ticket",
    "read_progress",
    "stage_one_gan",
    "stage_one_settings",
]
