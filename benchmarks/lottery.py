"""Lottery-ticket benchmark: dense vs sparse ticket, each with DiffAugment, with and without AdvAug.

The small-scale version of the comparison in Chen, Zhang, Liu, Chang & Wang, "Data-Efficient GAN
Training Beyond (Just) Augmentations: A Lottery Ticket Perspective", NeurIPS 2021
(arXiv:2103.00397), Tables 1-3: on a small training set,

1. build a GAN from a fixed seed and keep its initial weights;
2. stage I: `td.lottery.find_ticket` - `--prune_rounds` rounds of IMP at `--prune_fraction` of the
   generator's surviving conv/dense kernels per round, `--steps_per_round` steps each, rewinding to
   the initial weights (8 rounds at 20 % = 83.2 % sparsity);
3. stage II: four runs of `--steps` steps from the *same* initial weights and the same random
   draws (latents, DiffAugment): dense and ticket (`td.lottery.train_ticket`), each with
   `advaug_gamma=0` and `advaug_gamma=--advaug_gamma`;
4. FID / KID of `--fid_samples` EMA-generator samples (fixed latents) against the training slice
   (the few-shot protocol of Zhao et al., NeurIPS 2020), Inception features from td.metrics.

Prints the exact command, a Markdown table, and writes `results.json` (flags, machine, load,
per-round sparsity and losses, per-run FID/KID, wall times, last logs) into `--out`.

Example (the run reported in docs/LOTTERY.md):
  nice -n 10 python benchmarks/lottery.py --dataset=fashion-mnist --split='train[:1%]' \\
      --prune_rounds=8 --steps_per_round=100 --steps=1000 --out=docs/results/lottery
"""

