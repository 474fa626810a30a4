"""Speed and memory of DiffAugment("color,translation,cutout") on TensorFlow, JAX and torch.

Per backend (each in its own process: ``KERAS_BACKEND`` is fixed per process, so the script
re-launches itself once per backend) and per batch shape, this times the forward pass plus the
gradient of ``sum(y * y)`` with respect to the images, for

* ``floor``: one elementwise ``y = x * 1.5 + 0.25``, the least any augmentation can cost;
* ``ours (layer)``: ``td.DiffAugment`` as shipped, parameter sampling included;
* ``ours (kernel)``: the fused kernel (``fused.compile_for_backend``) on explicit parameters, i.e.
  the layer without its sampling and Keras call overhead;
* ``portable autodiff``: the same map as plain ``keras.ops`` (``fused.augment_batch``) differentiated
  by the framework (a scatter-add through the gather): the path JAX and torch took before;
* ``official``: the official ``DiffAugment_tf.py`` / ``DiffAugment_pytorch.py`` (Zhao et al.,
  NeurIPS 2020, arXiv:2006.10738) when a copy is given with ``--official_tf`` /
  ``--official_torch`` (a user's own copy, imported from that path; none is shipped here).

TensorFlow runs each step as one ``tf.function`` (graph mode; the kernel inside is XLA-compiled),
JAX as one ``jax.jit`` (the layer through ``stateless_call``), torch eagerly. torch runs in NHWC
(``channels_last``, the official code with ``channels_first=False``) and NCHW (``channels_first``,
the official default). Timings are interleaved round-robin and the best of ``--trials`` rounds is
kept (the machine may be shared and noisy); ratios are to the floor of the same process. By default
every framework runs on one CPU thread (``--threads 0``: the framework's default).

Memory: at ``--memory_shape`` (16x256 by default) the *steady* resident-set growth per call: the
forward pass is run ``--memory_calls`` times keeping every output and what its backward pass needs
(TensorFlow: one persistent ``GradientTape``; JAX: ``jax.vjp`` closures; torch: the autograd
graphs), and the RSS slope per call is reported for ours, the floor and the official code.

Usage:
    python benchmarks/augment.py [--backends tensorflow,jax,torch] [--shapes 64x32,16x256]
        [--trials 7] [--official_tf PATH/DiffAugment_tf.py] [--official_torch PATH/DiffAugment_pytorch.py]
"""

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
import types

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
POLICY = "color,translation,cutout"


