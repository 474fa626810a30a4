"""PruningMasks / MaskConstraint / global magnitude pruning, checked against NumPy."""

import os

import keras
import numpy as np
import pytest

from tf_diffaug.lottery import (
    MaskConstraint,
    PruningMasks,
    expected_sparsity,
    global_magnitude_masks,
    rounds_for_sparsity,
)


def _model(name="net", seed=1, prefix=""):
    keras.utils.set_random_seed(seed)
    x = keras.Input((4, 4, 2), name="x")
    h = keras.layers.Conv2D(5, 3, padding="same", name=prefix + "conv")(x)
    h = keras.layers.SpectralNormalization(keras.layers.Conv2D(3, 1, name=prefix + "sn_conv"), name=prefix + "sn")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(7, activation="relu", name=prefix + "dense")(h)
    out = keras.layers.Dense(1, name=prefix + "logit")(h)
    return keras.Model(x, out, name=name)


def _kernels(masks):
    return [keras.ops.convert_to_numpy(v) for v in masks.kernels]


def _flat(arrays):
    return np.concatenate([a.reshape(-1) for a in arrays])


def _alive_after(total, fraction, rounds):
    alive = total
    for _ in range(rounds):
        alive -= int(round(fraction * alive))
    return alive


def test_selects_conv_dense_and_spectral_norm_kernels_only():
    model = _model()
    masks = PruningMasks(model)
    assert masks.names == ["conv/kernel", "sn/sn_conv/kernel", "dense/kernel", "logit/kernel"]
    expected = 3 * 3 * 2 * 5 + 5 * 3 + 48 * 7 + 7
    assert masks.counts() == (0, expected)


@pytest.mark.parametrize("fraction", [0.2, 0.37])
def test_prune_removes_exactly_the_global_smallest(fraction):
    model = _model()
    masks = PruningMasks(model)
    magnitudes = np.abs(_flat(_kernels(masks)))
    removed = masks.prune(fraction)
    total = magnitudes.size
    assert removed == round(fraction * total)
    zeros = _flat(_kernels(masks)) == 0
    assert zeros.sum() == removed  # init weights are non-zero, so zeros are exactly the pruned ones
    assert abs(zeros.mean() - fraction) <= 1.0 / total
    np.testing.assert_array_equal(np.sort(magnitudes[zeros]), np.sort(magnitudes)[:removed])
    assert magnitudes[zeros].max() <= magnitudes[~zeros].min()
    np.testing.assert_array_equal(_flat(masks.masks) == 0, zeros)


def test_rounds_compound_and_never_revive():
    model = _model()
    masks = PruningMasks(model)
    _, total = masks.counts()
    previous = _flat(masks.masks)
    for k in range(1, 5):
        masks.prune(0.2)
        current = _flat(masks.masks)
        assert np.all(current <= previous)
        previous = current
        assert masks.counts()[0] == total - _alive_after(total, 0.2, k)
        assert abs(masks.sparsity - (1 - 0.8**k)) <= k / total
        assert masks.sparsity == pytest.approx(expected_sparsity(0.2, k), abs=k / total)
    assert rounds_for_sparsity(0.8, 0.2) == 8 and expected_sparsity(0.2, 8) >= 0.8 > expected_sparsity(0.2, 7)


def test_layer_sparsity_matches_zero_count_per_kernel():
    model = _model()
    masks = PruningMasks(model)
    masks.prune(0.5)
    per_layer = masks.layer_sparsity()
    for name, kernel in zip(masks.names, _kernels(masks)):
        assert per_layer[name] == pytest.approx(float(np.mean(kernel == 0)))
    assert "overall" in masks.summary() and f"{masks.sparsity:.2%}" in masks.summary()


