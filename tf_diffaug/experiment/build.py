"""What a configuration builds: the compiled `td.GAN`, the training data and the FID reference set.

`build_gan` turns every GAN, compile and Adam key of a configuration into the `td.GAN` call (a
test checks each one arrives), then `check_discriminator_output` refuses a discriminator that does
not give one score per image. `check_backend` refuses a Keras backend other than TensorFlow
before anything is built: the driver trains under `tf.distribute` on `tf.data` pipelines.
`load_dataset` is the repeated, shuffled training pipeline, `reference_images` the real images FID
compares with.

Example:
    >>> gan = build_gan(resolve_config("fewshot-cpu"))                   # doctest: +SKIP
    >>> check_discriminator_output(gan)                                  # doctest: +SKIP
"""

import keras


class RunSetupError(ValueError):
    """The data or the networks of a configuration cannot be set up (raised before training)."""


def check_backend():
    """Raises `RunSetupError` unless Keras runs on TensorFlow (what the driver needs).

    The driver trains with `tf.distribute` strategies on `tf.data` pipelines and checkpoints with
    TensorFlow, so it is checked before anything is built. `td.GAN` itself also trains on JAX from
    Python (`td.gan.model.check_backend`), and DiffAugment runs on JAX and torch.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RunSetupError(
            f"Training needs Keras' TensorFlow backend (tf.distribute, tf.data), but Keras runs on {backend!r}. "
            'Set KERAS_BACKEND=tensorflow (or "backend": "tensorflow" in ~/.keras/keras.json); from Python, '
            "td.GAN also trains on JAX, and DiffAugment runs on JAX and torch."
        )


def check_discriminator_output(gan):
    """Raises `RunSetupError` unless `gan`'s discriminator gives one score per image.

    `td.GAN` checks this when it is built (`td.gan.model.check_discriminator_output`); this is the
    same check for a GAN built some other way, with the driver's error type.
    """
    from tf_diffaug.gan import model

    try:
        model.check_discriminator_output(gan.discriminator)
    except ValueError as error:
        raise RunSetupError(str(error)) from error


def build_gan(config):
    """Builds and compiles the `td.GAN` of `config` (call inside the strategy scope).

    Every setting of `td.GAN`, `td.GAN.compile` and `keras.optimizers.Adam` comes from its
    configuration key (`latent_dim`, `ema_*`, `advaug_gamma`, `advaug_g_layer`, `loss`, `d_steps`,
    `g_batch_size`, `r1_*`, `cr_weight`, `lecam_*`, `ada_*` (used when `adaptive`), `g_lr`/`d_lr`,
    `lr_decay`, `beta_1`, `beta_2`, `adam_epsilon`, `jit_compile`); `freeze_d` sets D's first
    blocks non-trainable before compiling (`finetune.freeze_discriminator`). The weights of
    `init_from` are loaded by the driver (`finetune.load_networks`), not here.

    `lr_decay="linear"` gives each Adam a `keras.optimizers.schedules.PolynomialDecay` (power 1, to
    0) over its own update count, which Keras reads from the optimizer's `iterations`: `steps`
    updates for G and `d_steps * steps` for D (Miyato et al.'s chainer `LinearShift` of both
    rates from the first iteration to the last); checkpoints keep `iterations`, so a resumed run
    continues the schedule.

    Args:
        config: a resolved configuration dict.

    Returns:
        The compiled `td.GAN`.

    Example:
        >>> gan = build_gan(resolve_config("fewshot-cpu", adam_epsilon=1e-8))   # doctest: +SKIP
        >>> gan.g_optimizer.epsilon                                             # doctest: +SKIP
        1e-08
    """
    import tf_diffaug as td
    from tf_diffaug.experiment import finetune

    generator, discriminator = td.networks.get(
        config["network"],
        resolution=config["resolution"],
        channels=config["channels"],
        num_classes=config["num_classes"],
        latent_dim=config["latent_dim"],
        **config["network_kwargs"],
    )
    # FreezeD: before td.GAN and compile, so D's optimizer is built without the frozen layers.
    finetune.freeze_discriminator(discriminator, config["freeze_d"])
    augment = None
    if config["augment_mode"] != "none":
        augment = td.DiffAugment(config["policy"], seed=config["seed"])
        if config["adaptive"]:
            augment = td.augment.AdaptiveAugment(augment, initial_p=0.0, seed=config["seed"] + 1)
    gan = td.GAN(
        generator,
        discriminator,
        latent_dim=config["latent_dim"],
        augment=augment,
        augment_mode=config["augment_mode"],
        num_classes=config["num_classes"],
        ema_decay=config["ema_decay"],
        ema_start_step=config["ema_start_step"],
        advaug_gamma=config["advaug_gamma"],
        advaug_g_layer=config["advaug_g_layer"],
        seed=config["seed"],
    )

    def adam(learning_rate, updates):
        if config["lr_decay"] == "linear":
            learning_rate = keras.optimizers.schedules.PolynomialDecay(
                learning_rate, decay_steps=updates, end_learning_rate=0.0, power=1.0
            )
        return keras.optimizers.Adam(
            learning_rate, beta_1=config["beta_1"], beta_2=config["beta_2"], epsilon=config["adam_epsilon"]
        )

    options = {
        "loss": config["loss"],
        "d_steps": config["d_steps"],
        "g_batch_size": config["g_batch_size"],
        "r1_gamma": config["r1_gamma"],
        "r1_through_augment": config["r1_through_augment"],
        "cr_weight": config["cr_weight"],
        "lecam_weight": config["lecam_weight"],
        "lecam_decay": config["lecam_decay"],
        "lecam_start_step": config["lecam_start_step"],
        "ada_target": config["ada_target"] if config["adaptive"] else None,
        "ada_interval": config["ada_interval"],
        "ada_kimg": config["ada_kimg"],
        "jit_compile": config["jit_compile"],
    }
    steps = config["steps"]
    gan.compile(
        g_optimizer=adam(config["g_lr"], steps), d_optimizer=adam(config["d_lr"], config["d_steps"] * steps), **options
    )
    return gan


def step_images(config):
    """Real images one train step reads: `d_steps * batch_size`, one batch per D update (`td.GAN`)."""
    return config["d_steps"] * config["batch_size"]


def load_dataset(config, global_batch_size, seed):
    """The repeated, shuffled training `tf.data.Dataset` of `config` (seeded by `seed`).

    Elements of `global_batch_size` images (the driver passes `step_images(config)`), drawn from the
    seeded subset `subset_size` / `subset_seed` of `split` when one is set.
    """
    import tf_diffaug as td

    return td.data.load(
        config["dataset"],
        split=config["split"],
        resolution=config["resolution"],
        batch_size=global_batch_size,
        with_labels=config["num_classes"] is not None,
        channels=config["channels"],
        crop=config["crop"],
        alpha_background=config["alpha_background"],
        shuffle=True,
        mirror=config["mirror"],
        seed=seed,
        drop_remainder=True,
        repeat=True,
        subset_size=config["subset_size"],
        subset_seed=config["subset_seed"],
    )


def reference_images(config):
    """The FID/KID reference set as uint8 [N, H, W, C].

    Every image of `fid_reference_split` when it is set (e.g. "test", as the DiffAugment BigGAN-CIFAR
    code; no subset), else the training images (the subset trained on when there is one).
    """
    import tf_diffaug as td

    options = data_options(config)
    if config["fid_reference_split"] is not None:
        images = td.data.load_array(config["dataset"], split=config["fid_reference_split"], **options)
    else:
        images = td.data.load_array(
            config["dataset"],
            split=config["split"],
            subset_size=config["subset_size"],
            subset_seed=config["subset_seed"],
            **options,
        )
    return images[0] if isinstance(images, tuple) else images


def data_options(config):
    """The `td.data.load_array` options of `config` that change the pixels (besides dataset and split)."""
    return {
        "resolution": config["resolution"],
        "channels": config["channels"],
        "crop": config["crop"],
        "alpha_background": config["alpha_background"],
    }


def reference_statistics_key(config):
    """The `td.metrics.statistics_key` of the FID reference set of `config`.

    Everything that changes the reference images or their features: dataset, split (the
    `fid_reference_split`, else the training split and its seeded subset), resolution, channels,
    crop, alpha background and `fid_resize`.
    """
    import tf_diffaug as td

    options = data_options(config)
    resolution = options.pop("resolution")
    if config["fid_reference_split"] is not None:
        split = config["fid_reference_split"]
    else:
        split = config["split"]
        if config["subset_size"] is not None:
            options.update(subset_size=config["subset_size"], subset_seed=config["subset_seed"])
    return td.metrics.statistics_key(config["dataset"], split, resolution, config["fid_resize"], **options)


def fid_method(num_real, num_fake, feature_dim=2048):
    """`frechet_distance` method: "gram" (exact, fast) for sets smaller than the feature size, else "eigh".

    Both equal scipy's `sqrtm` reference up to float rounding (see `td.metrics.frechet_distance`);
    `sqrtm` of a 2048x2048 product costs tens of seconds per evaluation on a small CPU.
    """
    return "gram" if max(num_real, num_fake) < feature_dim else "eigh"


__all__ = [
    "RunSetupError",
    "build_gan",
    "check_backend",
    "check_discriminator_output",
    "data_options",
    "fid_method",
    "load_dataset",
    "reference_images",
    "reference_statistics_key",
    "step_images",
]