# -- helpers shared by the backends ------------------------------------------------------------
def _import_path(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import_augment():
    """``tf_diffaug.augment`` without ``tf_diffaug/__init__.py`` (which needs TensorFlow)."""
    if "tf_diffaug" not in sys.modules:
        package = types.ModuleType("tf_diffaug")
        package.__path__ = [str(ROOT / "tf_diffaug")]
        sys.modules["tf_diffaug"] = package
    from tf_diffaug import augment
    from tf_diffaug.augment import fused

    return augment, fused


def _rss_mib():
    """Resident set size after returning free heap pages to the system (glibc), so that it counts
    what is alive rather than what the allocator happens to keep."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _time(steps, trials, repeats, sync):
    """Best seconds per call of each step, interleaved round-robin."""
    for step in steps.values():
        sync(step())
    best = {name: float("inf") for name in steps}
    for _ in range(trials):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(repeats):
                out = step()
            sync(out)
            best[name] = min(best[name], (time.perf_counter() - start) / repeats)
    return best


def _steady_growth(forward, calls):
    """RSS growth per call (MiB) of ``forward()`` with every result kept alive.

    Measured over the second half of ``calls`` calls (after two warm-up calls): the first ones
    may fill memory the allocator freed during warm-up without growing the resident set.
    """
    kept = [forward(), forward()]  # warm-up: compile, allocate caches
    rss = [_rss_mib()]
    for _ in range(calls):
        kept.append(forward())
        rss.append(_rss_mib())
    half = len(rss) // 2
    return (rss[-1] - rss[half]) / (len(rss) - 1 - half)


def _repeats(batch, size):
    return max(2, int(4e6 // (batch * size * size * 3)))


def _params(layer, x, size, to_backend):
    t = layer.get_random_transformation(x)
    color = tuple(to_backend(t[k]) for k in ("brightness", "saturation", "contrast"))
    half = (int(size * 0.5 + 0.5),) * 2
    return color, to_backend(t["translation"]), to_backend(t["cutout"]), half


# -- TensorFlow --------------------------------------------------------------------------------
def run_tensorflow(args, shapes):
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.get_logger().setLevel("ERROR")
    official = _import_path(args.official_tf, "DiffAugment_tf") if args.official_tf else None
    return [_tensorflow_shape(args, batch, size, official) for batch, size in shapes]


def _tensorflow_shape(args, batch, size, official):
    import tensorflow as tf

    augment, fused = _import_augment()
    kernel = fused.compile_for_backend()
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    layer = augment.DiffAugment(POLICY, seed=0)
    color, offsets, centers, half = _params(layer, x, size, tf.constant)
    # the kernel equals the portable ops on the same parameters
    np.testing.assert_allclose(
        kernel(x, color, offsets, centers, half), fused.augment_batch(x, color, offsets, centers, half), atol=1e-5
    )
    variants = {
        "floor": lambda v: v * 1.5 + 0.25,
        "ours (layer)": lambda v: layer(v, training=True),
        "ours (kernel)": lambda v: kernel(v, color, offsets, centers, half),
        "portable autodiff": lambda v: fused.augment_batch(v, color, offsets, centers, half),
    }
    if official:
        variants["official"] = lambda v: official.DiffAugment(v, policy=POLICY)

    def step_of(apply):
        @tf.function(autograph=False)
        def step(v):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = apply(v)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, v)

        return lambda: step(x)

    steps = {name: step_of(fn) for name, fn in variants.items()}
    best = _time(steps, args.trials, _repeats(batch, size), lambda out: out.numpy())
    return _row("tensorflow", "NHWC", batch, size, best)


def memory_tensorflow(args, name):
    """RSS growth per call of one variant's forward pass, recorded on one persistent tape."""
    import tensorflow as tf

    augment, _ = _import_augment()
    batch, size = args.memory_shape
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    layer = augment.DiffAugment(POLICY, seed=0)
    official = _import_path(args.official_tf, "DiffAugment_tf") if args.official_tf else None
    forward = {
        "floor": lambda: x * 1.5 + 0.25,
        "ours (layer)": lambda: layer(x, training=True),
        "official": lambda: official.DiffAugment(x, policy=POLICY),
    }[name]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        return _steady_growth(forward, args.memory_calls)


# -- JAX ---------------------------------------------------------------------------------------
def run_jax(args, shapes):
    return [_jax_shape(args, batch, size) for batch, size in shapes]


def _jax_shape(args, batch, size):
    import jax
    import jax.numpy as jnp

    augment, fused = _import_augment()
    kernel = fused.compile_for_backend()
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    layer = augment.DiffAugment(POLICY, seed=0)
    layer.build(x.shape)
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]
    color, offsets, centers, half = _params(layer, x, size, jnp.asarray)
    np.testing.assert_allclose(
        kernel(x, color, offsets, centers, half), fused.augment_batch(x, color, offsets, centers, half), atol=1e-5
    )

    def layer_loss(v, state):
        y, state = layer.stateless_call(trainable, state, v, training=True)
        return jnp.sum(y * y), state

    floor = jax.jit(jax.grad(lambda v: jnp.sum((v * 1.5 + 0.25) ** 2)))
    ours_layer = jax.jit(jax.grad(layer_loss, has_aux=True))
    ours_kernel = jax.jit(jax.grad(lambda v, p: jnp.sum(kernel(v, *p, half) ** 2)))
    portable = jax.jit(jax.grad(lambda v, p: jnp.sum(fused.augment_batch(v, *p, half) ** 2)))
    params = (color, offsets, centers)
    steps = {
        "floor": lambda: floor(x),
        "ours (layer)": lambda: ours_layer(x, state)[0],
        "ours (kernel)": lambda: ours_kernel(x, params),
        "portable autodiff": lambda: portable(x, params),
    }
    best = _time(steps, args.trials, _repeats(batch, size), jax.block_until_ready)
    return _row("jax", "NHWC", batch, size, best)


