"""find_ticket / train_ticket on a real (tiny) GAN training loop."""

import keras
import numpy as np
import pytest

from tests.helpers import lottery_toy_gan  # a minimal GAN with td.GAN's attribute names
from tf_diffaug.lottery import PruningMasks, find_ticket, train_ticket

STEPS = 3


def _numpy(model):
    return [np.array(w) for w in model.get_weights()]


def _kernel_indices(model):
    return [i for i, v in enumerate(model.weights) if v.name.endswith("kernel") and len(v.shape) >= 2]


def _alive(total, fraction, rounds):
    for _ in range(rounds):
        total -= int(round(fraction * total))
    return total


class WeightRecorder(keras.callbacks.Callback):
    """Records G and D weights and optimizer iterations at the end of every fit call."""

    def __init__(self):
        super().__init__()
        self.records = []

    def on_train_end(self, logs=None):
        gan = self.model
        self.records.append(
            {
                "g": _numpy(gan.generator),
                "d": _numpy(gan.discriminator),
                "g_iter": int(gan.g_optimizer.iterations),
                "d_iter": int(gan.d_optimizer.iterations),
            }
        )


@pytest.fixture(scope="module")
def imp_run():
    gan = lottery_toy_gan.make_gan(seed=0, weight_decay=0.1)
    init_g, init_d, init_ema = _numpy(gan.generator), _numpy(gan.discriminator), _numpy(gan.ema_generator)
    recorder = WeightRecorder()
    ticket = find_ticket(
        gan,
        lottery_toy_gan.make_dataset(),
        rounds=3,
        fraction=0.2,
        steps_per_round=STEPS,
        prune_discriminator=True,
        callbacks=[recorder],
    )
    return gan, ticket, init_g, init_d, init_ema, recorder


def test_sparsity_compounds_per_round(imp_run):
    gan, ticket, *_ = imp_run
    _, g_total = ticket.generator_masks.counts()
    _, d_total = ticket.discriminator_masks.counts()
    assert [r["round"] for r in ticket.rounds] == [1, 2, 3]
    for k, record in enumerate(ticket.rounds, start=1):
        assert record["generator_sparsity"] == pytest.approx(1 - _alive(g_total, 0.2, k) / g_total, rel=1e-12)
        assert record["discriminator_sparsity"] == pytest.approx(1 - _alive(d_total, 0.2, k) / d_total, rel=1e-12)
        assert abs(record["generator_sparsity"] - (1 - 0.8**k)) <= k / g_total
        assert np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"])
    # Sparsity measured on the weights themselves (init weights are non-zero).
    kernels = [gan.generator.get_weights()[i] for i in _kernel_indices(gan.generator)]
    zero_fraction = sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)
    assert zero_fraction == pytest.approx(ticket.generator_masks.sparsity, rel=1e-12)


def test_survivors_rewound_to_exact_initial_values(imp_run):
    gan, ticket, init_g, init_d, init_ema, recorder = imp_run
    assert len(recorder.records) == 3 and not np.array_equal(recorder.records[-1]["g"][0], init_g[0])  # it trained
    for model, init, masks in (
        (gan.generator, init_g, ticket.generator_masks),
        (gan.discriminator, init_d, ticket.discriminator_masks),
        (gan.ema_generator, init_ema, ticket.ema_masks),
    ):
        current = _numpy(model)
        mask_by_index = dict(zip(_kernel_indices(model), masks.masks))
        for i, (now, start) in enumerate(zip(current, init)):
            mask = mask_by_index.get(i, np.ones_like(start))
            np.testing.assert_array_equal(now, start * mask)  # survivors exact, pruned exactly 0
    assert ticket.snapshot.survivors_match("generator", ticket.generator_masks)


def test_optimizers_reset_to_fresh_state(imp_run):
    gan, _, _, _, _, recorder = imp_run
    assert recorder.records[-1]["g_iter"] == STEPS  # each round restarts from iteration 0
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert int(optimizer.iterations) == 0
        for variable in optimizer.variables:
            if variable.name != "learning_rate":
                assert not np.any(keras.ops.convert_to_numpy(variable))
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-2)


