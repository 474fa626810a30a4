"""Finding and training GAN lottery tickets by iterative magnitude pruning (IMP).

Stage I of Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery
Ticket Perspective", NeurIPS 2021 (arXiv:2103.00397): train the GAN on the small training set,
prune a fraction (20 %) of the remaining generator weights by global magnitude, rewind the
survivors to their initial values, repeat; stage II (``train_ticket``) trains the resulting sparse
subnetwork on the same data. The discriminator is either kept dense or pruned alike
(``prune_discriminator``), and after each round either reset to its initial weights or kept
("fine-tuned") for the next round (``reset_discriminator``).

The driver only uses ``gan.generator``, ``gan.discriminator``, ``gan.ema_generator`` (optional),
``gan.g_optimizer`` / ``gan.d_optimizer`` (for ``reset_optimizers``), ``gan.fit`` and the GAN's own
non-trainable state variables (step counter, regularizer anchors, adaptive p: rewound with the
weights), so it drives ``td.GAN`` or any keras.Model GAN with those attributes.
"""

import dataclasses

from tf_diffaug.lottery import pruning
from tf_diffaug.lottery.masks import PruningMasks
from tf_diffaug.lottery.rewind import TrainingSnapshot

# Whose magnitudes rank the generator's weights in each IMP round (``find_ticket(rank_on=...)``).
RANK_ON = ("generator", "ema")


@dataclasses.dataclass
class Ticket:
    """The result of ``find_ticket``: masks of the pruned networks and one record per round.

    Attributes:
        generator_masks: ``PruningMasks`` of ``gan.generator``.
        discriminator_masks: ``PruningMasks`` of ``gan.discriminator``, or ``None`` when D was not
            pruned.
        ema_masks: ``PruningMasks`` of ``gan.ema_generator`` (a copy of the generator masks), or
            ``None``.
        rounds: list of dicts, one per round: ``round``, ``generator_sparsity``,
            ``discriminator_sparsity``, ``pruned`` (weights removed this round) and the final
            value of every log of that round's ``History`` (``d_loss``, ``g_loss``, ...).
        snapshot: the ``TrainingSnapshot`` survivors were rewound to.
    """

    generator_masks: PruningMasks
    discriminator_masks: PruningMasks = None
    ema_masks: PruningMasks = None
    rounds: list = dataclasses.field(default_factory=list)
    snapshot: TrainingSnapshot = None

    def apply(self):
        """Zeroes the pruned weights of every masked network now."""
        for masks in (self.generator_masks, self.discriminator_masks, self.ema_masks):
            if masks is not None:
                masks.apply()

    @property
    def generator_sparsity(self):
        return self.generator_masks.sparsity


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return value


def _check_rewind(rewind, steps_per_round):
    if rewind == "init":
        return 0
    if isinstance(rewind, bool) or not isinstance(rewind, int) or not 0 <= rewind < steps_per_round:
        raise ValueError(
            "`rewind` must be 'init' or an integer step in [0, steps_per_round) for late rewinding. "
            f"Received: rewind={rewind!r} with steps_per_round={steps_per_round}"
        )
    return rewind


def _optimizers(gan, needed):
    g_opt, d_opt = getattr(gan, "g_optimizer", None), getattr(gan, "d_optimizer", None)
    if needed and (g_opt is None or d_opt is None):
        raise ValueError(
            "reset_optimizers=True needs `gan.g_optimizer` and `gan.d_optimizer` (set by td.GAN.compile); "
            f"found g_optimizer={g_opt!r}, d_optimizer={d_opt!r}. Compile the GAN first or pass reset_optimizers=False."
        )
    return g_opt, d_opt


def _retrace(gan):
    """Makes the next ``fit`` trace a new step that calls the just-attached mask constraints."""
    make = getattr(gan, "make_train_function", None)
    if make is not None and getattr(gan, "train_function", None) is not None:
        make(force=True)


def _training_state(gan, models):
    """The GAN's own state variables outside its networks (step counter, LeCam anchors, ADA sums, p).

    Rewinding the weights rewinds these too, so each round (and the ticket's training) starts
    with the step count, regularizer anchors and augmentation strength of the snapshot; a
    schedule keyed on the step (``ema_start_step``) then applies to the ticket as to a fresh
    run. Random-generator states are left running (each round draws new latents), and
    trainable variables belong to the networks.
    """
    owned = {id(v) for model in models.values() if model is not None for v in model.variables}
    return [
        v
        for v in getattr(gan, "variables", [])
        if id(v) not in owned and not v.trainable and "seed_generator" not in v.path
    ]


def _shuffle(dataset):
    """`fit`'s `shuffle`: False for a tf.data pipeline (it shuffles itself; True only makes Keras warn)."""
    return not type(dataset).__module__.startswith("tensorflow")