def memory_jax(args, name):
    """RSS growth per call of one variant's ``jax.vjp`` (output and residuals kept)."""
    import jax
    import jax.numpy as jnp

    augment, _ = _import_augment()
    batch, size = args.memory_shape
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    layer = augment.DiffAugment(POLICY, seed=0)
    layer.build(x.shape)
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]
    if name == "floor":
        step = jax.jit(lambda v: jax.vjp(lambda u: u * 1.5 + 0.25, v))
        return _steady_growth(lambda: jax.block_until_ready(step(x)), args.memory_calls)
    step = jax.jit(lambda v, s: jax.vjp(lambda u: layer.stateless_call(trainable, s, u, training=True)[0], v))
    return _steady_growth(lambda: jax.block_until_ready(step(x, state)), args.memory_calls)


# -- torch -------------------------------------------------------------------------------------
def run_torch(args, shapes):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    official = _import_path(args.official_torch, "DiffAugment_pytorch") if args.official_torch else None
    rows = []
    for batch, size in shapes:
        nhwc = torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
        rows.append(_torch_shape(args, nhwc, "NHWC", official))
        rows.append(_torch_shape(args, nhwc, "NCHW", official))
    return rows


def _torch_shape(args, nhwc, layout, official):
    augment, fused = _import_augment()
    kernel = fused.compile_for_backend()
    batch, size = nhwc.shape[0], nhwc.shape[1]
    first = layout == "NCHW"
    x = nhwc.permute(0, 3, 1, 2).contiguous() if first else nhwc
    layer = augment.DiffAugment(POLICY, seed=0, data_format="channels_first" if first else "channels_last")
    color, offsets, centers, half = _params(layer, x, size, lambda v: v)

    def apply_kernel(v):
        if not first:
            return kernel(v, color, offsets, centers, half)
        return kernel(v.permute(0, 2, 3, 1), color, offsets, centers, half).permute(0, 3, 1, 2)

    got = apply_kernel(x).permute(0, 2, 3, 1) if first else apply_kernel(x)
    np.testing.assert_allclose(got, fused.augment_batch(nhwc, color, offsets, centers, half), atol=1e-5)
    variants = {
        "floor": lambda v: v * 1.5 + 0.25,
        "ours (layer)": lambda v: layer(v, training=True),
        "ours (kernel)": apply_kernel,
    }
    if not first:
        variants["portable autodiff"] = lambda v: fused.augment_batch(v, color, offsets, centers, half)
    if official:
        variants["official"] = lambda v: official.DiffAugment(v, policy=POLICY, channels_first=first)

    def step_of(apply):
        def step():
            v = x.detach().requires_grad_(True)
            y = apply(v)
            (y * y).sum().backward()
            return v.grad

        return step

    steps = {name: step_of(fn) for name, fn in variants.items()}
    best = _time(steps, args.trials, _repeats(batch, size), lambda out: out)
    return _row("torch", layout, batch, size, best)


def memory_torch(args, name):
    """RSS growth per call of one variant's forward pass (its autograd graph kept, NHWC)."""
    import torch

    augment, _ = _import_augment()
    batch, size = args.memory_shape
    x = (torch.rand(batch, size, size, 3) * 2 - 1).requires_grad_(True)
    layer = augment.DiffAugment(POLICY, seed=0)
    official = _import_path(args.official_torch, "DiffAugment_pytorch") if args.official_torch else None
    forward = {
        "floor": lambda: x * 1.5 + 0.25,
        "ours (layer)": lambda: layer(x, training=True),
        "official": lambda: official.DiffAugment(x, policy=POLICY, channels_first=False),
    }[name]
    return _steady_growth(forward, args.memory_calls)


# -- reporting and the per-backend processes ---------------------------------------------------
def _row(backend, layout, batch, size, best):
    floor = best["floor"]
    return {
        "backend": backend,
        "layout": layout,
        "shape": f"{batch}x{size}x{size}x3",
        "ms": {k: v * 1e3 for k, v in best.items()},
        "vs_floor": {k: v / floor for k, v in best.items()},
        "official_over_ours": best["official"] / best["ours (layer)"] if "official" in best else None,
    }


