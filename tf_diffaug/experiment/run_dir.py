"""Numbered run folders and the `metrics.jsonl` log of a training run.

Each run lives in `workdir/NNNNN-<name>/` (the numbering of NVlabs/stylegan2-ada-pytorch's
`training-runs`): the next number is one more than the largest already present, so runs never
overwrite each other and "the latest run" (for `--resume`) is the one with the largest number.
The name is the preset's, followed by the dataset's when the configuration trains on another one
than the preset does (`run_name`: `00003-fewshot-cpu-myfolder` for `--dataset=/data/myfolder`).
`MetricsLog` appends one JSON object per log point and, when a run is resumed from a checkpoint at
step `s`, first drops the lines logged after `s` so that logged steps never go back.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = create_run_dir(root, "fewshot-cpu")
    >>> os.path.basename(path), latest_run_dir(root) == path
    ('00000-fewshot-cpu', True)
"""

import json
import math
import os
import re

_RUN_DIR = re.compile(r"^(\d{5,})-(.+)$")
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


def list_run_dirs(workdir):
    """Returns the run folders of `workdir` as a list of paths sorted by run number."""
    if not os.path.isdir(workdir):
        return []
    runs = []
    for name in os.listdir(workdir):
        match = _RUN_DIR.match(name)
        if match and os.path.isdir(os.path.join(workdir, name)):
            runs.append((int(match.group(1)), os.path.join(workdir, name)))
    return [path for _, path in sorted(runs)]


def run_name(config):
    """The name part of a run folder: the preset, plus `-<dataset>` when the dataset is not the preset's.

    The dataset's part is a folder's base name (`/data/myfolder/` gives `myfolder`) or the dataset
    name itself; `create_run_dir` replaces characters outside [A-Za-z0-9._-].

    Example:
        >>> run_name({"preset": "fewshot-cpu", "network": "dcgan", "dataset": "/data/myfolder/"})
        'fewshot-cpu-myfolder'
        >>> run_name({"preset": "fewshot-cpu", "network": "dcgan", "dataset": "emoji-faces"})
        'fewshot-cpu'
    """
    from tf_diffaug.experiment import presets

    preset = config.get("preset")
    if not preset:
        return config.get("network") or "run"
    own = presets.PRESETS.get(preset, {}).get("dataset", presets.DEFAULTS["dataset"])
    dataset = str(config.get("dataset") or own)
    if dataset == own:
        return preset
    label = os.path.basename(os.path.normpath(os.path.expanduser(dataset))) or dataset
    return f"{preset}-{label}"


def check_workdir(workdir):
    """Raises ValueError unless `workdir` is (or can be created as) a writable folder.

    Example:
        >>> check_workdir("/etc/hostname")                                  # doctest: +SKIP
        ValueError: --workdir '/etc/hostname' is a file. Expected a folder for the run folders ...
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
    accepted = "Expected a folder for the run folders (created when missing)."
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--workdir {os.fspath(workdir)!r} is a file, not a folder. {accepted}")
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise ValueError(
            f"--workdir {os.fspath(workdir)!r} cannot be created: {existing!r} is a file, not a folder. {accepted}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--workdir {os.fspath(workdir)!r} is not writable ({existing!r}). {accepted}")


def create_run_dir(workdir, name):
    """Creates and returns `workdir/NNNNN-<name>` with the next free run number.

    Args:
        workdir: root folder of all runs (created when missing).
        name: run description, usually the preset name; characters outside [A-Za-z0-9._-] become '-'.
    """
    os.makedirs(workdir, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name or "run"))
    runs = list_run_dirs(workdir)
    number = int(os.path.basename(runs[-1]).split("-", 1)[0]) + 1 if runs else 0
    while True:  # exist_ok=False makes two concurrent launches pick different numbers
        path = os.path.join(workdir, f"{number:05d}-{name}")
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            number += 1


def latest_run_dir(workdir):
    """Returns the run folder with the largest number in `workdir`.

    Raises:
        FileNotFoundError: naming `workdir` when it holds no run folder.
    """
    runs = list_run_dirs(workdir)
    if not runs:
        raise FileNotFoundError(
            f"No run folder (NNNNN-<preset>) to resume in workdir {workdir!r}. Start a run without --resume first."
        )
    return runs[-1]


def write_json(path, value, sort_keys=True):
    """Writes `value` as indented JSON atomically (temporary file + rename); keys sorted unless told."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=sort_keys)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    """Reads a JSON file."""
    with open(path) as f:
        return json.load(f)


def _plain(value):
    """Converts numpy / tensor scalars and 1-element arrays to JSON numbers (NaN -> None)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if hasattr(value, "tolist"):
        value = value.tolist()
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Appends one JSON object per log point to `metrics.jsonl`.

    Args:
        path: the JSONL file.
        resume_step: when not None, lines whose `step` is larger are removed first (the run
            restarts from a checkpoint at that step, so those steps will be logged again).

    Example:
        >>> log = MetricsLog(os.path.join(tempfile.mkdtemp(), "metrics.jsonl"))
        >>> log.write(10, {"d_loss": 1.5})
        >>> log.read()
        [{'step': 10, 'd_loss': 1.5}]
    """

    def __init__(self, path, resume_step=None):
        self.path = path
        if resume_step is not None and os.path.exists(path):
            kept = [r for r in self.read() if r.get("step", 0) <= resume_step]
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                for record in kept:
                    f.write(json.dumps(record) + "\n")
            os.replace(tmp, path)

    def write(self, step, values):
        """Appends `{"step": step, **values}`; tensors and numpy scalars become numbers."""
        record = {"step": int(step)}
        record.update({str(k): _plain(v) for k, v in values.items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def read(self):
        """Returns the logged records (a torn last line from a killed process is skipped)."""
        if not os.path.exists(self.path):
            return []
        records = []
        with open(self.path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records
