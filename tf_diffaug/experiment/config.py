"""Resolve and validate a training configuration before any work is done (no TensorFlow import).

`resolve_config(preset, base=None, **overrides)` merges, in this order, `DEFAULTS`, the network
preset, the named preset, an optional `base` (e.g. a saved `config.json`, read by
`load_config_file`) and the caller's overrides into one flat dict (the `config.json` of a run);
`validate_config` checks every value against `schema.KEYS` and every combination that cannot work
(a resolution the network does not build, `adaptive=True` with `augment_mode="none"`, a batch larger
than the dataset...) and raises one `ValueError` naming the bad value and what is accepted.
Intervals need not divide each other: see `schedule.Schedule`. Nothing here opens data or builds a
model; whether the data can be opened is `data_report.check_data`'s question (asked by `--dry_run`
and by the driver before anything is written).

Example:
    >>> config = resolve_config("fewshot-cpu", steps=130, log_every=20, eval_every=50)
    >>> config["dataset"], config["steps"], config["adam_epsilon"]
    ('emoji-faces', 130, 1e-07)
"""

import copy
import json
import os

from tf_diffaug.augment import policy_names
from tf_diffaug.data import splits
from tf_diffaug.data.catalog import dataset_size
from tf_diffaug.experiment import presets as presets_lib
from tf_diffaug.experiment import run_dir as run_dir_lib
from tf_diffaug.experiment import schema
from tf_diffaug.gan import modes
from tf_diffaug.networks import catalog as network_catalog

RESUMABLE_KEYS = schema.RESUMABLE_KEYS


def resolve_config(preset=None, network_presets=None, base=None, **overrides):
    """Merges defaults, a network preset, a preset, `base` and overrides into one validated dict.

    Args:
        preset: name of a preset in `td.experiment.PRESETS` (None: `base["preset"]`, else
            `DEFAULT_PRESET`).
        network_presets: dict like `td.networks.PRESETS` (default: that one). The entry named by
            `network_preset` (of the overrides, `base` or the preset) supplies the architecture and
            training values (every key of it that `DEFAULTS` has; `latent_dim` is taken out of its
            `network_kwargs`).
        base: optional dict of configuration values applied over the preset, e.g. a saved
            `config.json` (`load_config_file`) to rerun; any subset of the keys.
        **overrides: any key of `DEFAULTS`; `None` values are ignored (so absl flags left unset
            fall through). `lr` sets both `g_lr` and `d_lr`.

    Returns:
        A new dict with every key of `DEFAULTS` in schema order, validated by `validate_config`.

    Raises:
        ValueError: for an unknown preset or key, or any value `validate_config` rejects.

    Example:
        >>> resolve_config("fewshot-cpu", base={"steps": 100}, lr=1e-3)["d_lr"]
        0.001
    """
    base = copy.deepcopy(dict(base or {}))
    name = preset if preset is not None else (base.get("preset") or presets_lib.DEFAULT_PRESET)
    values = presets_lib.get_preset(name)
    for info in presets_lib.INFO_KEYS:
        values.pop(info, None)
    if network_presets is None:
        from tf_diffaug.networks.presets import PRESETS as network_presets
    network_name = overrides.get("network_preset") or base.get("network_preset") or values.get("network_preset")
    if network_name is not None and network_name not in network_presets:
        raise ValueError(f"Unknown network_preset {network_name!r}. Expected one of {sorted(network_presets)}.")
    config = copy.deepcopy(presets_lib.DEFAULTS)
    config.update(network_values(network_presets.get(network_name) or {}))
    apply_overrides(config, values, what=f"preset {name!r}")
    apply_overrides(config, base, what="the base configuration")
    config["preset"] = name
    apply_overrides(config, overrides)
    validate_config(config)
    return schema.ordered(config)


