"""Presets are data with the contract's keys; get_preset returns copies; every preset builds its networks."""

import numpy as np
import pytest

import tf_diffaug as td

KEYS = {
    "network",
    "resolution",
    "channels",
    "num_classes",
    "network_kwargs",
    "loss",
    "g_lr",
    "d_lr",
    "beta_1",
    "beta_2",
    "batch_size",
    "d_steps",
    "r1_gamma",
    "ema_decay",
    "policy",
    "source",
}


def test_presets_have_the_contract_keys():
    assert {"dcgan-cpu", "sngan-cifar", "biggan-cifar", "stylegan2-lowshot-256"} <= set(td.networks.PRESETS)
    for name, preset in td.networks.PRESETS.items():
        assert set(preset) == KEYS, name
        assert preset["network"] in td.networks.available()
        assert "latent_dim" in preset["network_kwargs"]
        assert isinstance(preset["ema_decay"], float) and 0.0 <= preset["ema_decay"] < 1.0
        assert "arXiv" in preset["source"]


def test_paper_values():
    biggan = td.networks.get_preset("biggan-cifar")
    assert (biggan["batch_size"], biggan["d_steps"], biggan["g_lr"], biggan["d_lr"]) == (50, 4, 2e-4, 2e-4)
    assert (biggan["beta_1"], biggan["beta_2"], biggan["loss"]) == (0.0, 0.999, "hinge")
    stylegan = td.networks.get_preset("stylegan2-lowshot-256")
    assert (stylegan["batch_size"], stylegan["r1_gamma"]) == (16, 10.0)
    assert stylegan["network_kwargs"]["mapping_layers"] == 2 and stylegan["network_kwargs"]["fmap_base"] == 16384
    # EMA half-life of 10k images at batch 16: decay ** (10000 / 16) == 0.5
    assert stylegan["ema_decay"] ** (10_000 / 16) == pytest.approx(0.5)


def test_get_preset_returns_an_independent_copy():
    preset = td.networks.get_preset("biggan-cifar")
    preset["network_kwargs"]["ch"] = 1
    assert td.networks.PRESETS["biggan-cifar"]["network_kwargs"]["ch"] == 64


def test_unknown_preset_lists_known_names():
    with pytest.raises(ValueError, match=r"Unknown preset 'biggan'\. Expected one of \['biggan-cifar', 'dcgan-cpu'"):
        td.networks.get_preset("biggan")


def test_dcgan_cpu_preset_builds_at_64():
    preset = td.networks.get_preset("dcgan-cpu")
    g, d = td.networks.get(
        preset["network"], preset["resolution"], preset["channels"], preset["num_classes"], **preset["network_kwargs"]
    )
    z = np.random.default_rng(0).normal(size=(2, preset["network_kwargs"]["latent_dim"])).astype("float32")
    images = g(z)
    assert tuple(images.shape) == (2, 64, 64, 3)
    assert tuple(d(images).shape) == (2, 1)