import json
import os
import platform
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
_PREDEFINED = set(FLAGS)
flags.DEFINE_string("dataset", "fashion-mnist", "td.data name or folder.")
flags.DEFINE_string("split", "train[:1%]", "Training split (tfds slicing syntax).")
flags.DEFINE_integer("resolution", 32, "Image side.")
flags.DEFINE_integer("channels", 3, "Image channels (fashion-mnist is tiled to RGB with 3).")
flags.DEFINE_string("network", "dcgan", "td.networks name.")
flags.DEFINE_integer("width", 32, "network_kwargs['width'] (0: the network's default).")
flags.DEFINE_integer("latent_dim", 128, "Latent size.")
flags.DEFINE_string("loss", "hinge", "Adversarial loss.")
flags.DEFINE_float("lr", 2e-4, "Adam learning rate of G and D.")
flags.DEFINE_float("beta_1", 0.5, "Adam beta_1.")
flags.DEFINE_float("beta_2", 0.999, "Adam beta_2.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("ema_decay", 0.999, "EMA decay of the evaluated generator.")
flags.DEFINE_string("policy", "color,translation,cutout", "DiffAugment policy (all runs).")
flags.DEFINE_integer("prune_rounds", 8, "IMP rounds (stage I).")
flags.DEFINE_float("prune_fraction", 0.2, "Fraction of surviving G kernel weights pruned per round.")
flags.DEFINE_integer("steps_per_round", 100, "Training steps per IMP round.")
flags.DEFINE_integer("steps", 1000, "Training steps of every stage-II run (equal for all four).")
flags.DEFINE_float("advaug_gamma", 0.01, "AdvAug step of the 'with AdvAug' runs (0.01 in the paper).")
flags.DEFINE_list("variants", ["dense", "dense+advaug", "ticket", "ticket+advaug"], "Stage-II runs.")
flags.DEFINE_integer("fid_samples", 500, "Generated images per FID/KID evaluation.")
flags.DEFINE_enum("fid_method", "eigh", ["sqrtm", "eigh", "gram"], "td.metrics.frechet_distance method.")
flags.DEFINE_integer("eval_seed", 12345, "Seed of the evaluation latents (same for every run).")
flags.DEFINE_integer("seed", 0, "Seed of the initial weights and of the training draws.")
flags.DEFINE_string("out", "docs/results/lottery", "Output folder.")

VARIANTS = ("dense", "dense+advaug", "ticket", "ticket+advaug")


def build(gamma, channels):
    """A compiled td.GAN with DiffAugment; same seed, so the same initial weights and draws."""
    import keras

    import tf_diffaug as td

    keras.utils.set_random_seed(FLAGS.seed)
    kwargs = {"latent_dim": FLAGS.latent_dim}
    if FLAGS.width:
        kwargs["width"] = FLAGS.width
    generator, discriminator = td.networks.get(FLAGS.network, resolution=FLAGS.resolution, channels=channels, **kwargs)
    gan = td.GAN(
        generator,
        discriminator,
        latent_dim=FLAGS.latent_dim,
        seed=FLAGS.seed,
        augment=td.DiffAugment(FLAGS.policy, seed=FLAGS.seed),
        augment_mode="both",
        ema_decay=FLAGS.ema_decay,
        advaug_gamma=gamma,
    )
    adam = lambda: keras.optimizers.Adam(FLAGS.lr, beta_1=FLAGS.beta_1, beta_2=FLAGS.beta_2)  # noqa: E731
    gan.compile(g_optimizer=adam(), d_optimizer=adam(), loss=FLAGS.loss)
    return gan


def dataset():
    import tf_diffaug as td

    return td.data.load(
        FLAGS.dataset,
        split=FLAGS.split,
        resolution=FLAGS.resolution,
        channels=FLAGS.channels,
        batch_size=FLAGS.batch_size,
        shuffle=True,
        seed=FLAGS.seed,
        drop_remainder=True,
        repeat=True,
    )


def weights(gan):
    return [m.get_weights() for m in (gan.generator, gan.discriminator, gan.ema_generator)]


def evaluate(gan, extractor, reference):
    import tf_diffaug as td

    images = td.metrics.to_uint8(gan.generate(FLAGS.fid_samples, use_ema=True, seed=FLAGS.eval_seed))
    feats = extractor(images, batch_size=50)
    kid, kid_std = td.metrics.kernel_distance(feats, reference, return_std=True)
    return {
        "fid": float(td.metrics.frechet_distance(feats, reference, method=FLAGS.fid_method)),
        "kid": float(kid),
        "kid_std": float(kid_std),
    }


def table(runs, sparsity):
    lines = ["| run | G sparsity | AdvAug γ | FID ↓ | KID ×10³ ↓ (± std) | train s |", "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['variant']} | {100 * r['generator_sparsity']:.1f} % | {r['advaug_gamma']:g} | "
            f"{r['fid']:.1f} | {1e3 * r['kid']:.1f} ± {1e3 * r['kid_std']:.1f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"Unknown variants {unknown}. Expected a subset of {list(VARIANTS)}.")
    import tensorflow as tf

    import tf_diffaug as td

    command = " ".join([os.path.basename(sys.executable)] + sys.argv)
    print("command:", command, flush=True)
    os.makedirs(FLAGS.out, exist_ok=True)
    t0 = time.time()
    real = td.data.load_array(FLAGS.dataset, split=FLAGS.split, resolution=FLAGS.resolution, channels=FLAGS.channels)
    extractor = td.metrics.InceptionFeatureExtractor()
    reference = extractor(real, batch_size=50)
    print(f"{len(real)} reference images, features in {time.time() - t0:.0f}s", flush=True)
    result = {
        "command": command,
        "flags": {name: FLAGS[name].value for name in FLAGS if name not in _PREDEFINED},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "tensorflow": tf.__version__,
        },
        "reference_count": len(real),
        "runs": [],
    }
    out_json = os.path.join(FLAGS.out, "results.json")

    def save():
        result["machine"]["load_average_now"] = os.getloadavg()
        result["wall_seconds"] = time.time() - t0
        with open(out_json, "w") as f:
            json.dump(result, f, indent=1)

    # Stage I: IMP on the dense GAN (DiffAugment, no AdvAug), rewinding to the initial weights.
    gan = build(0.0, real.shape[-1])
    initial = weights(gan)
    start = time.time()
    ticket = td.lottery.find_ticket(
        gan,
        dataset(),
        rounds=FLAGS.prune_rounds,
        fraction=FLAGS.prune_fraction,
        steps_per_round=FLAGS.steps_per_round,
        rewind="init",
    )
    result["find_ticket"] = {
        "seconds": time.time() - start,
        "rounds": ticket.rounds,
        "layer_sparsity": ticket.generator_masks.layer_sparsity(),
    }
    print(ticket.generator_masks.summary(), flush=True)
    save()
    del gan

    # Stage II: equal steps from the same initial weights.
    for variant in FLAGS.variants:
        gamma = FLAGS.advaug_gamma if variant.endswith("+advaug") else 0.0
        gan = build(gamma, real.shape[-1])
        for model, values in zip((gan.generator, gan.discriminator, gan.ema_generator), initial):
            model.set_weights(values)
        start = time.time()
        if variant.startswith("ticket"):
            history = td.lottery.train_ticket(gan, ticket, dataset(), steps=FLAGS.steps)
            kernels = [k.numpy() for _, k in td.lottery.prunable_kernels(gan.generator)]
            sparsity = sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)
        else:
            history = gan.fit(dataset(), steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
            sparsity = 0.0
        seconds = time.time() - start
        record = {
            "variant": variant,
            "advaug_gamma": gamma,
            "generator_sparsity": float(sparsity),
            "train_seconds": seconds,
            "logs": {k: float(v[-1]) for k, v in history.history.items()},
            **evaluate(gan, extractor, reference),
        }
        result["runs"].append(record)
        print(f"[{variant}] " + json.dumps(record), flush=True)
        save()
        del gan
    print("command:", command)
    print(table(result["runs"], None))
    result["table"] = table(result["runs"], None)
    save()


if __name__ == "__main__":
    app.run(main)
