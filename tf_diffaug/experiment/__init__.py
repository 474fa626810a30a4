"""tf_diffaug.experiment: presets, configuration and the driver of a full training run.

`resolve_config(preset, **overrides)` turns a named preset plus overrides into a validated flat
configuration dict (no TensorFlow import, so it is instant); `run(config, workdir, resume=False)`
trains and writes a numbered run folder (config.json, metrics.jsonl, sample grids, TensorBoard
logs, checkpoints, curves.png). The `python -m train` CLI is a thin absl layer over these two.

Example:
    >>> from tf_diffaug import experiment
    >>> config = experiment.resolve_config("fewshot-cpu", steps=200, eval_every=200,
    ...                                    checkpoint_every=100)
    >>> experiment.run(config, "runs")["run_dir"]        # doctest: +SKIP
    'runs/00000-fewshot-cpu'
"""

from tf_diffaug.experiment.config import dataset_size, resolve_config, validate_config
from tf_diffaug.experiment.presets import DEFAULT_PRESET, DEFAULTS, PRESETS, get_preset
from tf_diffaug.experiment.run_dir import MetricsLog, create_run_dir, latest_run_dir, list_run_dirs


def __getattr__(name):
    # The driver imports TensorFlow; load it only when used, so config resolution stays instant.
    if name in ("run", "resume_config"):
        from tf_diffaug.experiment import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'tf_diffaug.experiment' has no attribute {name!r}")


__all__ = [
    "DEFAULTS",
    "DEFAULT_PRESET",
    "PRESETS",
    "MetricsLog",
    "create_run_dir",
    "dataset_size",
    "get_preset",
    "latest_run_dir",
    "list_run_dirs",
    "resolve_config",
    "resume_config",
    "run",
    "validate_config",
]