def test_global_magnitude_masks_handles_ties_and_keeps_dead_weights():
    weights = [np.array([[1.0, 1.0], [1.0, 5.0]]), np.array([0.5, 1.0])]
    masks = [np.array([[1, 1], [1, 1]]), np.array([0, 1])]  # 0.5 already pruned: not counted again
    new = global_magnitude_masks(weights, masks, 0.4)  # 5 alive -> remove 2, ties broken by position
    np.testing.assert_array_equal(new[0], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(new[1], [0, 1])


@pytest.mark.parametrize("bad", [1.0, -0.1, "x", None])
def test_bad_fraction_is_rejected(bad):
    masks = PruningMasks(_model())
    with pytest.raises(ValueError, match="fraction"):
        masks.prune(bad)


def test_bad_inputs_have_clear_errors():
    masks = PruningMasks(_model())
    with pytest.raises(ValueError, match="shape"):
        masks.assign([np.ones((2, 2))] * 4)
    with pytest.raises(ValueError, match="no prunable kernels"):
        PruningMasks(keras.Sequential([keras.Input((3,)), keras.layers.ReLU()]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        MaskConstraint(np.array([0.5, 1.0]))


@pytest.mark.parametrize(
    "optimizer",
    [lambda: keras.optimizers.Adam(0.05), lambda: keras.optimizers.AdamW(0.05, weight_decay=0.5)],
    ids=["adam", "adamw_weight_decay"],
)
def test_masked_weights_stay_exactly_zero_through_optimizer_steps(optimizer):
    model = _model()
    masks = PruningMasks(model)
    masks.prune(0.6)
    before = _kernels(masks)
    model.compile(optimizer(), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4, 4, 2)), rng.normal(size=(32, 1))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 8 optimizer steps
    after = _kernels(masks)
    for mask, old, new in zip(masks.masks, before, after):
        assert np.all(new[mask == 0] == 0.0)
        assert not np.allclose(new[mask == 1], old[mask == 1])  # the survivors did train
    # Control: without the constraint the same training revives pruned weights (the test can fail).
    masks.detach()
    model.make_train_function(force=True)  # the traced step captured the constraints it saw
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.count_nonzero(_flat(_kernels(masks))[_flat(masks.masks) == 0]) > 0


def test_keras_file_round_trip_restores_masks_and_zeros(tmp_path):
    model = _model()
    masks = PruningMasks(model)
    masks.prune(0.5)
    path = os.path.join(tmp_path, "pruned.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = PruningMasks(loaded)  # picks up the MaskConstraints rebuilt from the config
    assert [n.split("/")[-2] for n in restored.names] == [n.split("/")[-2] for n in masks.names]
    for a, b in zip(masks.masks, restored.masks):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_kernels(masks), _kernels(restored)):
        np.testing.assert_array_equal(a, b)
    loaded.compile(keras.optimizers.AdamW(0.05, weight_decay=0.5), "mse")
    rng = np.random.default_rng(1)
    loaded.fit(rng.normal(size=(16, 4, 4, 2)), rng.normal(size=(16, 1)), batch_size=8, verbose=0)
    for mask, kernel in zip(restored.masks, _kernels(restored)):
        assert np.all(kernel[mask == 0] == 0.0)


def test_masks_file_round_trip_by_name_and_by_order(tmp_path):
    model = _model()
    masks = PruningMasks(model)
    masks.prune(0.3)
    path = os.path.join(tmp_path, "masks.npz")
    masks.save(path)
    same = PruningMasks(_model(seed=2)).load(path)
    by_order = PruningMasks(_model(name="other", seed=3, prefix="other_")).load(path)  # paths differ
    assert by_order.names[0] == "other_conv/kernel"
    for loaded in (same, by_order):
        for a, b in zip(masks.masks, loaded.masks):
            np.testing.assert_array_equal(a, b)
        for mask, kernel in zip(loaded.masks, _kernels(loaded)):
            assert np.all(kernel[mask == 0] == 0.0) and np.all(kernel[mask == 1] != 0.0)


def _conv_kernels_by_layer_type(model):
    """Kernel paths of the convolution layers, found by layer class (not by rank)."""
    from tf_diffaug.networks.equalized import EqualizedConv2D
    from tf_diffaug.networks.style_blocks import ModulatedConv2D

    convs = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, EqualizedConv2D, ModulatedConv2D)
    return sorted(layer.kernel.path for layer in model._flatten_layers(include_self=False) if isinstance(layer, convs))


def test_prune_scope_conv_selects_convolution_kernels_only():
    # Chen et al. prune nn.Conv2d / nn.ConvTranspose2d weights only (SNGAN/utils/utils.py pruning_generate).
    conv = PruningMasks(_model(), prune_scope="conv")
    assert conv.names == ["conv/kernel", "sn/sn_conv/kernel"] and conv.prune_scope == "conv"
    assert conv.counts() == (0, 3 * 3 * 2 * 5 + 5 * 3)
    assert PruningMasks(_model(seed=4)).prune_scope == "all"
    with pytest.raises(ValueError, match=r"Unknown prune_scope 'dense'. Expected one of \['all', 'conv'\]"):
        PruningMasks(_model(), prune_scope="dense")
    with pytest.raises(ValueError, match=r"Pass include= or prune_scope=, not both"):
        PruningMasks(_model(), include=lambda v: True, prune_scope="conv")
    with pytest.raises(ValueError, match=r"no prunable kernels \(conv kernels of rank >= 3\)"):
        PruningMasks(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), prune_scope="conv")


@pytest.mark.parametrize(
    "name, overrides, first_dense",
    [
        ("dcgan", {"width": 4}, "project"),
        ("sngan", {"g_width": 16, "d_width": 16}, "linear"),
        ("biggan", {"ch": 8, "attention_resolution": 16}, "linear"),
        ("stylegan2", {"fmap_base": 256, "fmap_max": 16, "w_dim": 16, "mapping_layers": 2}, "mapping0"),
    ],
)
def test_prune_scope_conv_on_every_architecture_leaves_the_dense_layers_dense(name, overrides, first_dense):
    import tf_diffaug as td

    generator, discriminator = td.networks.get(name, resolution=32, num_classes=3, **overrides)
    for model in (generator, discriminator):
        conv = PruningMasks(model, prune_scope="conv")
        assert sorted(conv.names) == _conv_kernels_by_layer_type(model)
        dense = set(PruningMasks(model).names) - set(conv.names)
        assert dense and all(len(v.shape) == 2 for v in PruningMasks(model).kernels if v.path in dense)
    assert any(f"{first_dense}/kernel" in n for n in PruningMasks(generator).names)
    assert not any(f"{first_dense}/kernel" in n for n in PruningMasks(generator, prune_scope="conv").names)


def test_prune_ranked_on_another_models_kernels():
    # rank_on: the EMA generator's magnitudes choose the generator's pruned weights.
    model, other = _model(seed=1), _model(name="ema", seed=7)
    masks, ranking = PruningMasks(model), PruningMasks(other)
    expected = global_magnitude_masks(_kernels(ranking), ranking.masks, 0.3)
    own = global_magnitude_masks(_kernels(masks), masks.masks, 0.3)
    removed = masks.prune(0.3, rank_on=ranking)
    assert removed == round(0.3 * masks.counts()[1])
    for got, want in zip(masks.masks, expected):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(expected, own))  # the ranking mattered
    assert all(np.all(m == 1) for m in ranking.masks)  # the ranking model is not pruned by it
    with pytest.raises(ValueError, match=r"rank_on's kernels .* do not match"):
        masks.prune(0.1, rank_on=PruningMasks(_model(), prune_scope="conv"))
