"""Quality benchmark: DiffAugment vs no augmentation (and the ablations) at equal training steps.

Trains the same networks from the same seed for the same number of steps once per
`augment_mode` ("none", "both", "real_only", "d_only"; optionally with adaptive probability),
and measures FID / KID of the EMA generator with a fixed number of samples (fixed latents) against
the training set -- the few-shot protocol of Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020 (arXiv:2006.10738), Sec. 5.2 -- and, where one is given,
against a held-out split (e.g. Fashion-MNIST's test set).

Writes into `--out`:
  results.json          flags, machine, per (mode, seed): FID/KID curves over steps, final values,
                        wall time, last losses; and a summary (mean/min/max over seeds, ratio to "none")
  grid_<mode>_s<seed>.png   EMA samples at the end (fixed latents), grid_real.png the training images
  fid_curves.png        FID over steps per mode (one panel per reference set)

Examples:
  python benchmarks/quality.py --dataset=emoji-faces --resolution=32 --steps=2000 --modes=none,both
  python benchmarks/quality.py --dataset=fashion-mnist --split='train[:1%]' --test_split='test[:1000]' \
      --resolution=32 --steps=2000 --out=docs/results/fashion-mnist
"""

import json
import os
import platform
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
_PREDEFINED = set(FLAGS)
flags.DEFINE_string("dataset", "emoji-faces", "td.data name or folder.")
flags.DEFINE_string("split", "train", "Training split (tfds slicing syntax, e.g. 'train[:1%]').")
flags.DEFINE_string("test_split", None, "Held-out split for a second FID reference, e.g. 'test[:1000]'.")
flags.DEFINE_integer("resolution", 32, "Image side.")
flags.DEFINE_integer("channels", None, "1 or 3 (default: the dataset's own).")
flags.DEFINE_integer("steps", 1000, "Generator steps per run.")
flags.DEFINE_integer("batch_size", 32, "Batch of one update; a step reads d_steps x batch_size real images.")
flags.DEFINE_list("modes", ["none", "both", "real_only", "d_only"], "augment_mode values to train.")
flags.DEFINE_bool("adaptive", False, "Also train 'both' with adaptive augmentation probability (ADA rule).")
flags.DEFINE_float("ada_target", 0.6, "ADA target of E[sign(D(T(real)))].")
flags.DEFINE_list("seeds", ["0"], "Seeds; every mode is trained once per seed.")
flags.DEFINE_integer("fid_samples", 500, "Generated images per FID/KID evaluation.")
flags.DEFINE_integer("eval_every", 250, "Steps between evaluations (must divide --steps).")
flags.DEFINE_integer("eval_seed", 12345, "Seed of the evaluation latents (same for every mode/step).")
flags.DEFINE_string("out", "docs/results/quality", "Output folder.")
flags.DEFINE_string("network", "dcgan", "td.networks name.")
flags.DEFINE_integer("width", 32, "DCGAN width (network_kwargs['width']); 0 to leave the default.")
flags.DEFINE_integer("latent_dim", 128, "Latent size.")
flags.DEFINE_string("loss", "non_saturating", "Adversarial loss.")
flags.DEFINE_float("lr", 2e-4, "Learning rate of G and D.")
flags.DEFINE_float("d_lr", None, "D learning rate (default: --lr).")
flags.DEFINE_float("beta_1", 0.5, "Adam beta_1.")
flags.DEFINE_float("beta_2", 0.999, "Adam beta_2.")
flags.DEFINE_integer("d_steps", 1, "D steps per G step.")
flags.DEFINE_float("r1_gamma", 0.0, "R1 weight.")
flags.DEFINE_float("ema_decay", 0.999, "EMA decay of the evaluated generator.")
flags.DEFINE_string("policy", "color,translation,cutout", "DiffAugment policy.")
flags.DEFINE_bool("mirror", False, "Random x-flips of the reals (dataset augmentation, all modes).")
flags.DEFINE_integer("grid_samples", 64, "Samples in each grid.")
flags.DEFINE_integer("threads", 0, "TF intra/inter-op threads (0: TF default).")
flags.DEFINE_string("report", None, "Print the Markdown tables of an existing results.json and exit (no training).")


def evaluate(gan, extractor, references, n, seed):
    """FID/KID of `n` EMA samples (fixed latents `seed`) against each reference feature set."""
    import numpy as np

    import tf_diffaug as td

    images = td.metrics.to_uint8(gan.generate(n, use_ema=True, seed=seed))
    feats = extractor(images, batch_size=50)
    out = {}
    for name, ref in references.items():
        out[f"fid_{name}"] = td.metrics.frechet_distance(feats, ref, method="gram")
        kid, kid_std = td.metrics.kernel_distance(feats, ref, return_std=True)
        out[f"kid_{name}"], out[f"kid_std_{name}"] = float(kid), float(kid_std)
    out["sample_mean"] = float(np.mean(images))
    return out, feats


