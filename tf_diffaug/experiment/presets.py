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

The paper presets (`PAPER_PRESETS`) hold the official protocol of their paper's code, every
value with its source file and line in docs/REPRODUCING.md (one table per preset; a test compares
each table with the resolved preset), where the deliberate departures are listed too.

Sources (the `source` key of each preset says which one it follows):
- DiffAugment: Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
  NeurIPS 2020, arXiv:2006.10738; official launch scripts in mit-han-lab/data-efficient-gans
  (`DiffAugment-biggan-cifar/scripts/DiffAugment-biggan-cifar10*.sh`,
  `DiffAugment-stylegan2/run_low_shot.py`).
- LeCam: Tseng et al., "Regularizing Generative Adversarial Networks under Limited Data", CVPR
  2021, arXiv:2104.03310; google/lecam-gan `biggan_cifar/scripts/lc-DiffAugment-biggan-cifar10-0.1.sh`.
- Lottery tickets: Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery
  Ticket Perspective", NeurIPS 2021, arXiv:2103.00397; VITA-Group/Ultra-Data-Efficient-GAN-Training
  `SNGAN/` (`cfg.py`, `train_impg_less.py`, `train_with_masks_adv_gd_less.py`).
- SNGAN: Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018,
  arXiv:1802.05957 (CIFAR-10 setting: batch 64, n_dis 5, Adam(2e-4, 0, 0.9), hinge loss; chainer
  code pfnet-research/sngan_projection).
- StyleGAN2: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020,
  arXiv:1912.04958 (Adam(0.002, 0, 0.99), non-saturating loss with R1).
- DCGAN: Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs",
  ICLR 2016, arXiv:1511.06434 (Adam(2e-4, 0.5, 0.999)).

Example:
    >>> from tf_diffaug.experiment import presets
    >>> preset = presets.get_preset("biggan-cifar10-10pct")
    >>> preset["split"], preset["subset_size"], preset["subset_seed"]
    ('train', 5000, 0)
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
    "Adam(2e-4, 0, 0.999, eps 1e-8), hinge, EMA 0.9999 from step 1000, policy translation,cutout, x-flips; "
    "FID of 10k G_ema samples (batch statistics, batches of 50) vs the CIFAR-10 test set every 4000 steps, "
    "best reported"
)
_CHEN = (
    "Chen et al., 'Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket "
    "Perspective', NeurIPS 2021 (arXiv:2103.00397), VITA-Group/Ultra-Data-Efficient-GAN-Training SNGAN/: "
    "10% of CIFAR-10, 10 IMP rounds of 20% of G's conv weights ranked on the EMA generator "
    "(10.74% remaining), rewound to init, D reset, each round a full run; SNGAN batch 64 (128 latents "
    "per G update), 5 D steps, Adam(2e-4, 0, 0.9, eps 1e-8), EMA 0.999, 50007 G steps; AdvAug gamma 0.01 "
    "on G's stem and D's penultimate features when training the ticket; FID of 50k samples vs all "
    "50k training images every 316 steps, best reported"
)

#: The paper presets and the values every one of them shares: the data and evaluation protocol of the
#: official code, value by value with its source in docs/REPRODUCING.md (a test compares each preset
#: with its table there).
_CIFAR10 = {"dataset": "cifar10", "split": "train", "adam_epsilon": 1e-8}

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
    "biggan-cifar10": dict(
        _CIFAR10,
        description="DiffAugment paper: class-conditional BigGAN on all of CIFAR-10 (needs tfds cifar10); 250k steps.",
        source=_BIGGAN_CIFAR + "; 100% data: 1000 epochs = 250k steps (DiffAugment-biggan-cifar10.sh)",
        network_preset="biggan-cifar",
        mirror=True,
        ema_start_step=1000,
        steps=250_000,
        log_every=500,
        eval_every=4_000,
        checkpoint_every=2_500,
        fid_samples=10_000,
        fid_batch_size=50,
        fid_reference_split="test",
        sample_bn_mode="train",
        seed=0,  # the scripts' --seed 0, also the seed of the 10 % / 20 % subsets
    ),
    "sngan-cifar10": dict(
        _CIFAR10,
        description="SNGAN (Miyato et al. 2018) on all of CIFAR-10 with full DiffAugment (needs tfds cifar10); 50k steps.",
        source=(
            "Miyato et al. 2018 (arXiv:1802.05957), pfnet-research/sngan_projection "
            "configs/sn_cifar10_unconditional.yml: batch 64, 128 latents per G update, n_dis 5, "
            "Adam(2e-4, 0, 0.9, eps 1e-8) decayed linearly to 0, hinge, 50k G steps, no EMA; + full "
            "DiffAugment policy (" + _DIFFAUG + "); FID protocol of Chen et al.'s SNGAN code (50k samples "
            "vs all training images)"
        ),
        network_preset="sngan-cifar",
        lr_decay="linear",
        g_batch_size=128,
        steps=50_000,
        log_every=500,
        eval_every=5_000,
        checkpoint_every=2_500,
        fid_samples=50_000,
        fid_reference_split="train",
    ),
    "stylegan2-lowshot-256": {
        "description": "DiffAugment paper 100-shot: StyleGAN2 256x256 on a folder of ~100 images (--dataset=FOLDER).",
        "source": (
            _DIFFAUG + ", 100-shot setting of DiffAugment-stylegan2/run_low_shot.py: StyleGAN2 "
            "(Karras et al. 2020) at 256x256, 8 mapping layers, batch 16, Adam(0.002, 0, 0.99, eps 1e-8), "
            "non-saturating + R1 gamma=10, EMA half-life 10 kimg from 10 kimg, 300 kimg = 18752 steps, full "
            "policy, x-flips; FID of 5k samples vs all training images (fid5k-train). --dataset names a "
            "folder of ~100 images (e.g. the 100-shot Obama/grumpy-cat/panda sets)"
        ),
        "dataset": "data/100-shot-obama",
        "split": "train",
        "network_preset": "stylegan2-lowshot-256",
        # run_low_shot.py builds networks_stylegan2.G_main with its default mapping_layers=8; the
        # network preset holds the PyTorch port's cfg 'low_shot' (map=2), which published no FID.
        "network_kwargs": {"mapping_layers": 8},
        "adam_epsilon": 1e-8,
        "mirror": True,
        "ema_start_step": 628,  # ema_start_kimg 10, tested once per 4 x 16 images: from step 629
        "steps": 18_752,  # 4688 chunks of 4 minibatches of 16 until 300 kimg
        "log_every": 250,
        "eval_every": 6_284,  # a snapshot every 10 ticks of 628 steps, the first after step 4
        "checkpoint_every": 1_250,
        "fid_samples": 5_000,
        "fid_reference_split": "train",
    },
}

