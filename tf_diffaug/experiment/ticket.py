"""Stage I of a lottery-ticket run: find the sparse subnetwork before training, or reload it.

A configuration with `prune_rounds > 0` trains a ticket (Chen et al., "Data-Efficient GAN Training
Beyond (Just) Augmentations: A Lottery Ticket Perspective", NeurIPS 2021, arXiv:2103.00397):
`td.lottery.find_ticket` runs `prune_rounds` rounds of training (`prune_steps` steps each, or
`steps`), global magnitude pruning of `prune_fraction` of G's remaining kernel weights (and D's with
`prune_discriminator`) and rewinding to initialization (or to step `rewind`), then the usual run
trains the rewound sparse networks (stage II) with the masks in force.

The run folder gets `ticket/`: `generator_masks.npz` (and `discriminator_masks.npz`), the
`PruningMasks.save` files; `ticket.json`, one record per round (sparsity, pruned count, the
round's last losses) plus the per-kernel sparsity; `sparsity.txt`, the same as a table. Right
after stage I a step-0 checkpoint of the rewound, masked networks is written, then the masks are
moved into place: a resumed run that finds the masks reattaches them and restores its latest
checkpoint (that one or a later one), and one killed during stage I (which has no intermediate
checkpoints) finds none and searches again.
"""

import os

from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import run_dir as run_dir_lib

TICKET_DIR = "ticket"
GENERATOR_MASKS = "generator_masks.npz"
DISCRIMINATOR_MASKS = "discriminator_masks.npz"


def _ema(gan):
    ema = getattr(gan, "ema_generator", None)
    return None if ema is gan.generator else ema


def load_ticket(gan, ticket_dir):
    """Attaches the masks saved in `ticket_dir` to `gan`'s networks; returns a `td.lottery.Ticket`.

    Returns:
        The ticket, or None when `ticket_dir` holds no generator masks.
    """
    from tf_diffaug import lottery

    path = os.path.join(ticket_dir, GENERATOR_MASKS)
    if not os.path.exists(path):
        return None
    g_masks = lottery.PruningMasks(gan.generator).load(path)
    ema = _ema(gan)
    ema_masks = lottery.PruningMasks(ema).load(path) if ema is not None else None
    d_path = os.path.join(ticket_dir, DISCRIMINATOR_MASKS)
    d_masks = lottery.PruningMasks(gan.discriminator).load(d_path) if os.path.exists(d_path) else None
    records = []
    json_path = os.path.join(ticket_dir, "ticket.json")
    if os.path.exists(json_path):
        records = run_dir_lib.read_json(json_path)["rounds"]
    return lottery.Ticket(g_masks, d_masks, ema_masks, records)


def prepare_ticket(gan, dataset, config, ticket_dir, checkpoint_dir, out=None, verbose=1, stream=None):
    """Reloads the ticket of a resumed run from `ticket_dir`, or finds it (stage I) and saves it.

    Args:
        gan: the compiled `td.GAN` of the run, freshly built.
        dataset: the run's repeated training dataset.
        config: the resolved configuration (`prune_rounds`, `prune_fraction`, `prune_steps`,
            `rewind`, `prune_discriminator`, `reset_discriminator`).
        ticket_dir: the run folder's `ticket/` (read).
        checkpoint_dir: where the step-0 checkpoint of the ticket is written (the run's
            `checkpoints/`).
        out: folder to write the ticket files into (default `ticket_dir`; a temporary folder on
            non-chief workers).
        verbose: `fit` verbosity of the pruning rounds.
        stream: file-like object for one line per round and the sparsity table, or None.

    Returns:
        The `td.lottery.Ticket`, its masks attached to `gan`'s networks.
    """
    from tf_diffaug import lottery

    ticket = load_ticket(gan, ticket_dir)
    if ticket is not None:
        if stream is not None:
            stream.write(f"Ticket reloaded from {ticket_dir}: G sparsity {ticket.generator_sparsity:.2%}.\n")
        return ticket
    out = out or ticket_dir
    rounds = config["prune_rounds"]
    steps = config["prune_steps"] or config["steps"]
    if stream is not None:
        stream.write(
            f"Finding a lottery ticket: {rounds} rounds x {steps} steps, pruning "
            f"{config['prune_fraction']:.0%} of the remaining weights per round, rewind to "
            f"{config['rewind']}.\n"
        )
        stream.flush()
    ticket = lottery.find_ticket(
        gan,
        dataset,
        rounds=rounds,
        fraction=config["prune_fraction"],
        steps_per_round=steps,
        prune_discriminator=config["prune_discriminator"],
        rewind=config["rewind"],
        reset_discriminator=config["reset_discriminator"],
        verbose=verbose,
    )
    if stream is not None:
        for record in ticket.rounds:
            losses = ", ".join(f"{k} {record[k]:.4f}" for k in ("d_loss", "g_loss") if k in record)
            stream.write(
                f"IMP round {record['round']}/{rounds}: G sparsity {record['generator_sparsity']:.2%}"
                f", D sparsity {record['discriminator_sparsity']:.2%}; {losses}\n"
            )
        stream.write(ticket.generator_masks.summary() + "\n")
        stream.flush()
    os.makedirs(out, exist_ok=True)
    saved = [(ticket.generator_masks, GENERATOR_MASKS)]
    if ticket.discriminator_masks is not None:
        saved.append((ticket.discriminator_masks, DISCRIMINATOR_MASKS))
    for masks, name in saved:  # np.savez adds ".npz" to a name without it: keep it in the temp name
        masks.save(os.path.join(out, f"tmp-{name}"))
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
    return ticket
