"""Named training configurations ("presets") for `td.experiment.run`, as data.

A preset is a plain dict: the dataset and its split, the training schedule, and the name of a
network preset (`td.networks.PRESETS[network_preset]`, owned by the networks package, which holds
the architecture, `network_kwargs`, loss, optimiser settings, batch size, EMA decay and policy of
the paper it reproduces) plus the few values where a run deliberately departs from it. Presets are
data, not code paths (as keras-hub presets and the `cfg_specs` of NVlabs/stylegan2-ada-pytorch
are): `resolve_config` starts from `DEFAULTS`, applies the network preset, then the preset's own
values, then the caller's overrides. Each preset has a one-line `description` (shown by `--help`
and `--list_presets`); every other key is a configuration key of `schema.KEYS` (a test checks the
values against the schema).

Sources (the `source` key of each preset says which one it follows):
- DiffAugment: Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
  NeurIPS 2020, arXiv:2006.10738; official launch scripts in mit-han-lab/data-efficient-gans
  (`DiffAugment-biggan-cifar/scripts/DiffAugment-biggan-cifar10*.sh`,
  `DiffAugment-stylegan2/run_low_shot.py`).
- SNGAN: Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018,
  arXiv:1802.05957 (CIFAR-10 setting: batch 64, n_dis 5, Adam(2e-4, 0, 0.9), hinge loss).
- StyleGAN2: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020,
  arXiv:1912.04958 (Adam(0.002, 0, 0.99), non-saturating loss with R1).
- DCGAN: Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs",
  ICLR 2016, arXiv:1511.06434 (Adam(2e-4, 0.5, 0.999)).

Example:
    >>> from tf_diffaug.experiment import presets
    >>> presets.get_preset("biggan-cifar10-10pct")["split"]
    'train[:10%]'
"""

import copy

from tf_diffaug.experiment import schema

#: Every configuration key with its default value (from `schema.KEYS`). `resolve_config` rejects any other key.
DEFAULTS = schema.defaults()

#: Keys of a preset that describe it and are not configuration keys (left out of the config).
INFO_KEYS = ("description",)

_DIFFAUG = "Zhao et al. 2020 (arXiv:2006.10738)"
_BIGGAN_CIFAR = (
    _DIFFAUG + ", BigGAN-CIFAR scripts of mit-han-lab/data-efficient-gans: batch 50, 4 D steps, "
    "Adam(2e-4, 0, 0.999), hinge, EMA from step 1000, policy translation,cutout, x-flips"
)

PRESETS = {
    "fewshot-cpu": {
        "description": "CPU demo: DCGAN 64x64 on the 112 embedded emoji faces, full DiffAugment; ~15 min on 2 cores.",
        "source": (
            "CPU demo: DCGAN (Radford et al. 2016, Adam(2e-4, 0.5, 0.999)) + full DiffAugment policy "
            "(" + _DIFFAUG + ") on the 112 embedded emoji faces; schedule sized by measuring the "
            "step time on 2 CPU cores so training + FID/KID finish in under 15 minutes"
        ),
        "dataset": "emoji-faces",
        "resolution": 64,
        "network_preset": "dcgan-cpu",
        "ema_decay": 0.99,  # 3000 steps: a 0.999 EMA (1000-step horizon) would lag behind G
        "mirror": True,
        # Measured on the 2-core CPU box under load from other jobs: ~0.15 s per step, ~6-17
        # Inception images/s. 3000 steps + 2 evaluations of 256 samples (+ 112 reals once)
        # stay under 15 minutes; a checkpoint every 500 steps is ~1.5 minutes of work.
        "steps": 3000,
        "log_every": 50,
        "eval_every": 1500,
        "checkpoint_every": 500,
        "fid_samples": 256,
        "grid_size": 36,
    },
    "fashion-mnist-1pct": {
        "description": "Limited data: 600 Fashion-MNIST images (1%), grey 32x32 DCGAN, full DiffAugment; 20k steps.",
        "source": (
            "Limited-data benchmark: 1% (600 images) of Fashion-MNIST, 1 channel at 32x32, "
            "SNGAN-style DCGAN (Radford et al. 2016) with the full DiffAugment policy (" + _DIFFAUG + ")"
        ),
        "dataset": "fashion-mnist",
        "split": "train[:1%]",
        "resolution": 32,
        "channels": 1,
        "network_preset": "dcgan-cpu",
        "batch_size": 64,
        "steps": 20_000,
        "log_every": 100,
        "eval_every": 2_000,
        "checkpoint_every": 1_000,
        "fid_samples": 2_000,
    },
    "biggan-cifar10": {
        "description": "DiffAugment paper: class-conditional BigGAN on all of CIFAR-10 (needs tfds cifar10); 250k steps.",
        "source": _BIGGAN_CIFAR + "; 100% data: 1000 epochs = 250k steps",
        "dataset": "cifar10",
        "split": "train",
        "network_preset": "biggan-cifar",
        "mirror": True,
        "ema_start_step": 1000,
        "steps": 250_000,
        "log_every": 500,
        "eval_every": 5_000,
        "checkpoint_every": 2_500,
        "fid_samples": 10_000,
    },
    "sngan-cifar10": {
        "description": "SNGAN (Miyato et al. 2018) on all of CIFAR-10 with full DiffAugment (needs tfds cifar10); 50k steps.",
        "source": (
            "Miyato et al. 2018 (arXiv:1802.05957) CIFAR-10: batch 64, n_dis 5, Adam(2e-4, 0, 0.9), "
            "hinge, 50k G steps, no EMA; + full DiffAugment policy (" + _DIFFAUG + ")"
        ),
        "dataset": "cifar10",
        "split": "train",
        "network_preset": "sngan-cifar",
        "steps": 50_000,
        "log_every": 500,
        "eval_every": 5_000,
        "checkpoint_every": 2_500,
        "fid_samples": 10_000,
    },
    "stylegan2-lowshot-256": {
        "description": "DiffAugment paper 100-shot: StyleGAN2 256x256 on a folder of ~100 images (--dataset=FOLDER).",
        "source": (
            _DIFFAUG + ", 100-shot setting of DiffAugment-stylegan2/run_low_shot.py: StyleGAN2 "
            "(Karras et al. 2020) at 256x256, batch 16, Adam(0.002, 0, 0.99), non-saturating + R1 "
            "gamma=10, 300 kimg = 18750 steps, full policy, x-flips. --dataset names a folder "
            "of ~100 images (e.g. the 100-shot Obama/grumpy-cat/panda sets)"
        ),
        "dataset": "data/100-shot-obama",
        "split": "train",
        "network_preset": "stylegan2-lowshot-256",
        "mirror": True,
        "steps": 18_750,
        "log_every": 250,
        "eval_every": 3_750,
        "checkpoint_every": 1_250,
        "fid_samples": 5_000,
    },
}

