"""tf.distribute: 2 MirroredStrategy replicas equal one device; MultiWorkerMirroredStrategy with 2 local workers."""

import json
import os
import socket
import subprocess

import numpy as np
import pytest

from tests.helpers import processes

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_worker.py")
TIMEOUT = 150

pytestmark = pytest.mark.slow  # subprocesses with 2 replicas / 2 workers


def run_worker(args, **env):
    """Starts the worker under `timeout -k 10` so that a hung collective can never outlive the test."""
    return subprocess.Popen(
        processes.python_command(WORKER, *args, timeout=TIMEOUT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=processes.environment(**env),
    )


def finish(process):
    try:
        output, _ = process.communicate(timeout=TIMEOUT + 20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_mirrored_replicas_equal_one_device(tmp_path):
    out = str(tmp_path / "mirrored.npz")
    code, output = finish(run_worker(["mirrored", out]))
    assert code == 0, output[-3000:]
    states = np.load(out)
    assert int(states["replicas"]) == 2
    keys = [k[len("single:") :] for k in states.files if k.startswith("single:")]
    assert len(keys) > 30
    for key in keys:
        single, mirrored = states["single:" + key], states["mirrored:" + key]
        np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-7, err_msg=key)
    # ADA used the global batch: p = 0.7 - 8 / (0.1 * 1000) after one step on 8 images.
    p_key = next(k for k in keys if k.endswith("/p"))
    assert float(states["mirrored:" + p_key]) == pytest.approx(0.62, abs=1e-6)
    logs = json.load(open(out + ".json"))
    for name, value in logs["single"][0].items():
        assert logs["mirrored"][0][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_multi_worker_fit_on_two_local_workers(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(run_worker(["multiworker", str(tmp_path / f"worker{index}.npz")], TF_CONFIG=config))
    results = [finish(worker) for worker in workers]
    for code, output in results:
        assert code == 0, output[-3000:]
    states = [np.load(tmp_path / f"worker{index}.npz") for index in range(2)]
    assert int(states[0]["replicas"]) == 2
    for key in states[0].files:
        np.testing.assert_allclose(states[1][key], states[0][key], rtol=1e-6, err_msg=key)
    step_key = next(k for k in states[0].files if k.endswith("/step"))
    assert int(states[0][step_key]) == 6  # 2 epochs x (24 images / global batch 8)
    logs = [json.load(open(tmp_path / f"worker{index}.npz.json")) for index in range(2)]
    assert len(logs[0]) == 6 and logs[0] == logs[1]
    assert all(np.isfinite(v) for entry in logs[0] for v in entry.values())