def test_train_ticket_keeps_pruned_weights_zero(imp_run):
    gan, ticket, init_g, *_ = imp_run
    history = train_ticket(gan, ticket, lottery_toy_gan.make_dataset(seed=1), steps=STEPS)
    assert len(history.history["g_loss"]) == 1
    for model, masks in (
        (gan.generator, ticket.generator_masks),
        (gan.discriminator, ticket.discriminator_masks),
        (gan.ema_generator, ticket.ema_masks),
    ):
        weights = model.get_weights()
        for i, mask in zip(_kernel_indices(model), masks.masks):
            assert np.all(weights[i][mask == 0] == 0.0)
    g_kernel = gan.generator.get_weights()[0]
    mask = ticket.generator_masks.masks[0]
    assert not np.array_equal(g_kernel[mask == 1], init_g[0][mask == 1])  # survivors trained


def test_late_rewinding_and_discriminator_fine_tuning():
    gan = lottery_toy_gan.make_gan(seed=3)
    init_d = _numpy(gan.discriminator)
    recorder = WeightRecorder()
    ticket = find_ticket(
        gan,
        lottery_toy_gan.make_dataset(seed=3),
        rounds=1,
        steps_per_round=4,
        rewind=2,
        reset_discriminator=False,
        callbacks=[recorder],
    )
    assert ticket.discriminator_masks is None and ticket.snapshot.step == 2
    after_two, after_four = recorder.records  # the first round is fit for 2 then 2 more steps
    mask_by_index = dict(zip(_kernel_indices(gan.generator), ticket.generator_masks.masks))
    for i, (now, early) in enumerate(zip(_numpy(gan.generator), after_two["g"])):
        np.testing.assert_array_equal(now, early * mask_by_index.get(i, 1.0))
    for now, end in zip(_numpy(gan.discriminator), after_four["d"]):
        np.testing.assert_array_equal(now, end)  # D kept ("fine-tuned"), not reset
    assert not all(np.array_equal(a, b) for a, b in zip(after_four["d"], init_d))
    assert int(gan.g_optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 4


def test_ticket_transfers_to_another_gan_instance():
    donor = lottery_toy_gan.make_gan(seed=4)
    masks = PruningMasks(donor.generator)
    masks.prune(0.5)
    gan = lottery_toy_gan.make_gan(seed=5)
    train_ticket(gan, masks, lottery_toy_gan.make_dataset(seed=5), steps=2)
    weights = gan.generator.get_weights()
    for i, mask in zip(_kernel_indices(gan.generator), masks.masks):
        assert np.all(weights[i][mask == 0] == 0.0) and np.count_nonzero(weights[i][mask == 1]) > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rounds": 0}, "rounds"),
        ({"rounds": 1, "fraction": 1.5}, "fraction"),
        ({"rounds": 1, "rewind": "start"}, "rewind"),
        ({"rounds": 1, "rewind": 5, "steps_per_round": 5}, "rewind"),
        ({"rounds": 1, "steps_per_round": 0}, "steps_per_round"),
    ],
)
def test_bad_arguments_are_rejected_before_training(kwargs, match):
    gan = lottery_toy_gan.make_gan(seed=6)
    with pytest.raises(ValueError, match=match):
        find_ticket(gan, lottery_toy_gan.make_dataset(), **kwargs)