# The 20% / 10% CIFAR-10 variants differ from the 100% preset only by the tfds split slice and the
# length (5000 epochs of 10k / 5k images at 200 images per step, as in the official scripts).
PRESETS["biggan-cifar10-20pct"] = dict(
    PRESETS["biggan-cifar10"],
    description="DiffAugment paper: BigGAN on 20% of CIFAR-10 (10k images, needs tfds cifar10); 250k steps.",
    split="train[:20%]",
    steps=250_000,
    source=_BIGGAN_CIFAR + "; 20% data: 5000 epochs = 250k steps",
)
PRESETS["biggan-cifar10-10pct"] = dict(
    PRESETS["biggan-cifar10"],
    description="DiffAugment paper: BigGAN on 10% of CIFAR-10 (5k images, needs tfds cifar10); 125k steps.",
    split="train[:10%]",
    steps=125_000,
    source=_BIGGAN_CIFAR + "; 10% data: 5000 epochs = 125k steps",
)

# Chen et al. 2021 (arXiv:2103.00397), SNGAN on 10 % of CIFAR-10: IMP on G at 20 % per round with
# rewinding to initialization, each round trained as long as the final run, DiffAugment and AdvAug
# (gamma 0.01, one sign step) on top; 8 rounds leave 1 - 0.8**8 = 83.2 % of G's weights pruned.
PRESETS["sngan-cifar10-10pct-ticket"] = dict(
    PRESETS["sngan-cifar10"],
    description="Lottery ticket (Chen et al. 2021): SNGAN on 10% of CIFAR-10, 8 IMP rounds (83% sparse G), AdvAug.",
    split="train[:10%]",
    prune_rounds=8,
    prune_fraction=0.2,
    rewind="init",
    advaug_gamma=0.01,
    source=(
        "Chen et al., 'Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket "
        "Perspective', NeurIPS 2021 (arXiv:2103.00397): SNGAN-CIFAR-10 at 10% data, IMP on G "
        "(20% per round, 8 rounds = 83.2% sparsity, rewound to init, D reset), DiffAugment + "
        "AdvAug gamma=0.01; SNGAN schedule of Miyato et al. 2018"
    ),
)

DEFAULT_PRESET = "fewshot-cpu"


def get_preset(name):
    """Returns a deep copy of the preset called `name`.

    Args:
        name: one of `PRESETS`.

    Returns:
        A dict of configuration values (a subset of the keys of `DEFAULTS`).

    Raises:
        ValueError: naming the unknown preset and listing the known ones.

    Example:
        >>> get_preset("sngan-cifar10")["steps"]
        50000
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Expected one of {sorted(PRESETS)}.")
    return copy.deepcopy(PRESETS[name])