def build(mode, seed, channels, adaptive):
    """A compiled td.GAN for one run (same networks and seed for every mode)."""
    import keras

    import tf_diffaug as td

    keras.utils.set_random_seed(seed)
    kwargs = {"latent_dim": FLAGS.latent_dim}
    if FLAGS.width:
        kwargs["width"] = FLAGS.width
    generator, discriminator = td.networks.get(FLAGS.network, resolution=FLAGS.resolution, channels=channels, **kwargs)
    augment = None
    if mode != "none":
        augment = td.DiffAugment(FLAGS.policy, seed=seed)
        if adaptive:
            augment = td.augment.AdaptiveAugment(augment, initial_p=0.0, seed=seed + 1)
    gan = td.GAN(
        generator,
        discriminator,
        latent_dim=FLAGS.latent_dim,
        augment=augment,
        augment_mode="both" if mode == "none" else mode,
        ema_decay=FLAGS.ema_decay,
        seed=seed,
    )
    adam = lambda lr: keras.optimizers.Adam(lr, beta_1=FLAGS.beta_1, beta_2=FLAGS.beta_2)  # noqa: E731
    gan.compile(
        g_optimizer=adam(FLAGS.lr),
        d_optimizer=adam(FLAGS.d_lr or FLAGS.lr),
        loss=FLAGS.loss,
        d_steps=FLAGS.d_steps,
        r1_gamma=FLAGS.r1_gamma,
        ada_target=FLAGS.ada_target if adaptive else None,
    )
    return gan