def _fit(gan, dataset, steps, callbacks, verbose):
    history = gan.fit(
        dataset, steps_per_epoch=steps, epochs=1, callbacks=callbacks, verbose=verbose, shuffle=_shuffle(dataset)
    )
    return {key: float(values[-1]) for key, values in history.history.items() if len(values)}


def find_ticket(
    gan,
    dataset,
    rounds,
    fraction=0.2,
    steps_per_round=1000,
    prune_discriminator=False,
    rewind="init",
    reset_discriminator=True,
    reset_optimizers=True,
    include=None,
    callbacks=None,
    verbose=0,
    prune_scope="all",
    rank_on="generator",
):
    """Finds a sparse generator (and optionally discriminator) ticket by IMP, pruning in place.

    Each round trains the compiled GAN for ``steps_per_round`` steps (``gan.fit(dataset,
    steps_per_epoch=steps_per_round, epochs=1)``), prunes ``fraction`` of the remaining weights
    of G (and of D when ``prune_discriminator``) by global magnitude, then rewinds: all weights of
    G (and of ``gan.ema_generator``) go back to the snapshot, D too when ``reset_discriminator``,
    and the masks zero the pruned entries. After ``rounds`` rounds the generator's sparsity is
    ``1 - (1 - fraction) ** rounds`` (to within one weight per round) and the networks are left
    rewound with the masks attached, ready for ``train_ticket``. The GAN's own state variables
    (``td.GAN``'s step counter, LeCam anchors, ADA accumulators and adaptive ``p``) are rewound
    with the weights, so ``ema_start_step`` and the ADA schedule restart for the ticket. The
    pruning masks stay in force during training through ``MaskConstraint`` (see ``tf_diffaug.lottery.masks``). Masks already
    attached to the networks (e.g. by an earlier ``find_ticket``) are kept and pruned further, and
    the snapshot is taken from the weights as they are when the call starts.

    Args:
        gan: a compiled GAN keras.Model with ``generator``, ``discriminator`` (and optionally
            ``ema_generator``, ``g_optimizer``, ``d_optimizer``) attributes, freshly initialized.
        dataset: what ``gan.fit`` takes; it must provide ``steps_per_round`` batches per round
            (use ``dataset.repeat()``).
        rounds: number of prune-rewind rounds (>= 1); 8 rounds of 20 % give 83.2 % sparsity.
        fraction: share of the remaining weights pruned per round, in [0, 1). Default 0.2.
        steps_per_round: training steps per round (>= 1).
        prune_discriminator: also prune D's kernels (its own global ranking) each round.
        rewind: ``"init"`` rewinds survivors to their initial values; an integer ``k`` rewinds to
            their values after ``k`` steps of the first round ("late rewinding").
        reset_discriminator: rewind D to the same snapshot after each round (``True``), or keep
            training it from where it is ("fine-tune", ``False``).
        reset_optimizers: rewind ``gan.g_optimizer`` (and ``gan.d_optimizer`` when D is reset) to
            their state at the snapshot, so each round starts with fresh Adam moments.
        include: optional ``callable(variable) -> bool`` selecting the prunable kernels (instead
            of ``prune_scope``).
        callbacks: Keras callbacks passed to every ``fit``.
        verbose: ``fit`` verbosity.
        prune_scope: which kernels are pruned: ``"all"`` (default: conv and dense kernels) or
            ``"conv"`` (convolutions only, G's first linear layer stays dense: Chen et al.'s
            ``SNGAN/utils/utils.py`` ``pruning_generate`` l.22-33); see
            ``td.lottery.masks.is_conv_kernel``. Reload saved masks with the same scope.
        rank_on: whose magnitudes rank G's weights each round: ``"generator"`` (default) or
            ``"ema"``, the EMA generator, as the authors' ticket (``train_impg_less.py`` prunes
            ``avg_gen_net`` too and ``train_with_masks_adv_gd_less.py`` l.20-23, 92-93 applies
            the masks of its ``avg_gen_state_dict`` to G and the EMA copy). The masks are then the
            same for G and ``gan.ema_generator``; D is always ranked on itself.

    Returns:
        A ``Ticket`` with the masks and one metrics dict per round.

    Example:
        >>> ticket = find_ticket(gan, data.repeat(), rounds=8, steps_per_round=2000)  # doctest: +SKIP
        >>> history = train_ticket(gan, ticket, data.repeat(), steps=20000)  # doctest: +SKIP
    """
    rounds = _check_positive_int(rounds, "rounds")
    fraction = pruning.check_fraction(fraction)
    steps_per_round = _check_positive_int(steps_per_round, "steps_per_round")
    rewind_step = _check_rewind(rewind, steps_per_round)
    if rank_on not in RANK_ON:
        raise ValueError(f"Unknown rank_on {rank_on!r}. Expected one of {list(RANK_ON)}.")
    g_opt, d_opt = _optimizers(gan, reset_optimizers)
    generator, discriminator = gan.generator, gan.discriminator
    ema = getattr(gan, "ema_generator", None)
    ema = None if ema is generator else ema
    if rank_on == "ema" and ema is None:
        raise ValueError("rank_on='ema' needs a GAN with an `ema_generator` other than its generator.")

    g_masks = PruningMasks(generator, include=include, prune_scope=prune_scope)
    d_masks = PruningMasks(discriminator, include=include, prune_scope=prune_scope) if prune_discriminator else None
    ema_masks = PruningMasks(ema, include=include, prune_scope=prune_scope) if ema is not None else None
    _retrace(gan)
    models = {"generator": generator, "discriminator": discriminator, "ema_generator": ema}
    optimizers = {"generator": g_opt, "discriminator": d_opt}

    state = _training_state(gan, models)

    def take_snapshot(step):
        return TrainingSnapshot(models, optimizers, step=step, variables=state)

    snapshot = take_snapshot(0) if rewind_step == 0 else None
    records = []
    for index in range(rounds):
        if snapshot is None:
            logs = _fit(gan, dataset, rewind_step, callbacks, verbose)
            snapshot = take_snapshot(rewind_step)
            logs = _fit(gan, dataset, steps_per_round - rewind_step, callbacks, verbose)
        else:
            logs = _fit(gan, dataset, steps_per_round, callbacks, verbose)
        removed = g_masks.prune(fraction, rank_on=ema_masks if rank_on == "ema" else None)
        if d_masks is not None:
            d_masks.prune(fraction)
        snapshot.restore_model("generator", generator)
        if ema is not None:
            snapshot.restore_model("ema_generator", ema)
            ema_masks.assign(g_masks.masks)
        if reset_discriminator:
            snapshot.restore_model("discriminator", discriminator)
        snapshot.restore_variables()
        if reset_optimizers:
            snapshot.restore_optimizer("generator", g_opt)
            if reset_discriminator:
                snapshot.restore_optimizer("discriminator", d_opt)
        g_masks.apply()
        if d_masks is not None:
            d_masks.apply()
        record = {
            "round": index + 1,
            "pruned": removed,
            "generator_sparsity": g_masks.sparsity,
            "discriminator_sparsity": d_masks.sparsity if d_masks is not None else 0.0,
        }
        record.update(logs)
        records.append(record)
    return Ticket(g_masks, d_masks, ema_masks, records, snapshot)


