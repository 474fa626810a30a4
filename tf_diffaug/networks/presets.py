"""Paper training configurations as data: architecture, widths, optimizer, loss, regularizers, policy.

Each preset is a plain dict with the keys: network, resolution, channels, num_classes,
network_kwargs (overrides for :func:`tf_diffaug.networks.get`, including latent_dim), loss, g_lr,
d_lr, beta_1, beta_2, batch_size, d_steps, r1_gamma, ema_decay (0.0: the EMA generator equals G, i.e. no averaging), policy
(DiffAugment policy string) and source (the citation the numbers come from). Use
:func:`get_preset` to obtain an independent copy.

Example:
    >>> import tf_diffaug as td
    >>> p = td.networks.get_preset("biggan-cifar")
    >>> g, d = td.networks.get(p["network"], p["resolution"], p["channels"], p["num_classes"],
    ...                        **p["network_kwargs"])
    >>> p["batch_size"], p["d_steps"], g.count_params() > 4_000_000
    (50, 4, True)
"""

import copy

PRESETS = {
    "dcgan-cpu": {
        "network": "dcgan",
        "resolution": 64,
        "channels": 3,
        "num_classes": None,
        "network_kwargs": {"latent_dim": 128, "width": 32},
        "loss": "non_saturating",
        "g_lr": 2e-4,
        "d_lr": 2e-4,
        "beta_1": 0.5,
        "beta_2": 0.999,
        "batch_size": 32,
        "d_steps": 1,
        "r1_gamma": 0.0,
        "ema_decay": 0.999,
        "policy": "color,translation,cutout",
        "source": (
            "Radford et al., DCGAN, ICLR 2016 (arXiv:1511.06434): Adam lr 2e-4, beta_1 0.5, non-saturating loss; "
            "width halved (32) for CPU speed. Policy: DiffAugment default, Zhao et al., NeurIPS 2020 "
            "(arXiv:2006.10738). EMA 0.999 is this library's choice for few-shot CPU runs."
        ),
    },
    "sngan-cifar": {
        "network": "sngan",
        "resolution": 32,
        "channels": 3,
        "num_classes": None,
        "network_kwargs": {"latent_dim": 128, "g_width": 256, "d_width": 128},
        "loss": "hinge",
        "g_lr": 2e-4,
        "d_lr": 2e-4,
        "beta_1": 0.0,
        "beta_2": 0.9,
        "batch_size": 64,
        "d_steps": 5,
        "r1_gamma": 0.0,
        "ema_decay": 0.0,
        "policy": "color,translation,cutout",
        "source": (
            "Miyato et al., Spectral Normalization for GANs, ICLR 2018 (arXiv:1802.05957), ResNet CIFAR-10 "
            "setting: hinge loss, Adam lr 2e-4, betas (0, 0.9), n_dis 5, batch 64, no EMA (ema_decay 0: the EMA copy is G); the SNGAN of "
            "Chen et al., NeurIPS 2021 (arXiv:2103.00397). Policy: DiffAugment default (arXiv:2006.10738)."
        ),
    },
    "biggan-cifar": {
        "network": "biggan",
        "resolution": 32,
        "channels": 3,
        "num_classes": 10,
        "network_kwargs": {
            "latent_dim": 128,
            "ch": 64,
            "shared_dim": 0,
            "hierarchical": False,
            "attention_resolution": None,
            "kernel_initializer": {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}},
        },
        "loss": "hinge",
        "g_lr": 2e-4,
        "d_lr": 2e-4,
        "beta_1": 0.0,
        "beta_2": 0.999,
        "batch_size": 50,
        "d_steps": 4,
        "r1_gamma": 0.0,
        "ema_decay": 0.9999,
        "policy": "translation,cutout",
        "source": (
            "Zhao et al., DiffAugment, NeurIPS 2020 (arXiv:2006.10738), mit-han-lab/data-efficient-gans "
            "DiffAugment-biggan-cifar/scripts/DiffAugment-biggan-cifar10.sh: --DiffAugment translation,cutout "
            "--batch_size 50 --num_D_steps 4 --G_lr 2e-4 --D_lr 2e-4 --G_attn 0 --D_attn 0 --G_init N02 "
            "--D_init N02 --ema (decay 0.9999, start 1000) --mirror_augment; BigGAN-PyTorch defaults: hinge, "
            "betas (0, 0.999), G_ch = D_ch = 64, no shared embedding / hierarchical z."
        ),
    },
    "stylegan2-lowshot-256": {
        "network": "stylegan2",
        "resolution": 256,
        "channels": 3,
        "num_classes": None,
        "network_kwargs": {
            "latent_dim": 512,
            "w_dim": 512,
            "mapping_layers": 2,
            "fmap_base": 16384,
            "fmap_max": 512,
            "mbstd_group_size": 4,
            "style_mixing_probability": 0.9,
        },
        "loss": "non_saturating",
        "g_lr": 2e-3,
        "d_lr": 2e-3,
        "beta_1": 0.0,
        "beta_2": 0.99,
        "batch_size": 16,
        "d_steps": 1,
        "r1_gamma": 10.0,
        "ema_decay": 0.5 ** (16 / 10_000),
        "policy": "color,translation,cutout",
        "source": (
            "Zhao et al., DiffAugment, NeurIPS 2020 (arXiv:2006.10738), low-shot generation: "
            "DiffAugment-stylegan2/run_low_shot.py (batch 16, R1 gamma 10, non-saturating loss, Adam lr 0.002 "
            "betas (0, 0.99), EMA half-life 10 kimg -> decay 0.5 ** (16 / 10000) per step) and "
            "DiffAugment-stylegan2-pytorch cfg 'low_shot' (mapping depth 2, channel_base 32768 = fmap_base 16384); "
            "Karras et al., StyleGAN2, CVPR 2020 (arXiv:1912.04958): style mixing 0.9."
        ),
    },
}


def get_preset(name):
    """Returns a deep copy of `PRESETS[name]`.

    Args:
        name: preset name, one of `sorted(PRESETS)`.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Example:
        >>> get_preset("dcgan-cpu")["batch_size"]
        32
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Expected one of {sorted(PRESETS)}.")
    return copy.deepcopy(PRESETS[name])