def load_config_file(path):
    """Reads a configuration JSON file (a run's `config.json`, or any subset of the keys).

    Args:
        path: the file.

    Returns:
        The dict it holds (its values are checked by `resolve_config`).

    Raises:
        ValueError: when the file is missing, not JSON, not a JSON object or has a key the schema
            does not know, naming the path.

    Example:
        >>> load_config_file("runs/00000-fewshot-cpu/config.json")["preset"]   # doctest: +SKIP
        'fewshot-cpu'
    """
    try:
        with open(path) as f:
            values = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"Configuration file {path!r} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Configuration file {path!r} is not valid JSON: {error}.") from None
    if not isinstance(values, dict):
        raise ValueError(
            f"Configuration file {path!r} must hold a JSON object of configuration keys, got {type(values).__name__}."
        )
    unknown = sorted(set(values) - set(presets_lib.DEFAULTS) - set(schema.ALIASES))
    if unknown:
        raise ValueError(
            f"Configuration file {path!r} has unknown key(s) {unknown}. Expected keys of {sorted(presets_lib.DEFAULTS)}."
        )
    return values


def network_values(network_preset):
    """The configuration values of a `td.networks.PRESETS` entry (keys of `DEFAULTS` only)."""
    values = {k: copy.deepcopy(v) for k, v in network_preset.items() if k in presets_lib.DEFAULTS and k != "source"}
    kwargs = dict(values.get("network_kwargs") or {})
    if "latent_dim" in kwargs:
        values["latent_dim"] = kwargs.pop("latent_dim")
    if "network_kwargs" in values:
        values["network_kwargs"] = kwargs
    return values