def _print(rows, memory, backend, shape):
    for row in rows:
        print(f"{row['backend']} {row['layout']} {row['shape']}  (forward + gradient of sum(y*y), best round)")
        for name, ms in row["ms"].items():
            print(f"  {name:16s} {ms:9.3f} ms  {row['vs_floor'][name]:6.2f}x floor")
        if row["official_over_ours"] is not None:
            print(f"  ours (layer) is {row['official_over_ours']:.2f}x faster than the official code")
    if memory:
        print(
            f"{backend} steady RSS growth per call at {shape[0]}x{shape[1]}x{shape[1]}x3 (output + what backward keeps)"
        )
        for name, mib in memory.items():
            print(f"  {name:16s} {mib:7.1f} MiB")


def _memory(args):
    """``{variant: MiB per call}``, each variant in its own process."""
    official = {"tensorflow": args.official_tf, "torch": args.official_torch}.get(args.backend)
    names = ["floor", "ours (layer)"] + (["official"] if official else [])
    out = {}
    for name in names:
        command = [sys.executable, __file__, "--memory_variant", name] + sys.argv[1:]
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("MEMORY ")]
        out[name] = json.loads(lines[-1][7:]) if lines else None
        if not lines:
            print(f"memory of {name} failed:\n{proc.stderr[-2000:]}")
    return out


def _shape(text):
    if not text:
        return None
    batch, size = (int(v) for v in text.split("x"))
    return batch, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--shapes", default="64x32,16x256", help="comma-separated BATCHxSIZE")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per framework (0: its default)")
    parser.add_argument("--memory_shape", type=_shape, default=(16, 256), help="BATCHxSIZE, or '' to skip")
    parser.add_argument("--memory_calls", type=int, default=10)
    parser.add_argument("--official_tf", default=None, help="path to a copy of the official DiffAugment_tf.py")
    parser.add_argument("--official_torch", default=None, help="path to a copy of DiffAugment_pytorch.py")
    # set in the child processes: one backend per process, one memory variant per process
    parser.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory_variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = [_shape(s) for s in args.shapes.split(",")]
    if args.memory_variant:  # a fresh process: no memory freed by other variants to reuse
        measure = {"tensorflow": memory_tensorflow, "jax": memory_jax, "torch": memory_torch}[args.backend]
        print("MEMORY " + json.dumps(measure(args, args.memory_variant)))
        return
    if args.backend:  # one backend, in this process
        runner = {"tensorflow": run_tensorflow, "jax": run_jax, "torch": run_torch}[args.backend]
        rows = runner(args, shapes)
        memory = _memory(args) if args.memory_shape else None
        _print(rows, memory, args.backend, args.memory_shape)
        print("RESULT " + json.dumps({"rows": rows, "memory": memory}))
        return
    results = {}
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
        child = [sys.executable, __file__, "--backend", backend] + sys.argv[1:]
        # JAX has no thread setting: one thread is one CPU of the affinity mask
        pin = backend == "jax" and args.threads == 1 and hasattr(os, "sched_setaffinity")
        preexec = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if pin else None
        proc = subprocess.run(child, env=env, capture_output=True, text=True, preexec_fn=preexec)
        lines = proc.stdout.splitlines()
        print("\n".join(line for line in lines if not line.startswith("RESULT ")))
        if proc.returncode:
            print(f"{backend} failed:\n{proc.stderr[-3000:]}")
            continue
        results[backend] = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    print("\nsummary: ours (layer) / floor, ours (kernel) / floor, official / ours (layer)")
    for backend, result in results.items():
        for row in result["rows"]:
            ratio = row["official_over_ours"]
            official = f"{ratio:.2f}x" if ratio is not None else "-"
            print(
                f"  {backend:10s} {row['layout']} {row['shape']:13s} {row['vs_floor']['ours (layer)']:6.2f}x "
                f"{row['vs_floor']['ours (kernel)']:6.2f}x  {official}"
            )


if __name__ == "__main__":
    main()