def test_end_to_end_with_td_gan():
    import tf_diffaug as td

    generator, discriminator = lottery_toy_gan.make_networks(seed=7)
    augment = td.DiffAugment("color,translation,cutout", seed=0)
    gan = td.GAN(generator, discriminator, latent_dim=lottery_toy_gan.LATENT, augment=augment, ema_decay=0.9, seed=0)
    gan.compile(
        g_optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.1),
        d_optimizer=keras.optimizers.Adam(1e-2),
        loss="hinge",
    )
    init_g = _numpy(gan.generator)
    ticket = td.lottery.find_ticket(
        gan, lottery_toy_gan.make_dataset(seed=7), rounds=2, steps_per_round=2, prune_discriminator=True
    )
    _, total = ticket.generator_masks.counts()
    assert ticket.generator_masks.sparsity == pytest.approx(1 - _alive(total, 0.2, 2) / total, rel=1e-12)
    assert {"d_loss", "g_loss"} <= set(ticket.rounds[-1])
    assert int(gan.step_counter) == 0  # rewound to init with the weights: 2 rounds x 2 steps undone
    mask_by_index = dict(zip(_kernel_indices(gan.generator), ticket.generator_masks.masks))
    for i, (now, start) in enumerate(zip(_numpy(gan.generator), init_g)):
        np.testing.assert_array_equal(now, start * mask_by_index.get(i, 1.0))
    td.lottery.train_ticket(gan, ticket, lottery_toy_gan.make_dataset(seed=8), steps=2)
    assert int(gan.step_counter) == 2
    for masks in (ticket.generator_masks, ticket.discriminator_masks, ticket.ema_masks):
        assert masks.model in (gan.generator, gan.discriminator, gan.ema_generator)
        for variable, mask in zip(masks.kernels, masks.masks):
            assert np.all(keras.ops.convert_to_numpy(variable)[mask == 0] == 0.0)
    samples = gan.generate(4, use_ema=True, seed=0)
    assert np.all(np.isfinite(samples))


def test_reset_optimizer_to_zero_state_or_snapshot():
    from tf_diffaug.lottery import reset_optimizer
    from tf_diffaug.lottery.rewind import optimizer_state

    variable = keras.Variable(np.array([1.0, -2.0], "float32"))
    optimizer = keras.optimizers.Adam(0.1)
    optimizer.apply([keras.ops.convert_to_tensor([0.5, 0.5])], [variable])
    saved = optimizer_state(optimizer)
    optimizer.apply([keras.ops.convert_to_tensor([1.0, -1.0])], [variable])
    reset_optimizer(optimizer, saved)
    for value, recorded in zip(optimizer.variables, saved):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), recorded)
    assert int(optimizer.iterations) == 1
    reset_optimizer(optimizer)
    assert int(optimizer.iterations) == 0 and float(optimizer.learning_rate) == pytest.approx(0.1)
    slots = [v for v in optimizer.variables if v.name not in ("iteration", "learning_rate")]
    assert slots and all(not np.any(keras.ops.convert_to_numpy(v)) for v in slots)


def test_late_rewinding_rewinds_the_gan_step_counter_and_adaptive_p():
    import tf_diffaug as td

    generator, discriminator = lottery_toy_gan.make_networks(seed=3)
    augment = td.augment.AdaptiveAugment(td.DiffAugment("color,translation", seed=0), initial_p=0.5, seed=1)
    gan = td.GAN(generator, discriminator, latent_dim=lottery_toy_gan.LATENT, augment=augment, seed=0)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-2),
        d_optimizer=keras.optimizers.Adam(1e-2),
        loss="hinge",
        ada_target=0.6,
        ada_interval=1,
        lecam_weight=0.1,
    )

    class Record(keras.callbacks.Callback):  # (step, p, LeCam anchor) at the end of every fit
        seen = []

        def on_train_end(self, logs=None):
            self.seen.append((int(gan.step_counter), float(augment.p.numpy()), float(gan.lecam.anchor_real.numpy())))

    record = Record()
    td.lottery.find_ticket(
        gan, lottery_toy_gan.make_dataset(seed=3), rounds=2, steps_per_round=3, rewind=1, callbacks=[record]
    )
    # fits: 1 step (the snapshot is taken after it), 2 steps, [rewind], 3 steps, [rewind]
    assert [step for step, _, _ in record.seen] == [1, 3, 4]
    assert record.seen[1][2] != record.seen[0][2]  # the LeCam anchor moved after the snapshot...
    assert {p for _, p, _ in record.seen} != {0.5}  # ...and so did p (ADA, interval 1)
    assert int(gan.step_counter) == 1  # ...and everything is back at the snapshot of step 1
    assert float(augment.p.numpy()) == record.seen[0][1]
    assert float(gan.lecam.anchor_real.numpy()) == record.seen[0][2]