def apply_overrides(config, overrides, what="overrides"):
    """Applies `overrides` onto `config` in place; `lr` sets both rates.

    `None` means "not set" (skipped) for a key that cannot be None, and is the value itself for a
    key that can (`num_classes`, `subset_size`, `subset_seed`, ...): `--subset_size=none` over a
    10 % preset trains on the whole split, and a saved configuration's `None`s survive `--config`.

    `network_kwargs` are merged into the existing ones (a `latent_dim` in them moves to the key).

    Raises:
        ValueError: for a key the schema does not have, naming `what` held it.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None or (k in schema.KEY and schema.KEY[k].nullable)}
    for alias, targets in schema.ALIASES.items():
        if alias in overrides:
            value = overrides.pop(alias)
            for target in targets:
                overrides.setdefault(target, value)
    unknown = sorted(set(overrides) - set(presets_lib.DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown configuration key(s) {unknown} in {what}. Expected keys of {sorted(presets_lib.DEFAULTS)} "
            f"(or {sorted(schema.ALIASES)})."
        )
    if "network_kwargs" in overrides:
        kwargs = overrides.pop("network_kwargs")
        if not isinstance(kwargs, dict):
            raise ValueError(f"network_kwargs must be {schema.KEY['network_kwargs'].accepted()}, got {kwargs!r}.")
        kwargs = dict(kwargs)
        if "latent_dim" in kwargs:  # one place for it: the config's own key
            overrides.setdefault("latent_dim", kwargs.pop("latent_dim"))
        config["network_kwargs"] = dict(config.get("network_kwargs") or {}, **kwargs)
    config.update(overrides)
    return config


def validate_config(config, known_policy_ops=None):
    """Checks a resolved configuration and raises on the first bad value.

    Each key is checked by its `schema.Key` (type, bounds, choices), then the combinations.

    Args:
        config: a dict with the keys of `DEFAULTS`.
        known_policy_ops: accepted DiffAugment op names (default: those registered with
            `td.augment.register_policy`, built-ins included).

    Returns:
        `config`.

    Raises:
        ValueError: naming the key, the bad value and what is accepted.

    Example:
        >>> validate_config(dict(resolve_config(), cr_weight=10.0, augment_mode="none"))
        Traceback (most recent call last):
        ...
        ValueError: cr_weight=10.0 needs an augmentation of the reals, got augment_mode 'none'. Expected augment_mode in ['both', 'real_only', 'd_only'] or cr_weight=0.
    """
    missing = [k for k in presets_lib.DEFAULTS if k not in config]
    if missing:
        raise ValueError(f"Configuration is missing key(s) {missing}.")
    unknown = sorted(set(config) - set(presets_lib.DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown configuration key(s) {unknown}. Expected keys of {sorted(presets_lib.DEFAULTS)}.")
    for key in schema.KEYS:
        if key.name == "policy" and known_policy_ops is not None:
            continue  # checked below against the given names
        key.validate(config[key.name])
    _check_combinations(config, known_policy_ops)
    _check_pruning(config)
    return config


def _check_combinations(config, known_policy_ops):
    network, resolution = config["network"], config["resolution"]
    if resolution not in network_catalog.RESOLUTIONS[network]:
        raise ValueError(
            f"resolution {resolution} is not supported by network {network!r}. "
            f"Expected one of {list(network_catalog.RESOLUTIONS[network])}."
        )
    _check_augmentation(config, "augment_mode", config["augment_mode"], known_policy_ops)
    if config["prune_rounds"] and config["prune_augment_mode"] is not None:  # stage I's own mode
        _check_augmentation(config, "prune_augment_mode", config["prune_augment_mode"], known_policy_ops)
    if config["fid_samples"] == 1:
        raise ValueError("fid_samples must be 0 (no evaluation) or >= 2 (a covariance needs 2 samples), got 1.")
    _check_sizes(config)


def _check_augmentation(config, key, mode, known_policy_ops):
    """`mode` (the value of `key`) with the policy, ADA and CR settings it is trained with."""
    ops = policy_names.split_policy(config["policy"], known_policy_ops)
    if mode != "none" and not ops:
        raise ValueError(
            f"{key} {mode!r} needs a non-empty policy, got policy "
            f"{config['policy']!r}. Use {key}='none' to train without augmentation."
        )
    augmenting = [m for m, (reals, _, _) in modes.AUGMENT_MODES.items() if reals]
    if config["adaptive"] and mode not in augmenting:
        raise ValueError(
            f"adaptive=True needs an augmentation to adapt, got {key} {mode!r}. Expected {key} in {augmenting}."
        )
    if config["cr_weight"] > 0 and mode not in augmenting:
        raise ValueError(
            f"cr_weight={config['cr_weight']} needs an augmentation of the reals, got {key} {mode!r}. "
            f"Expected {key} in {augmenting} or cr_weight=0."
        )


def _split_sizes(dataset):
    """`{split: examples}` of a dataset whose sizes are known without reading it, else None."""
    sizes = {}
    for name in ("train", "test", "validation"):
        size = dataset_size(dataset, name)
        if size is not None:
            sizes[name] = size
    return sizes or None


def _check_sizes(config):
    """The images a step reads fit in the (sub)set trained on; the subset and the FID reference exist."""
    dataset, split = config["dataset"], config["split"]
    size = dataset_size(dataset, split)
    subset = config["subset_size"]
    if size and subset is not None:
        if subset > size:
            raise ValueError(
                f"subset_size {subset} is larger than dataset {dataset!r} split {split!r} ({size} images). "
                f"Expected subset_size <= {size} (or none: all of them)."
            )
        size = subset
    # An empty folder (size 0) is reported by the data check (`data_report.check_data`), which says
    # which files it found; "batch_size 8 is larger than ... (0 images)" would not.
    what = f"dataset {dataset!r} split {split!r}" + (f" subset_size {subset}" if subset is not None else "")
    if size and config["batch_size"] > size:
        raise ValueError(
            f"batch_size {config['batch_size']} is larger than {what} ({size} images). Expected batch_size <= {size}."
        )
    step = config["d_steps"] * config["batch_size"]
    if size and step > size:
        raise ValueError(
            f"d_steps x batch_size = {config['d_steps']} x {config['batch_size']} = {step} images per step "
            f"(one batch per D update) is more than {what} ({size} images). Expected d_steps x batch_size <= {size}."
        )
    reference = config["fid_reference_split"]
    sizes = _split_sizes(dataset)
    if reference is not None and sizes is not None:
        try:
            splits.split_ranges(reference, sizes, str(dataset))
        except ValueError as error:  # names the splits there are
            raise ValueError(f"fid_reference_split {reference!r} is not a split of the dataset: {error}") from None


def _check_pruning(config):
    """The rewind point of late rewinding must fall inside one pruning round."""
    round_steps = config["steps"] if config["prune_steps"] is None else config["prune_steps"]
    rewind = config["rewind"]
    if rewind != "init" and not rewind < round_steps:
        raise ValueError(
            f"rewind must be 'init' or an integer step in [0, {round_steps}) (the steps of one pruning "
            f"round) for late rewinding, got {rewind!r}."
        )


def check_resume(saved, config, path):
    """Raises when `config` changes a key of the `saved` configuration that cannot change on resume.

    Args:
        saved: the run's `config.json` (with defaults for keys added since it was written).
        config: the configuration to continue with.
        path: the run folder (for the message).

    Raises:
        ValueError: naming each changed key with both values and the keys that may change.

    Example:
        >>> check_resume(resolve_config(), resolve_config(steps=6000), "runs/00000-fewshot-cpu")
        >>> check_resume(resolve_config(), resolve_config(seed=1), "runs/00000-fewshot-cpu")
        Traceback (most recent call last):
        ...
        ValueError: Cannot change seed=1 when resuming 'runs/00000-fewshot-cpu' (saved: seed=0). Only ['steps', 'log_every', 'eval_every', 'checkpoint_every', 'fid_samples', 'fid_batch_size', 'grid_size', 'strategy', 'jit_compile'] may change on resume.
    """
    fixed = [
        k for k in schema.KEY if k not in RESUMABLE_KEYS and k in config and not _same(saved.get(k), config.get(k))
    ]
    decay = saved.get("lr_decay", "none")
    if decay != "none" and not fixed and not _same(saved.get("steps"), config.get("steps")):
        raise ValueError(
            f"Cannot change steps={config['steps']!r} when resuming {os.fspath(path)!r}: lr_decay={decay!r} "
            f"decays to 0 at steps={saved.get('steps')!r}, the length the optimizers' schedules were built "
            "with. Keep steps, or start a new run."
        )
    if fixed:
        raise ValueError(
            f"Cannot change {', '.join(f'{k}={config[k]!r}' for k in fixed)} when resuming {os.fspath(path)!r} "
            f"(saved: {', '.join(f'{k}={saved.get(k)!r}' for k in fixed)}). "
            f"Only {list(RESUMABLE_KEYS)} may change on resume."
        )


def saved_config(path):
    """The `config.json` of run folder `path`, with the defaults of keys added since it was written."""
    saved = run_dir_lib.read_json(os.path.join(path, run_dir_lib.CONFIG_FILE))
    return dict(copy.deepcopy(presets_lib.DEFAULTS), **saved)


def resume_config(workdir, **overrides):
    """Returns the saved configuration of the latest run in `workdir` with `overrides` applied.

    Only `schema.RESUMABLE_KEYS` (e.g. `steps` to train longer, or any of the intervals) may
    differ from the saved values; `None` overrides of keys that cannot be None are ignored. Reads the run folder only (no
    TensorFlow), so `--resume --dry_run` is instant.

    Raises:
        FileNotFoundError: when `workdir` has no run folder.
        ValueError: naming an override that cannot change on resume.

    Example:
        >>> config = resume_config("runs", steps=6000)                   # doctest: +SKIP
        >>> td.experiment.run(config, "runs", resume=True)["step"]        # doctest: +SKIP
        6000
    """
    path = run_dir_lib.latest_run_dir(workdir)
    saved = saved_config(path)
    config = apply_overrides(copy.deepcopy(saved), overrides)
    check_resume(saved, config, path)
    return schema.ordered(validate_config(config))


def _same(a, b):
    """Equal values, as JSON sees them (a saved tuple is a list, 500 equals 500.0; True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


__all__ = [
    "RESUMABLE_KEYS",
    "apply_overrides",
    "check_resume",
    "dataset_size",
    "load_config_file",
    "network_values",
    "resolve_config",
    "resume_config",
    "saved_config",
    "validate_config",
]