# The 20% / 10% CIFAR-10 variants: the official seeded subsets (numpy RandomState(0).choice over the
# 50000 training images in their original order, DiffAugment-biggan-cifar/datasets.py l.316-321)
# and 5000 epochs of 10k / 5k images at 200 images per step, as the official scripts.
PRESETS["biggan-cifar10-20pct"] = dict(
    PRESETS["biggan-cifar10"],
    description="DiffAugment paper: BigGAN on 20% of CIFAR-10 (10k images, needs tfds cifar10); 250k steps.",
    subset_size=10_000,
    subset_seed=0,
    steps=250_000,
    source=_BIGGAN_CIFAR + "; 20% data: the seeded 10000-image subset, 5000 epochs = 250k steps (-0.2.sh)",
)
PRESETS["biggan-cifar10-10pct"] = dict(
    PRESETS["biggan-cifar10"],
    description="DiffAugment paper: BigGAN on 10% of CIFAR-10 (5k images, needs tfds cifar10); 125k steps.",
    subset_size=5_000,
    subset_seed=0,
    steps=125_000,
    source=_BIGGAN_CIFAR + "; 10% data: the seeded 5000-image subset, 5000 epochs = 125k steps (-0.1.sh)",
)
PRESETS["biggan-cifar10-10pct-lecam"] = dict(
    PRESETS["biggan-cifar10-10pct"],
    description="LeCam (Tseng et al. 2021) + DiffAugment: BigGAN on 10% of CIFAR-10 (needs tfds cifar10); 125k steps.",
    lecam_weight=0.3,
    lecam_decay=0.9,
    lecam_start_step=1000,
    source=(
        "Tseng et al., 'Regularizing Generative Adversarial Networks under Limited Data', CVPR 2021 "
        "(arXiv:2104.03310), google/lecam-gan biggan_cifar/scripts/lc-DiffAugment-biggan-cifar10-0.1.sh: "
        "the DiffAugment 10% script plus --LC 0.3 (anchor decay 0.9, start_itr 1000). " + _BIGGAN_CIFAR
    ),
)

# Chen et al. 2021, SNGAN on 10 % of CIFAR-10: stage I (IMP) trains plain SNGAN (no DiffAugment,
# no AdvAug), stage II trains the ticket with AdvAug. The 10 % subset is Chen et al.'s: the first
# 5000 training images in CIFAR-10's original order (subset_seed none), not the seeded draw of the
# DiffAugment presets.
PRESETS["sngan-cifar10-10pct-ticket"] = dict(
    _CIFAR10,
    description="Lottery ticket (Chen et al. 2021): SNGAN on 10% of CIFAR-10, 10 IMP rounds (10.7% of G's convs), AdvAug.",
    source=_CHEN + "; no DiffAugment (train_impg_less.py, train_with_masks_adv_gd_less.py)",
    network_preset="sngan-cifar",
    subset_size=5_000,
    subset_seed=None,  # the first 5000 images in the original order (CH datasets.py l.103-104)
    policy="",
    augment_mode="none",
    g_batch_size=128,
    ema_decay=0.999,
    advaug_gamma=0.01,
    advaug_g_layer="g_stem",
    steps=50_007,
    log_every=500,
    eval_every=316,
    checkpoint_every=2_500,
    fid_samples=50_000,
    fid_batch_size=100,
    fid_reference_split="train",
    prune_rounds=10,
    prune_fraction=0.2,
    prune_scope="conv",
    prune_rank_on="ema",
    prune_augment_mode="none",
    prune_advaug_gamma=0.0,
    rewind="init",
    prune_discriminator=False,
    reset_discriminator=True,
)
PRESETS["sngan-cifar10-10pct-ticket-diffaug"] = dict(
    PRESETS["sngan-cifar10-10pct-ticket"],
    description="Lottery ticket + DiffAugment (Chen et al. 2021): the SNGAN 10% ticket with full DiffAugment in both stages.",
    source=(
        _CHEN + "; + DiffAugment color,translation,cutout on reals and fakes of every update in both stages, "
        "as their BigGAN DiffAugGAN configs (DiffAugGAN(P)_IMPG.json, DiffAugGAN_adv.json)"
    ),
    policy="color,translation,cutout",
    augment_mode="both",
    prune_augment_mode="both",
)

#: The presets that reproduce a paper's official protocol (each has its table in docs/REPRODUCING.md).
PAPER_PRESETS = (
    "biggan-cifar10",
    "biggan-cifar10-20pct",
    "biggan-cifar10-10pct",
    "biggan-cifar10-10pct-lecam",
    "sngan-cifar10",
    "sngan-cifar10-10pct-ticket",
    "sngan-cifar10-10pct-ticket-diffaug",
    "stylegan2-lowshot-256",
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