def train_ticket(gan, ticket, dataset, steps, epochs=1, callbacks=None, verbose=0):
    """Trains the sparse subnetwork found by ``find_ticket`` (stage II), masks kept in force.

    The networks are used as they are (``find_ticket`` leaves them rewound); the masks are
    re-applied first. A ticket found on another GAN instance of the same architecture (or a
    ``PruningMasks``/masks file loaded by the caller) is transferred onto ``gan``'s networks,
    matched by kernel order and shape (with the masks' ``prune_scope``); then ``gan`` must already
    hold the rewound weights. The GAN's train function is retraced when it was traced before, so a
    GAN that was already fitted (its step traced without the mask constraints) keeps its pruned
    weights at 0 too.

    Args:
        gan: the compiled GAN.
        ticket: a ``Ticket``, or a ``PruningMasks`` of a generator.
        dataset: what ``gan.fit`` takes (repeat it to provide ``steps * epochs`` batches).
        steps: training steps per epoch (>= 1).
        epochs: number of epochs (callbacks such as an FID callback run at each epoch end).
        callbacks: Keras callbacks for ``fit``.
        verbose: ``fit`` verbosity.

    Returns:
        The ``keras.callbacks.History`` of the ``fit``.
    """
    steps = _check_positive_int(steps, "steps")
    epochs = _check_positive_int(epochs, "epochs")
    if isinstance(ticket, PruningMasks):
        ticket = Ticket(ticket)
    if not isinstance(ticket, Ticket):
        raise ValueError(f"`ticket` must be a Ticket or PruningMasks. Received: ticket={ticket!r}")
    ticket = _bind(gan, ticket)
    ticket.apply()
    _retrace(gan)
    return gan.fit(
        dataset, steps_per_epoch=steps, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=_shuffle(dataset)
    )


def _bind(gan, ticket):
    """The ticket's masks attached to ``gan``'s own networks (transferred when they differ)."""

    def on(model, masks):
        if masks is None or model is None:
            return None
        if masks.model is model:
            return masks
        bound = PruningMasks(model, prune_scope=masks.prune_scope or "all")
        bound.assign(masks.masks)
        return bound

    ema = getattr(gan, "ema_generator", None)
    ema = None if ema is gan.generator else ema
    g = on(gan.generator, ticket.generator_masks)
    ema_masks = on(ema, ticket.ema_masks or ticket.generator_masks)
    d = on(gan.discriminator, ticket.discriminator_masks)
    return Ticket(g, d, ema_masks, ticket.rounds, ticket.snapshot)
