"""find_ticket / train_ticket on a real (tiny) GAN training loop."""

import keras
import numpy as np
import pytest
import tensorflow as tf

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


def _td_gan(seed, ema_decay=0.9):
    import tf_diffaug as td

    generator, discriminator = lottery_toy_gan.make_networks(seed=seed)
    gan = td.GAN(generator, discriminator, latent_dim=lottery_toy_gan.LATENT, ema_decay=ema_decay, seed=seed)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2), loss="hinge")
    return gan


def test_train_ticket_on_an_already_fitted_gan_keeps_pruned_weights_zero(monkeypatch):
    # fit() traced the step before any mask constraint existed; train_ticket must retrace it.
    from tf_diffaug.lottery import ticket as ticket_lib

    def pruned_values(retrace):
        gan = _td_gan(seed=30)
        gan.fit(lottery_toy_gan.make_dataset(seed=30), steps_per_epoch=2, epochs=1, verbose=0)
        assert gan.train_function is not None  # traced
        masks = PruningMasks(gan.generator)
        masks.prune(0.5)
        with monkeypatch.context() as patch:
            if not retrace:
                patch.setattr(ticket_lib, "_retrace", lambda gan: None)
            train_ticket(gan, masks, lottery_toy_gan.make_dataset(seed=31), steps=3)
        values = []
        for model in (gan.generator, gan.ema_generator):
            weights = model.get_weights()
            values += [weights[i][m == 0] for i, m in zip(_kernel_indices(model), masks.masks)]
        return np.concatenate(values)

    assert np.all(pruned_values(retrace=True) == 0.0)
    assert np.count_nonzero(pruned_values(retrace=False)) > 0  # control: the stale trace revives them


def test_rank_on_ema_takes_the_masks_from_the_ema_generator():
    # Chen et al.'s ticket is the EMA generator's (train_with_masks_adv_gd_less.py loads the masks of
    # avg_gen_state_dict into G and G_ema): after a round, G's masks are the global magnitude masks of
    # the EMA kernels at the end of that round, and the EMA copy gets the same masks.
    from tf_diffaug.lottery import global_magnitude_masks

    gan = _td_gan(seed=32, ema_decay=0.5)

    class EMARecorder(keras.callbacks.Callback):
        kernels = []

        def on_train_end(self, logs=None):
            weights = gan.ema_generator.get_weights()
            self.kernels.append([weights[i] for i in _kernel_indices(gan.ema_generator)])

    recorder = EMARecorder()
    ticket = find_ticket(
        gan, lottery_toy_gan.make_dataset(seed=32), rounds=1, steps_per_round=3, rank_on="ema", callbacks=[recorder]
    )
    ema_kernels = recorder.kernels[-1]
    expected = global_magnitude_masks(ema_kernels, [np.ones_like(k) for k in ema_kernels], 0.2)
    for got, ema_got, want in zip(ticket.generator_masks.masks, ticket.ema_masks.masks, expected):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(ema_got, want)
    with pytest.raises(ValueError, match=r"Unknown rank_on 'avg'. Expected one of \['generator', 'ema'\]"):
        find_ticket(gan, lottery_toy_gan.make_dataset(), rounds=1, rank_on="avg")


def test_rank_on_ema_differs_from_ranking_the_generator():
    def masks(rank_on):
        gan = _td_gan(seed=33, ema_decay=0.5)
        return find_ticket(
            gan, lottery_toy_gan.make_dataset(seed=33), rounds=1, steps_per_round=3, rank_on=rank_on
        ).generator_masks.masks

    assert not all(np.array_equal(a, b) for a, b in zip(masks("ema"), masks("generator")))


def test_prune_scope_conv_leaves_the_generators_linear_layer_dense():
    import tf_diffaug as td

    generator, discriminator = td.networks.get("dcgan", resolution=32, channels=1, width=2, latent_dim=8)
    gan = td.GAN(generator, discriminator, latent_dim=8, seed=34)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2))
    images = np.random.default_rng(34).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True).repeat()
    ticket = find_ticket(gan, data, rounds=1, steps_per_round=1, prune_scope="conv", prune_discriminator=True)
    for masks, model in ((ticket.generator_masks, generator), (ticket.discriminator_masks, discriminator)):
        assert masks.model is model and masks.prune_scope == "conv" and all(len(v.shape) == 4 for v in masks.kernels)
        conv_total = sum(int(np.prod(v.shape)) for v in masks.kernels)
        zeros = sum(int(np.sum(keras.ops.convert_to_numpy(v) == 0)) for v in masks.kernels)
        assert zeros == round(0.2 * conv_total)  # 20 % of the conv weights, ranked among themselves
    for name in ("project", "linear"):  # G's stem and D's head: dense and untouched
        kernel = (generator if name == "project" else discriminator).get_layer(name).kernel
        assert np.count_nonzero(keras.ops.convert_to_numpy(kernel)) == int(np.prod(kernel.shape))
    train_ticket(gan, ticket, data, steps=1)
    for masks in (ticket.generator_masks, ticket.ema_masks):
        for variable, mask in zip(masks.kernels, masks.masks):
            assert np.all(keras.ops.convert_to_numpy(variable)[mask == 0] == 0.0)
