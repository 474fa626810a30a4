"""Resolve and validate a training configuration before any work is done.

`resolve_config(preset, **overrides)` merges `DEFAULTS`, the named preset and the caller's
overrides into one flat dict (the `config.json` of a run); `validate_config` checks every value and
every combination that cannot work (an unknown loss, a resolution the network does not build,
`adaptive=True` with `augment_mode="none"`, a batch larger than the dataset, a schedule whose
intervals do not divide...) and raises one `ValueError` naming the bad value and what is accepted.
Nothing here touches data or builds a model, so a `--dry_run` only costs the imports.

Example:
    >>> config = resolve_config("fewshot-cpu", steps=100, log_every=10, eval_every=50,
    ...                         checkpoint_every=50)
    >>> config["dataset"], config["steps"]
    ('emoji-faces', 100)
"""

import copy
import os
import re

from tf_diffaug.experiment import presets as presets_lib

AUGMENT_MODES = ("both", "real_only", "d_only", "none")
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
LOSSES = ("hinge", "non_saturating", "wasserstein", "least_squares")
POLICY_OPS = ("color", "translation", "cutout")
NETWORKS = ("dcgan", "sngan", "biggan", "stylegan2")
# Image sizes each architecture builds (the RESOLUTIONS of the td.networks builders; a test checks
# they agree, this copy keeps validation free of a TensorFlow import).
RESOLUTIONS = {
    "dcgan": (32, 64, 128),
    "sngan": (32, 64),
    "biggan": (32, 64, 128),
    "stylegan2": (32, 64, 128, 256),
}
# Examples per split of the named datasets whose size is known without loading them.
DATASET_SIZES = {
    "emoji-faces": {"train": 112},
    "fashion-mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
    "cifar100": {"train": 50_000, "test": 10_000},
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_INT_KEYS = (
    "resolution",
    "channels",
    "latent_dim",
    "ada_interval",
    "d_steps",
    "ema_start_step",
    "batch_size",
    "steps",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "fid_samples",
    "fid_batch_size",
    "grid_size",
    "seed",
    "prune_rounds",
)
_FLOAT_KEYS = (
    "ada_target",
    "g_lr",
    "d_lr",
    "beta_1",
    "beta_2",
    "r1_gamma",
    "ema_decay",
    "advaug_gamma",
    "prune_fraction",
)
# Keys that may change when a run is resumed (everything else must match the saved config.json).
RESUMABLE_KEYS = ("steps", "eval_every", "checkpoint_every", "fid_samples", "fid_batch_size", "strategy")


def resolve_config(preset=presets_lib.DEFAULT_PRESET, network_presets=None, **overrides):
    """Merges defaults, a network preset, a preset and overrides into one validated config dict.

    Args:
        preset: name of a preset in `td.experiment.PRESETS`.
        network_presets: dict like `td.networks.PRESETS` (default: that one). The entry named by
            the preset's `network_preset` supplies the architecture and training values (every key
            of it that `DEFAULTS` has; `latent_dim` is taken out of its `network_kwargs`).
        **overrides: any key of `DEFAULTS`; `None` values are ignored (so absl flags left unset
            fall through to the preset). `lr` sets both `g_lr` and `d_lr`.

    Returns:
        A new dict with every key of `DEFAULTS`, validated by `validate_config`.

    Raises:
        ValueError: for an unknown preset or key, or any value `validate_config` rejects.
    """
    values = presets_lib.get_preset(preset)
    if network_presets is None:
        from tf_diffaug.networks import PRESETS as network_presets
    config = copy.deepcopy(presets_lib.DEFAULTS)
    config.update(network_values(network_presets.get(values.get("network_preset")) or {}))
    config.update(values)
    config["preset"] = preset
    apply_overrides(config, overrides)
    validate_config(config)
    return config


def network_values(network_preset):
    """The configuration values of a `td.networks.PRESETS` entry (keys of `DEFAULTS` only)."""
    values = {k: copy.deepcopy(v) for k, v in network_preset.items() if k in presets_lib.DEFAULTS and k != "source"}
    kwargs = dict(values.get("network_kwargs") or {})
    if "latent_dim" in kwargs:
        values["latent_dim"] = kwargs.pop("latent_dim")
    if "network_kwargs" in values:
        values["network_kwargs"] = kwargs
    return values


def apply_overrides(config, overrides):
    """Applies `overrides` (skipping `None`) onto `config` in place; `lr` sets both rates."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "lr" in overrides:
        lr = overrides.pop("lr")
        overrides.setdefault("g_lr", lr)
        overrides.setdefault("d_lr", lr)
    unknown = sorted(set(overrides) - set(presets_lib.DEFAULTS) - {"preset"})
    if unknown:
        raise ValueError(f"Unknown configuration key(s) {unknown}. Expected keys of {sorted(presets_lib.DEFAULTS)}.")
    if "network_kwargs" in overrides:
        kwargs = dict(overrides.pop("network_kwargs"))
        if "latent_dim" in kwargs:  # one place for it: the config's own key
            overrides.setdefault("latent_dim", kwargs.pop("latent_dim"))
        config["network_kwargs"] = dict(config.get("network_kwargs") or {}, **kwargs)
    config.update(overrides)
    return config


def _check_choice(config, key, choices):
    if config[key] not in choices:
        raise ValueError(f"Unknown {key} {config[key]!r}. Expected one of {list(choices)}.")


def parse_policy(policy):
    """Splits a DiffAugment policy string ("color,cutout") into its op names ("" -> [])."""
    return [op.strip() for op in policy.split(",") if op.strip()]


def _registered_policy_ops():
    """Op names `td.DiffAugment` accepts now (built-ins plus `register_policy` additions)."""
    try:
        from tf_diffaug.augment import registered_names
    except ImportError:
        return POLICY_OPS
    return tuple(registered_names())


def validate_config(config, known_policy_ops=None):
    """Checks a resolved configuration and raises on the first bad value.

    Args:
        config: a dict with the keys of `DEFAULTS`.
        known_policy_ops: accepted DiffAugment op names (default: those registered with
            `td.augment.register_policy`, built-ins included).

    Raises:
        ValueError: naming the key, the bad value and what is accepted.
    """
    missing = sorted(set(presets_lib.DEFAULTS) - set(config))
    if missing:
        raise ValueError(f"Configuration is missing key(s) {missing}.")
    for key in _INT_KEYS:
        if isinstance(config[key], bool) or not isinstance(config[key], int):
            raise ValueError(f"{key} must be an integer, got {config[key]!r}.")
    for key in _FLOAT_KEYS:
        if isinstance(config[key], bool) or not isinstance(config[key], (int, float)):
            raise ValueError(f"{key} must be a number, got {config[key]!r}.")
    for key in (
        "resolution",
        "latent_dim",
        "batch_size",
        "steps",
        "log_every",
        "eval_every",
        "checkpoint_every",
        "fid_batch_size",
        "d_steps",
        "ada_interval",
        "grid_size",
    ):
        if config[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {config[key]!r}.")
    for key in ("fid_samples", "ema_start_step", "r1_gamma", "advaug_gamma", "prune_rounds"):
        if config[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {config[key]!r}.")
    for key in ("g_lr", "d_lr"):
        if config[key] <= 0:
            raise ValueError(f"{key} must be > 0, got {config[key]!r}.")
    for key in ("beta_1", "beta_2", "ema_decay", "ada_target"):
        if not 0.0 <= config[key] <= 1.0:
            raise ValueError(f"{key} must be in [0, 1], got {config[key]!r}.")
    _check_pruning(config)
    _check_choice(config, "network", NETWORKS)
    _check_choice(config, "augment_mode", AUGMENT_MODES)
    _check_choice(config, "strategy", STRATEGIES)
    _check_choice(config, "loss", LOSSES)
    _check_choice(config, "channels", (1, 3))
    _check_choice(config, "jit_compile", ("auto", True, False))
    if config["resolution"] not in RESOLUTIONS[config["network"]]:
        raise ValueError(
            f"resolution {config['resolution']} is not supported by network {config['network']!r}. "
            f"Expected one of {list(RESOLUTIONS[config['network']])}."
        )
    if not isinstance(config["network_kwargs"], dict):
        raise ValueError(f"network_kwargs must be a dict, got {config['network_kwargs']!r}.")
    if not isinstance(config["policy"], str):
        raise ValueError(f"policy must be a comma-separated string, got {config['policy']!r}.")
    ops = parse_policy(config["policy"])
    known_policy_ops = _registered_policy_ops() if known_policy_ops is None else known_policy_ops
    for op in ops:
        if op not in known_policy_ops:
            raise ValueError(
                f"Unknown op {op!r} in policy {config['policy']!r}. Expected one of {sorted(known_policy_ops)}."
            )
    if config["augment_mode"] != "none" and not ops:
        raise ValueError(
            f"augment_mode {config['augment_mode']!r} needs a non-empty policy, got policy "
            f"{config['policy']!r}. Use augment_mode='none' to train without augmentation."
        )
    if config["adaptive"] and config["augment_mode"] == "none":
        raise ValueError(
            "adaptive=True needs an augmentation to adapt, got augment_mode 'none'. "
            f"Expected augment_mode in {[m for m in AUGMENT_MODES if m != 'none']}."
        )
    if config["num_classes"] is not None and (
        isinstance(config["num_classes"], bool)
        or not isinstance(config["num_classes"], int)
        or config["num_classes"] < 2
    ):
        raise ValueError(f"num_classes must be None or an integer >= 2, got {config['num_classes']!r}.")
    for key, every in (
        ("eval_every", config["eval_every"]),
        ("checkpoint_every", config["checkpoint_every"]),
        ("steps", config["steps"]),
    ):
        if every % config["log_every"]:
            raise ValueError(
                f"{key}={every} must be a multiple of log_every={config['log_every']} "
                "(progress, evaluation and checkpoints happen at log points)."
            )
    if config["fid_samples"] and config["steps"] % config["eval_every"]:
        raise ValueError(
            f"steps={config['steps']} must be a multiple of eval_every={config['eval_every']} so the "
            "last step is evaluated (or set fid_samples=0 to train without FID/KID)."
        )
    if config["fid_samples"] == 1:
        raise ValueError("fid_samples must be 0 (no evaluation) or >= 2 (a covariance needs 2 samples), got 1.")
    size = dataset_size(config["dataset"], config["split"])
    if size is not None and config["batch_size"] > size:
        raise ValueError(
            f"batch_size {config['batch_size']} is larger than dataset {config['dataset']!r} "
            f"split {config['split']!r} ({size} images). Expected batch_size <= {size}."
        )
    return config


def _check_pruning(config):
    """The lottery-ticket keys: fraction in (0, 1), steps per round, the rewind point, booleans."""
    if not 0.0 < config["prune_fraction"] < 1.0:
        raise ValueError(f"prune_fraction must be in (0, 1), got {config['prune_fraction']!r}.")
    prune_steps = config["prune_steps"]
    if prune_steps is not None and (
        isinstance(prune_steps, bool) or not isinstance(prune_steps, int) or prune_steps < 1
    ):
        raise ValueError(f"prune_steps must be None (= steps) or an integer >= 1, got {prune_steps!r}.")
    round_steps = config["steps"] if prune_steps is None else prune_steps
    rewind = config["rewind"]
    if rewind != "init" and (isinstance(rewind, bool) or not isinstance(rewind, int) or not 0 <= rewind < round_steps):
        raise ValueError(
            f"rewind must be 'init' or an integer step in [0, {round_steps}) (the steps of one pruning "
            f"round) for late rewinding, got {rewind!r}."
        )
    for key in ("prune_discriminator", "reset_discriminator"):
        if not isinstance(config[key], bool):
            raise ValueError(f"{key} must be True or False, got {config[key]!r}.")


def _slice_count(total, spec):
    """Size of a tfds-style slice `spec` ("", ":10%", "100:200", ":500") of `total` examples."""
    if spec == "":
        return total
    match = re.fullmatch(r"(-?\d*)(%?):(-?\d*)(%?)", spec.replace(" ", ""))
    if not match:
        return None
    start_s, start_pct, stop_s, stop_pct = match.groups()

    def bound(text, pct, default):
        if text == "":
            return default
        value = int(text)
        if pct:
            value = (total * value) // 100 if value >= 0 else total + (total * value) // 100
        return value if value >= 0 else total + value

    start, stop = bound(start_s, start_pct, 0), bound(stop_s, stop_pct, total)
    return max(0, min(stop, total) - max(start, 0))


def dataset_size(dataset, split="train"):
    """Number of examples of `dataset[split]` when knowable without loading, else None.

    Known: the embedded and offline sets of `DATASET_SIZES` (with tfds slices such as
    "train[:10%]") and image folders (counted files).
    """
    if isinstance(dataset, str) and os.path.isdir(dataset):
        count = 0
        for _, _, files in os.walk(dataset):
            count += sum(f.lower().endswith(IMAGE_EXTENSIONS) for f in files)
        return count
    match = re.fullmatch(r"(\w+)(?:\[(.*)\])?", split or "train")
    sizes = DATASET_SIZES.get(dataset)
    if not sizes or not match or match.group(1) not in sizes:
        return None
    return _slice_count(sizes[match.group(1)], match.group(2) or "")
