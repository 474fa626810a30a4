"""DiffAugment and AdaptiveAugment under tf.distribute.MirroredStrategy (2 CPU replicas, subprocess)."""

import json
import pathlib
import subprocess

import pytest

from tests.helpers import processes

SCRIPT = pathlib.Path(__file__).with_name("distributed_check.py")


@pytest.mark.slow  # a subprocess with 2 MirroredStrategy replicas
def test_mirrored_strategy_replicas_match_numpy_and_p_assigns():
    proc = subprocess.run(
        processes.python_command(SCRIPT), capture_output=True, text=True, timeout=300, env=processes.environment()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert max(report["errors"]) < 2e-5, report
    assert report["grad"] == pytest.approx(report["grad_expected"], rel=1e-5, abs=1e-3)  # p = 0: identity
    assert report["p"] == pytest.approx(0.9)