def train_one(mode, seed, adaptive, channels, extractor, references, out_dir):
    """Trains one run, evaluating every `eval_every` steps; returns its record."""
    import keras
    from PIL import Image

    import tf_diffaug as td

    gan = build(mode, seed, channels, adaptive)
    dataset = td.data.load(
        FLAGS.dataset,
        split=FLAGS.split,
        resolution=FLAGS.resolution,
        batch_size=FLAGS.d_steps * FLAGS.batch_size,  # td.GAN: one batch of reals per D update
        channels=channels,
        shuffle=True,
        mirror=FLAGS.mirror,
        seed=seed,
        drop_remainder=True,
        repeat=True,
    )
    name = mode + ("_adaptive" if adaptive else "")
    record = {"mode": name, "seed": seed, "curve": [], "train_seconds": 0.0, "eval_seconds": 0.0}

    class Evaluate(keras.callbacks.Callback):
        """Evaluates FID/KID after every epoch of `eval_every` steps and times training vs evaluation."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.time()

        def on_epoch_end(self, epoch, logs=None):
            record["train_seconds"] += time.time() - self.start
            start = time.time()
            metrics, _ = evaluate(gan, extractor, references, FLAGS.fid_samples, FLAGS.eval_seed)
            record["eval_seconds"] += time.time() - start
            point = {
                "step": (epoch + 1) * FLAGS.eval_every,
                **metrics,
                **{k: float(v) for k, v in (logs or {}).items()},
            }
            if adaptive:
                point["aug_p"] = float(keras.ops.convert_to_numpy(td.gan.adaptive.probability_variable(gan.augment)))
            record["curve"].append(point)
            print(
                f"[{name} seed={seed}] "
                + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items()),
                flush=True,
            )

    gan.fit(
        dataset,
        epochs=FLAGS.steps // FLAGS.eval_every,
        steps_per_epoch=FLAGS.eval_every,
        verbose=0,
        callbacks=[Evaluate()],
    )
    record["final"] = {k: v for k, v in record["curve"][-1].items() if k.startswith(("fid", "kid"))}
    record["steps_per_second"] = FLAGS.steps / max(record["train_seconds"], 1e-9)
    grid = td.gan.callbacks.image_grid(
        td.metrics.to_uint8(gan.generate(FLAGS.grid_samples, use_ema=True, seed=FLAGS.eval_seed))
    )
    grid_path = os.path.join(out_dir, f"grid_{name}_s{seed}.png")
    Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).resize(
        (grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST
    ).save(grid_path, optimize=True)
    record["grid"] = os.path.basename(grid_path)
    return record


def summarize(runs, reference_names):
    """Mean/min/max of final FID/KID per mode over seeds, and the ratio of means to mode 'none'."""
    import numpy as np

    summary = {}
    for mode in dict.fromkeys(r["mode"] for r in runs):
        finals = [r["final"] for r in runs if r["mode"] == mode]
        summary[mode] = {}
        for key in finals[0]:
            if key.startswith("kid_std"):
                continue
            values = np.array([f[key] for f in finals])
            summary[mode][key] = {
                "mean": float(values.mean()),
                "min": float(values.min()),
                "max": float(values.max()),
                "n": len(values),
            }
    if "none" in summary:
        for values in summary.values():
            for ref in reference_names:
                key = f"fid_{ref}"
                values[f"fid_ratio_to_none_{ref}"] = values[key]["mean"] / summary["none"][key]["mean"]
    return summary


def plot(runs, reference_names, path):
    """FID over steps, one line per (mode, seed), one panel per reference set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(reference_names), figsize=(5.5 * len(reference_names), 4), squeeze=False)
    colors = {}
    for ax, ref in zip(axes[0], reference_names):
        for r in runs:
            color = colors.setdefault(r["mode"], f"C{len(colors)}")
            steps = [p["step"] for p in r["curve"]]
            ax.plot(
                steps,
                [p[f"fid_{ref}"] for p in r["curve"]],
                "o-",
                color=color,
                ms=3,
                label=f"{r['mode']} (seed {r['seed']})",
            )
        ax.set_xlabel("generator steps")
        ax.set_ylabel(f"FID vs {ref} ({FLAGS.fid_samples} samples)")
        ax.set_title(f"{FLAGS.dataset} {FLAGS.split if ref == 'train' else FLAGS.test_split}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(result):
    """Markdown tables of a results.json: final FID/KID per run, FID over steps, and the summary."""
    refs = list(result["reference_counts"])
    lines = [
        "| mode | seed | "
        + " | ".join(f"FID vs {r} | KID vs {r}" for r in refs)
        + " | FID / FID(none) | steps/s | train s | eval s |",
        "|---|---|" + "---|---|" * len(refs) + "---|---|---|---|",
    ]
    summary = result.get("summary", {})
    for run in result["runs"]:
        f = run["final"]
        ratio = summary.get(run["mode"], {}).get(f"fid_ratio_to_none_{refs[0]}")
        lines.append(
            f"| {run['mode']} | {run['seed']} | "
            + " | ".join(f"{f[f'fid_{r}']:.1f} | {f[f'kid_{r}']:.3f} ± {f[f'kid_std_{r}']:.3f}" for r in refs)
            + f" | {'' if ratio is None else f'{ratio:.2f}'} | {run['steps_per_second']:.2f}"
            + f" | {run['train_seconds']:.0f} | {run['eval_seconds']:.0f} |"
        )
    steps = [p["step"] for p in result["runs"][0]["curve"]]
    for ref in refs:
        lines += [
            "",
            f"FID vs {ref} over generator steps:",
            "",
            "| mode | seed | " + " | ".join(str(s) for s in steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        for run in result["runs"]:
            lines.append(
                f"| {run['mode']} | {run['seed']} | "
                + " | ".join(f"{p[f'fid_{ref}']:.1f}" for p in run["curve"])
                + " |"
            )
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.report:
        with open(FLAGS.report) as f:
            print(markdown(json.load(f)))
        return
    if FLAGS.steps % FLAGS.eval_every:
        raise ValueError(f"--eval_every={FLAGS.eval_every} must divide --steps={FLAGS.steps}.")
    unknown = set(FLAGS.modes) - {"none", "both", "real_only", "d_only"}
    if unknown:
        raise ValueError(
            f"Unknown modes {sorted(unknown)}. Expected a subset of ['both', 'd_only', 'none', 'real_only']."
        )
    import numpy as np
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    from PIL import Image

    import tf_diffaug as td

    os.makedirs(FLAGS.out, exist_ok=True)
    t0 = time.time()
    real = td.data.load_array(FLAGS.dataset, split=FLAGS.split, resolution=FLAGS.resolution, channels=FLAGS.channels)
    channels = real.shape[-1]
    extractor = td.metrics.InceptionFeatureExtractor()
    references = {"train": extractor(real, batch_size=50)}
    counts = {"train": len(real)}
    if FLAGS.test_split:
        test = td.data.load_array(
            FLAGS.dataset, split=FLAGS.test_split, resolution=FLAGS.resolution, channels=FLAGS.channels
        )
        references["test"] = extractor(test, batch_size=50)
        counts["test"] = len(test)
        # Floor of the metric at this sample count: real train images vs real test images.
        floor = {
            "fid_train_vs_test": td.metrics.frechet_distance(references["train"], references["test"], method="gram")
        }
    else:
        floor = {}
    grid = td.gan.callbacks.image_grid(real[: FLAGS.grid_samples])
    Image.fromarray(grid.squeeze(-1) if channels == 1 else grid).resize(
        (grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST
    ).save(os.path.join(FLAGS.out, "grid_real.png"), optimize=True)
    print(f"reference features {counts} in {time.time() - t0:.0f}s; floor {floor}", flush=True)

    result = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "flags": {name: FLAGS[name].value for name in FLAGS if name not in _PREDEFINED},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "tensorflow": tf.__version__,
        },
        "fid_method": "gram (exact nuclear-norm form of the sqrtm trace, td.metrics.frechet_distance)",
        "reference_counts": counts,
        "metric_floor": floor,
        "runs": [],
    }
    out_json = os.path.join(FLAGS.out, "results.json")
    plan = [(m, False) for m in FLAGS.modes] + ([("both", True)] if FLAGS.adaptive else [])
    for seed in [int(s) for s in FLAGS.seeds]:
        for mode, adaptive in plan:
            record = train_one(mode, seed, adaptive, channels, extractor, references, FLAGS.out)
            result["runs"].append(record)
            result["summary"] = summarize(result["runs"], list(references))
            result["machine"]["load_average_now"] = os.getloadavg()
            result["wall_seconds"] = time.time() - t0
            with open(out_json, "w") as f:
                json.dump(result, f, indent=1)
            plot(result["runs"], list(references), os.path.join(FLAGS.out, "fid_curves.png"))
    print(markdown(result))
    del np


if __name__ == "__main__":
    app.run(main)
