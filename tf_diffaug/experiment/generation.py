"""Write images of a run's EMA generator as PNG files, for other evaluation tools (`--generate=N`).

`generate(run_or_weights, num_images, seed=0)` builds the networks of the run's `config.json`,
loads the EMA generator of its last finite checkpoint (or of the given
`checkpoints/ckpt-XXXXXX.weights.h5`; `finetune.weights_file`) and writes `num_images` PNG files
`000000.png, 000001.png, ...` to `<run>/generated-<step>/` (`<step>`: the checkpoint's, six
digits). Image `i` is image `i - c * CHUNK` of the chunk `c = i // CHUNK`,

    gan.generate(n_c, labels=arange(c * CHUNK, c * CHUNK + n_c) % num_classes, use_ema=True,
                 seed=seed + c, training=sample_bn_mode == "train")

(labels only for a class-conditional run: the classes cycle, 0, 1, ..., so every class gets
`num_images / num_classes` images), rounded to uint8 as every grid and FID evaluation
(`td.metrics.to_uint8`). Files of the same names already in the folder are replaced.

Example:
    >>> generate("runs/00000-fewshot-cpu", 1000)             # doctest: +SKIP
    'runs/00000-fewshot-cpu/generated-002000'
"""

import os

import numpy as np

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import finetune, pictures

#: Images per `gan.generate` call (chunk `c` draws its latents with seed `seed + c`).
CHUNK = 250


def output_folder(weights_path):
    """`<run>/generated-<step>` of a run's checkpoint, else `generated-<file name>` beside the file."""
    run, step = finetune.run_folder_of(weights_path), finetune.weights_step(weights_path)
    if run is not None and step is not None:
        return os.path.join(run, f"generated-{step:06d}")
    name = os.path.basename(weights_path)[: -len(".weights.h5")]
    return os.path.join(os.path.dirname(weights_path), f"generated-{name}")


def generate(run_or_weights, num_images, seed=0, out_dir=None, config=None, stream=None):
    """Writes `num_images` PNG images of the EMA generator of a run; returns the folder.

    Args:
        run_or_weights: a run folder (its last finite checkpoint) or a `td.GAN` weights file.
        num_images: how many images (>= 1).
        seed: latent seed of the first chunk (chunk `c` uses `seed + c`).
        out_dir: the folder to write to (default `output_folder(weights)`).
        config: the run's configuration (default: its `config.json`; needed for a weights file
            outside a run folder).
        stream: where to say what was written (None: nowhere).

    Raises:
        ValueError: a bad count or seed, no checkpoint, no configuration, or weights that do not fit
            the configuration's networks (`finetune.ArchitectureMismatch`).
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"The number of images to generate must be an integer >= 1, got {num_images!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"The generation seed must be an integer >= 0, got {seed!r}.")
    weights = finetune.weights_file(run_or_weights)
    if config is None:
        run = finetune.run_folder_of(weights)
        if run is None or not os.path.isfile(os.path.join(run, "config.json")):
            raise ValueError(
                f"No config.json for the weights file {weights!r}: it is not inside a run folder "
                "(<run>/checkpoints/). Pass the configuration it was trained with."
            )
        config = config_lib.saved_config(run)
    config = config_lib.validate_config(dict(config))

    import tf_diffaug as td
    from tf_diffaug.experiment import build

    gan = build.build_gan(config)
    finetune.load_networks(gan, weights, networks=("ema_generator",))
    out_dir = out_dir or output_folder(weights)
    os.makedirs(out_dir, exist_ok=True)
    classes = config["num_classes"]
    for chunk, start in enumerate(range(0, num_images, CHUNK)):
        count = min(CHUNK, num_images - start)
        labels = None if classes is None else np.arange(start, start + count) % classes
        extra = {"training": True} if config["sample_bn_mode"] == "train" else {}
        images = td.metrics.to_uint8(gan.generate(count, labels=labels, use_ema=True, seed=seed + chunk, **extra))
        for offset, image in enumerate(images):
            pictures.save_png(os.path.join(out_dir, f"{start + offset:06d}.png"), image)
    if stream is not None:
        stream.write(f"Wrote {num_images} images of the EMA generator of {weights} to {out_dir}\n")
        stream.flush()
    return out_dir


__all__ = ["CHUNK", "generate", "output_folder"]
