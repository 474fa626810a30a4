"""tf_diffaug.experiment: the configuration schema, presets and the driver of a full training run.

`resolve_config(preset, **overrides)` turns a named preset plus overrides into a validated flat
configuration dict whose keys are those of `schema.KEYS`; `run(config, workdir, resume=False)`
trains and writes a numbered run folder (config.json, metrics.jsonl, sample grids, TensorBoard
logs, checkpoints, curves.png). The `python -m train` CLI is a thin absl layer over these two.

Names load their module on first use (PEP 562): `schema`, `config`, `presets`, `schedule`,
`usage` and `run_dir` import no TensorFlow, so resolving a configuration (or a resumed one) is
instant; `run` loads the driver (and TensorFlow) when first used.

Example:
    >>> from tf_diffaug import experiment
    >>> config = experiment.resolve_config("fewshot-cpu", steps=200, eval_every=150)
    >>> experiment.Schedule.from_config(config).eval_steps()
    [150, 200]
    >>> experiment.run(config, "runs")["run_dir"]        # doctest: +SKIP
    'runs/00000-fewshot-cpu'
"""

from tf_diffaug import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "DEFAULTS": "presets",
        "DEFAULT_PRESET": "presets",
        "PRESETS": "presets",
        "get_preset": "presets",
        "KEYS": "schema",
        "RESUMABLE_KEYS": "schema",
        "check_resume": "config",
        "dataset_size": "config",
        "load_config_file": "config",
        "resolve_config": "config",
        "validate_config": "config",
        "Schedule": "schedule",
        "MetricsLog": "run_dir",
        "create_run_dir": "run_dir",
        "latest_run_dir": "run_dir",
        "list_run_dirs": "run_dir",
        "RunSetupError": "build",
        "DataReport": "data_report",
        "check_data": "data_report",
        "TrainingDiverged": "faults",
        "TrainingInterrupted": "faults",
        "run_name": "run_dir",
        "resume_config": "config",
        "run": "driver",
        "ArchitectureMismatch": "finetune",
        "generate": "generation",
    },
    submodules=(
        "build",
        "callbacks",
        "checkpoint",
        "config",
        "data_report",
        "driver",
        "faults",
        "finetune",
        "generation",
        "pictures",
        "presets",
        "run_dir",
        "schedule",
        "schema",
        "usage",
    ),
)
