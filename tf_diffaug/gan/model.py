"""`GAN`: a `keras.Model` whose `train_step` trains a generator and a discriminator with DiffAugment.

Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (arXiv:2006.10738): the same differentiable augmentation `T` is applied to real and
generated images in both the discriminator and the generator step, `D(T(x))` and `D(T(G(z)))`,
and the generator's gradient flows through `T`.
"""

import keras
import numpy as np

from tf_diffaug.gan import adaptive, perturbation, regularizers, saved_state
from tf_diffaug.gan import ema as ema_lib
from tf_diffaug.gan import losses as losses_lib
from tf_diffaug.gan.train_step import AUGMENT_MODES, GANTrainStep


def _compile_setting(name):
    """A read-only property: the value `compile` received for `name` (`get_compile_config()[name]`)."""
    return property(lambda self: self._gan_compile_config[name], doc=f"`{name}` as given to `compile` (read-only).")


TRAINING_BACKENDS = ("tensorflow", "jax")


def check_backend():
    """Raises `RuntimeError` unless Keras runs on a backend `GAN` trains on: TensorFlow or JAX.

    TensorFlow runs `td.gan.train_step` (`tf.GradientTape`, `tf.distribute`), JAX the stateless
    `td.gan.train_step_jax` (Keras' JAX trainer, `keras.distribution`). On torch `fit` would fail
    deep inside Keras; DiffAugment itself runs on all three.
    """
    backend = keras.backend.backend()
    if backend not in TRAINING_BACKENDS:
        raise RuntimeError(
            f"td.GAN trains on Keras' TensorFlow or JAX backend, but Keras runs on {backend!r}. Set "
            'KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax (or "backend" in ~/.keras/keras.json); '
            "DiffAugment itself also runs on torch."
        )


def _train_step_mixin(backend):
    """The train step binding of `backend`: `GANJaxTrainStep` on JAX, else the TensorFlow `GANTrainStep`."""
    if backend == "jax":
        from tf_diffaug.gan.train_step_jax import GANJaxTrainStep

        return GANJaxTrainStep
    return GANTrainStep


def check_discriminator_output(discriminator):
    """Raises `ValueError` unless `discriminator` gives one score per image: `(batch, 1)` or `(batch,)`.

    A discriminator with more outputs per image (e.g. `(batch, 2)` logits of a classifier) would
    train silently on the mean of its outputs. Only networks with symbolic outputs (functional or
    Sequential models, those of `td.networks`) are checked; a subclassed one has no static shape.
    """
    try:
        outputs = discriminator.outputs
    except (AttributeError, ValueError):  # a subclassed model has no symbolic outputs
        outputs = None
    if not outputs:
        return
    shapes = [tuple(output.shape) for output in outputs]
    if len(shapes) != 1 or shapes[0][1:] not in ((), (1,)):
        shown = shapes[0] if len(shapes) == 1 else shapes
        raise ValueError(
            f"The discriminator {discriminator.name!r} outputs shape {shown}; td.GAN needs one "
            "real/fake score per image: one output of shape (batch, 1) or (batch,)."
        )


@keras.saving.register_keras_serializable(package="tf_diffaug")
class GAN(_train_step_mixin(keras.backend.backend()), keras.Model):
    """A GAN trained with `fit()`: discriminator update(s), then a generator update, then the EMA.

    One training step receives `d_steps * batch` real images (and labels `y` when `num_classes`
    is set): batch the dataset at `d_steps x batch_size`. `batch_size` keeps meaning the batch of
    one update (the reals and latents of each D update, and the G update's latents unless
    `g_batch_size` is set).

    1. for `i` in `range(d_steps)`: the update's reals are the slice `x_i = x[i::d_steps]` (its own
       `batch` images, as BigGAN-PyTorch's `torch.split(x, batch_size)[i]` in
       `DiffAugment-biggan-cifar/train_fns.py`; strided so that the slices do not depend on the
       replica count, see `td.gan.train_step`); draw `batch` latents `z ~ N(0, I)` (and uniform
       fake labels), `fake = G(z)`; minimize `L_D(D(T(x_i)), D(T(fake)))` + `r1_gamma / 2 * R1` +
       `cr_weight * (D(T(x_i)) - D(x_i))^2` + `lecam_weight * LeCam` over D's weights. `T` is
       drawn independently at every call. LeCam follows the authors' code: the anchors take this
       update's mean logits first, the term is added from step `lecam_start_step + 1` on (see
       `td.gan.regularizers.LeCamRegularizer`).
    2. draw `g_batch_size` (default: `batch`) new latents; minimize `L_G(D(T(G(z))))` over G's
       weights; gradients flow through `T`.
    3. update the EMA generator and, every `ada_interval` steps, the adaptive probability `p`
       (ADA counts the `d_steps * batch` real images the step consumed).

    With `d_steps > 1`, an element whose size is not a multiple of `d_steps` is an error (a
    ValueError at trace time when the size is static, a `tf.debugging` assertion otherwise).

    `augment_mode` says where `T` is applied: `"both"` (DiffAugment: reals and fakes, both steps),
    `"real_only"` (reals only - the paper's failure mode that leaks `T` into the samples),
    `"d_only"` (reals and fakes in the D step only - G then fools an un-augmented D), `"none"`.

    Distribution: build and compile the GAN inside `strategy.scope()`. Each replica draws its own
    `z` and augmentation: latents, and the parameters of augment layers with the Keras
    preprocessing split (`get_random_transformation` / `transform_images`, as `td.DiffAugment`
    and `td.augment.AdaptiveAugment`), are drawn for the whole global batch from the shared seed
    and each replica uses its own slice, so a step on N replicas equals the single-device step on
    the global batch (tested to rtol 1e-5). Per-replica loss sums are divided by the global
    per-update batch `num_replicas_in_sync * local_batch`, where a replica's element holds
    `d_steps * local_batch` reals (local batches must be equal: `drop_remainder=True`); a
    `g_batch_size` is global and split evenly over the replicas.
    Logged values are global per-example means whatever the replica count; under
    `MultiWorkerMirroredStrategy` they are rank-1 (shape `[1]`), as Keras requires.

    Mixed precision: under `mixed_float16` both optimizers are wrapped in a
    `LossScaleOptimizer` and losses go through `optimizer.scale_loss`; `mixed_bfloat16` needs no
    scaling. Logits are cast to float32 before every loss.

    Backends: on TensorFlow the step is `td.gan.train_step`; on JAX it is Keras' stateless
    `train_step(state, data)` of `td.gan.train_step_jax`, the same math (`td.gan.train_step_base`)
    with every variable threaded as state (`keras.distribution.DataParallel` instead of
    `tf.distribute`). AdvAug and `mixed_float16` loss scaling train on TensorFlow only (an error
    at `compile` on JAX); torch is refused at construction.

    The step's parts own their state and rule: `compile` builds `r1`, `consistency`, `lecam`
    (`td.gan.regularizers`, LeCam with its anchors) and `ada` (`td.gan.adaptive.ADAController`
    with its accumulators, or None); `feature_perturbation` (`td.gan.perturbation`) follows
    `advaug_gamma`. All state (networks, EMA copy, optimizers, `p`, anchors, accumulators, random
    states, step counter) is tracked, so `BackupAndRestore` and `save_weights` / `load_weights`
    restore training exactly (into a GAN compiled with the same LeCam / ADA settings).

    Args:
        generator: a built Keras model mapping `z` `[B, latent_dim]` (and int labels `[B]` when
            `num_classes` is set: inputs `[z, labels]`) to images `[B, H, W, C]` in [-1, 1].
        discriminator: a built Keras model mapping images (and labels when conditional) to
            logits `[B, 1]` or `[B]`.
        latent_dim: size of `z`.
        augment: any Keras layer applied as `augment(images, training=True)`, e.g.
            `td.DiffAugment(...)` or `td.augment.AdaptiveAugment(...)`; `None` for no augmentation.
        augment_mode: `"both"`, `"real_only"`, `"d_only"` or `"none"` (see above).
        num_classes: number of classes for a class-conditional GAN, or `None`.
        ema_decay: decay of the EMA generator in [0, 1] (0.999 in BigGAN/SNGAN setups).
        ema_start_step: steps before which the EMA copy just follows G.
        seed: int seed of the latent/label sampling, or `None`.
        advaug_gamma: AdvAug step size (Chen et al., NeurIPS 2021, arXiv:2103.00397; 0.01 in their
            commands), 0 to disable (the plain step, bit for bit). D's features at
            `advaug_d_layer` and G's at `advaug_g_layer` get `f + gamma * sign(grad_f mean D
            logit)` - the sign convention of the authors' code, see `td.gan.advaug` - and each
            network's loss is the mean of its clean and perturbed losses; composes with
            `augment`/`augment_mode` (`T` sits between G's tail and D). Logs `d_advaug_loss`/
            `g_advaug_loss` (the perturbed terms; `d_loss`/`g_loss` are the averaged losses).
        advaug_g_layer: G's AdvAug layer. Default `"g_stem"`, the stem output (linear layer and
            reshape, before the first block), where the authors perturb G
            (`SNGAN/functions_adv.py` `train_adv_gd`: `gen_net(gen_z, only_l1=True)`); every
            `td.networks` generator has it. `"g_block1"` (the first block's output) was the
            location before; runs with AdvAug differ from those.
        advaug_d_layer: D's AdvAug layer, default `"d_features"` (the penultimate features, the
            input of the final linear layer, as the authors' `dis_net.l5`).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:
    >>> g = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4 * 4 * 3, activation="tanh"),
    ...                       keras.layers.Reshape((4, 4, 3))])
    >>> d = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    >>> gan = GAN(g, d, latent_dim=8)
    >>> gan.compile(g_optimizer=keras.optimizers.Adam(2e-4), d_optimizer=keras.optimizers.Adam(2e-4), loss="hinge")
    >>> history = gan.fit(np.zeros([8, 4, 4, 3], "float32"), batch_size=4, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['d_loss', 'fake_score', 'g_loss', 'real_score']
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=128,
        augment=None,
        augment_mode="both",
        num_classes=None,
        ema_decay=0.999,
        ema_start_step=0,
        seed=None,
        advaug_gamma=0.0,
        advaug_g_layer="g_stem",
        advaug_d_layer="d_features",
        **kwargs,
    ):
        check_backend()
        super().__init__(**kwargs)
        for role, network in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(network, keras.Model) or not network.built:
                raise ValueError(f"{role} must be a built keras.Model. Received {role}={network!r}.")
        check_discriminator_output(discriminator)
        if augment_mode not in AUGMENT_MODES:
            raise ValueError(f"Unknown augment_mode {augment_mode!r}. Expected one of {list(AUGMENT_MODES)}.")
        if augment is not None and not isinstance(augment, keras.layers.Layer):
            raise ValueError(f"augment must be a keras Layer or None. Received augment={augment!r}.")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int. Received latent_dim={latent_dim!r}.")
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"num_classes must be a positive int or None. Received num_classes={num_classes!r}.")
        if not 0.0 <= float(ema_decay) <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1]. Received ema_decay={ema_decay!r}.")
        if int(ema_start_step) < 0:
            raise ValueError(f"ema_start_step must be >= 0. Received ema_start_step={ema_start_step!r}.")
        if isinstance(advaug_gamma, bool) or not isinstance(advaug_gamma, (int, float, np.number)) or advaug_gamma < 0:
            raise ValueError(f"advaug_gamma must be a number >= 0. Received advaug_gamma={advaug_gamma!r}.")
        for name, value in (("advaug_g_layer", advaug_g_layer), ("advaug_d_layer", advaug_d_layer)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a layer name (a non-empty str). Received {name}={value!r}.")
        g_inputs = getattr(generator, "inputs", None) or []
        if g_inputs and g_inputs[0].shape[-1] not in (None, latent_dim):
            raise ValueError(
                f"latent_dim={latent_dim} does not match the generator's z input of shape {tuple(g_inputs[0].shape)}."
            )
        expected_inputs = 1 if num_classes is None else 2
        if g_inputs and len(g_inputs) != expected_inputs:
            raise ValueError(
                f"With num_classes={num_classes} the generator must take {expected_inputs} input(s) "
                f"({'[z, labels]' if num_classes else 'z'}); it takes {len(g_inputs)}."
            )

        self.generator = generator
        self.discriminator = discriminator
        self.augment = augment
        self.latent_dim = latent_dim
        self.augment_mode = augment_mode
        self.num_classes = num_classes
        self.ema_decay = float(ema_decay)
        self.ema_start_step = int(ema_start_step)
        self.seed = seed
        self.advaug_gamma = float(advaug_gamma)
        self.advaug_g_layer, self.advaug_d_layer = advaug_g_layer, advaug_d_layer
        # A plain object (not tracked by Keras); AdvAug's head/tail views share G's and D's layers.
        self.feature_perturbation = perturbation.for_gamma(
            generator, discriminator, self.advaug_gamma, g_layer=advaug_g_layer, d_layer=advaug_d_layer
        )
        self.ema_generator = ema_lib.clone_generator(generator, name=f"ema_{generator.name}")
        ema_lib.ema_pairs(self.ema_generator, generator)  # checks that the weights pair up
        self.seed_generator = keras.random.SeedGenerator(seed, name="latent_seed_generator")
        self.sample_seed_generator = keras.random.SeedGenerator(
            None if seed is None else seed + 1, name="sample_seed_generator"
        )
        if augment is not None and not augment.built:
            image_shape = (getattr(discriminator, "inputs", None) or generator.outputs)[0].shape
            augment.build(tuple(image_shape))

        self.step_counter = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="step", autocast=False
        )
        self.r1 = self.consistency = self.lecam = self.ada = None  # the step's parts, built by compile()
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "real_score", "fake_score", "r1_penalty", "cr_penalty", "lecam_penalty")
            + ("d_advaug_loss", "g_advaug_loss")
        }
        self._active_trackers = ["d_loss", "g_loss", "real_score", "fake_score"]
        self.built = True

    # ----------------------------------------------------------------------------------------- compile
    def compile(
        self,
        *,
        g_optimizer,
        d_optimizer,
        loss="hinge",
        d_steps=1,
        g_batch_size=None,
        r1_gamma=0.0,
        r1_through_augment=True,
        cr_weight=0.0,
        lecam_weight=0.0,
        lecam_decay=0.9,
        lecam_start_step=0,
        ada_target=None,
        ada_interval=4,
        ada_kimg=500,
        **kwargs,
    ):
        """Configures training, builds the step's parts and both optimizers (so that it works under `tf.distribute`).

        Call it inside `strategy.scope()` when distributing (optimizers, LeCam anchors and ADA
        accumulators are created here); under `mixed_float16` both optimizers are wrapped in a
        `keras.optimizers.LossScaleOptimizer`. Keywords only. Compiling again starts new LeCam
        and ADA state (at 0), as new optimizers start new slots.

        Args:
            g_optimizer: `keras.optimizers.Optimizer` for the generator.
            d_optimizer: another optimizer instance for the discriminator.
            loss: `"hinge"`, `"non_saturating"`, `"wasserstein"`, `"least_squares"` or a
                `td.gan.losses.AdversarialLoss` pair.
            d_steps: discriminator updates per generator update (BigGAN-CIFAR uses 4, Chen et al.'s
                SNGAN 5); each uses its own slice of the step's `d_steps * batch` reals.
            g_batch_size: the G update's (global) batch of latents when it differs from D's, e.g.
                128 with D's 64 in Chen et al.'s SNGAN (`SNGAN/cfg.py` `--gen_batch_size 128`,
                `--dis_batch_size 64`); None: the D update's batch. It must be divisible by the
                number of replicas. The EMA update is unchanged.
            r1_gamma: R1 weight gamma (penalty `gamma / 2 * ||grad||^2`); 0 disables it.
            r1_through_augment: True takes the gradient w.r.t. the un-augmented reals through `T`,
                `grad_x D(T(x))`; False w.r.t. the augmented reals `y = T(x)`, `grad_y D(y)`.
            cr_weight: consistency-regularization weight (10 in the DiffAugment paper's
                comparison); needs an augmentation applied to reals.
            lecam_weight: LeCam weight (Tseng et al. tune it per architecture and data size; 0.3 in
                google/lecam-gan's BigGAN-CIFAR scripts, `--LC 0.3`); 0 disables.
            lecam_decay: decay of the LeCam anchors' moving averages (0.9: google/lecam-gan
                `third_party/utils.py` `ema_losses(decay=0.9)`).
            lecam_start_step: the authors' `start_itr` (1000 in `biggan_cifar/train.py` l.28):
                before it the anchors copy each update's mean logits, from it on they are moving
                averages; the LeCam term is added at steps > `lecam_start_step` (0-based, the
                official `itr > start_itr`), so 0 starts it at the second step.
            ada_target: target of `r_t = E[sign(D(T(real)))]` for adaptive augmentation (0.6 in
                ADA), or None. Needs an augment layer with a weight `p`.
            ada_interval: steps between two adjustments of `p` (ADA uses 4).
            ada_kimg: thousands of real images for `p` to go from 0 to 1 (ADA uses 500).
            **kwargs: passed to `keras.Model.compile` (`run_eagerly`, `jit_compile`,
                `steps_per_execution`).

        Example:
        >>> gan.compile(g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.99),  # doctest: +SKIP
        ...             d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.99),
        ...             loss="non_saturating", r1_gamma=10.0, ada_target=0.6)
        """
        for name in ("optimizer", "loss_weights", "metrics", "weighted_metrics"):
            if name in kwargs:
                raise ValueError(f"GAN.compile does not accept {name}=; it takes g_optimizer/d_optimizer and loss.")
        for name, value in (("g_optimizer", g_optimizer), ("d_optimizer", d_optimizer)):
            if not isinstance(value, keras.optimizers.Optimizer):
                raise ValueError(f"{name} must be a keras.optimizers.Optimizer instance. Received {name}={value!r}.")
        if g_optimizer is d_optimizer:
            raise ValueError("g_optimizer and d_optimizer must be two different optimizer instances.")
        adversarial = losses_lib.get(loss)
        if isinstance(d_steps, bool) or not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"d_steps must be an int >= 1. Received d_steps={d_steps!r}.")
        if g_batch_size is not None and (
            isinstance(g_batch_size, bool) or not isinstance(g_batch_size, int) or g_batch_size < 1
        ):
            raise ValueError(
                f"g_batch_size must be an int >= 1 or None (the D batch). Received g_batch_size={g_batch_size!r}."
            )
        r1 = regularizers.R1Regularizer(r1_gamma, through_augment=r1_through_augment)
        consistency = regularizers.ConsistencyRegularizer(cr_weight)
        augments_reals = self.augment is not None and AUGMENT_MODES[self.augment_mode][0]
        if consistency.enabled and not augments_reals:
            raise ValueError(
                f"cr_weight={cr_weight} needs an augmentation of the reals, but augment={self.augment!r} "
                f"and augment_mode={self.augment_mode!r}."
            )
        # The stateful parts own their variables; the model tracks them as its own (saved, restored, rewound).
        with keras.name_scope(self.name):
            lecam = regularizers.LeCamRegularizer(lecam_weight, decay=lecam_decay, start_step=lecam_start_step)
            ada = None
            if ada_target is not None:  # checks target, interval, kimg and the layer's `p`
                ada = adaptive.ADAController(self.augment, target=ada_target, interval=ada_interval, kimg=ada_kimg)
        if ada is not None and not augments_reals:
            raise ValueError(
                f"ada_target needs an augment_mode that augments reals. Received augment_mode={self.augment_mode!r}."
            )

        super().compile(optimizer=None, **kwargs)
        if self.dtype_policy.name == "mixed_float16":
            wrap = keras.optimizers.LossScaleOptimizer
            g_optimizer = g_optimizer if isinstance(g_optimizer, wrap) else wrap(g_optimizer)
            d_optimizer = d_optimizer if isinstance(d_optimizer, wrap) else wrap(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self._bind_optimizers(g_optimizer, d_optimizer)  # JAX: refuses what it lacks, sets `self.optimizer`
        if not g_optimizer.built:
            g_optimizer.build(self.generator.trainable_variables)
        if not d_optimizer.built:
            d_optimizer.build(self.discriminator.trainable_variables)
        self.adversarial_loss = adversarial
        self.d_steps = d_steps
        self.g_batch_size = g_batch_size
        for part in (self.lecam, self.ada):  # a previous compile's state
            for variable in getattr(part, "variables", []):
                self._untrack_variable(variable)
        self.r1, self.consistency, self.lecam, self.ada = r1, consistency, lecam, ada
        for part in (lecam, ada):
            for variable in getattr(part, "variables", []):
                self._track_variable(variable)
        self._active_trackers = ["d_loss", "g_loss", "real_score", "fake_score"]
        self._active_trackers += list(self.feature_perturbation.log_names)
        self._active_trackers += [part.name for part in (r1, consistency, lecam) if part.enabled]
        self._gan_compile_config = {
            "g_optimizer": keras.saving.serialize_keras_object(g_optimizer),
            "d_optimizer": keras.saving.serialize_keras_object(d_optimizer),
            "loss": loss if isinstance(loss, str) else None,
            "d_steps": d_steps,
            "g_batch_size": g_batch_size,
            "r1_gamma": r1.gamma,
            "r1_through_augment": r1.through_augment,
            "cr_weight": consistency.weight,
            "lecam_weight": lecam.weight,
            "lecam_decay": lecam.decay,
            "lecam_start_step": lecam.start_step,
            "ada_target": None if ada is None else ada.target,
            "ada_interval": int(ada_interval) if ada is None else ada.interval,
            "ada_kimg": float(ada_kimg) if ada is None else ada.kimg,
        }

    def get_compile_config(self):
        return getattr(self, "_gan_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        for name in ("g_optimizer", "d_optimizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        if config.get("loss") is None:
            config["loss"] = "hinge"
        self.compile(**config)

    @property
    def metrics(self):
        """The loss trackers reset by `fit()` at each epoch (those active after `compile`)."""
        return [self.trackers[name] for name in self._active_trackers]

    # Read-only views (once plain attributes) of compile's settings and the parts' state (None when off).
    r1_gamma, r1_through_augment, cr_weight, lecam_weight, lecam_decay, lecam_start_step = (
        _compile_setting(name)
        for name in ("r1_gamma", "r1_through_augment", "cr_weight", "lecam_weight", "lecam_decay", "lecam_start_step")
    )
    ada_target, ada_interval, ada_kimg = (_compile_setting(name) for name in ("ada_target", "ada_interval", "ada_kimg"))
    lecam_anchor_real = property(lambda self: self.lecam.anchor_real, doc="LeCam's `a_R` (`gan.lecam.anchor_real`).")
    lecam_anchor_fake = property(lambda self: self.lecam.anchor_fake, doc="LeCam's `a_F` (`gan.lecam.anchor_fake`).")
    ada_sign_sum = property(lambda self: None if self.ada is None else self.ada.sign_sum, doc="`gan.ada.sign_sum`.")
    ada_count = property(lambda self: None if self.ada is None else self.ada.count, doc="`gan.ada.count`.")

    # ---------------------------------------------------------------------------------- inference
    def call(self, inputs, training=False):
        """Runs the (non-EMA) generator: `inputs` is `z` or `[z, labels]`."""
        return self.generator(inputs, training=training)

    def generate(self, n, labels=None, use_ema=True, seed=None, batch_size=64, training=False):
        """Samples `n` images as a NumPy float32 array `[n, H, W, C]` in [-1, 1].

        Args:
            n: number of images.
            labels: int class labels `[n]` when `num_classes` is set; `None` cycles through the
                classes (`arange(n) % num_classes`).
            use_ema: sample from the EMA generator (default) or from the trained generator.
            seed: int seed of `z` (same seed, same images), or `None` to draw from the model's own
                sampling seed generator.
            batch_size: generator batch size (with `training=True` also the batch of the
                batch-norm statistics).
            training: run the generator in training mode: batch-norm layers normalize with the
                statistics of each batch of `batch_size` samples, as the official BigGAN-CIFAR
                code samples its EMA generator (DiffAugment-biggan-cifar `train.py` puts `G_ema`
                in `train()` mode every iteration and samples it so; `G_eval_mode` is off by
                default). Everything else that reads `training` follows too (StyleGAN2 style
                mixing and random noise, spectral-norm power iterations). The network's
                variables are restored after every batch (moving statistics, spectral-norm
                vectors and the kernels Keras' `SpectralNormalization` rewrites in training
                mode; not the random-number states), so sampling leaves training untouched. The
                frozen EMA copy (`trainable=False`, under which Keras' batch norm always reads its
                moving statistics) is unfrozen for the call. False (default): inference mode.

        Returns:
            `np.ndarray` float32 `[n, H, W, C]`.
        """
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int. Received n={n!r}.")
        if not isinstance(training, (bool, np.bool_)):
            raise ValueError(f"training must be True or False. Received training={training!r}.")
        network = self.ema_generator if use_ema else self.generator
        z = keras.random.normal((int(n), self.latent_dim), seed=self.sample_seed_generator if seed is None else seed)
        if self.num_classes is not None:
            labels = np.arange(n) % self.num_classes if labels is None else np.asarray(labels)
            if labels.shape != (n,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
                raise ValueError(
                    f"labels must be ints of shape ({n},) in [0, {self.num_classes}). Received shape {labels.shape}."
                )
            labels = labels.astype("int32")
        elif labels is not None:
            raise ValueError("labels were given but the GAN is unconditional (num_classes=None).")
        state, frozen = [], []
        if training:  # every variable but the random-number states (each batch draws anew)
            random = {id(v) for v in saved_state.random_states(network)}
            state = [(v, keras.ops.convert_to_numpy(v)) for v in network.variables if id(v) not in random]
            # Keras' batch norm uses batch statistics only when trainable: unfreeze each layer for the call.
            frozen = [layer for layer in network._flatten_layers(include_self=True) if not layer.trainable]
            for layer in frozen:
                layer.trainable = True
        chunks = []
        try:
            for start in range(0, int(n), batch_size):
                z_chunk = z[start : start + batch_size]
                inputs = (
                    z_chunk
                    if labels is None
                    else [z_chunk, keras.ops.convert_to_tensor(labels[start : start + batch_size])]
                )
                images = network(inputs, training=bool(training))
                chunks.append(keras.ops.convert_to_numpy(keras.ops.cast(images, "float32")))
                for variable, value in state:
                    variable.assign(value)
        finally:
            for layer in frozen:
                layer.trainable = False
        if not chunks:
            return np.zeros((0,) + tuple(network.outputs[0].shape[1:]), np.float32)
        return np.concatenate(chunks, axis=0)

    # ------------------------------------------------------------------------------ serialization
    def save_own_variables(self, store):
        """Saves the model's own state variables by name and every seed generator's state (`saved_state`)."""
        saved_state.save(self, store)

    def load_own_variables(self, store):
        """Loads what `save_own_variables` wrote, or the positional entries of older files (`saved_state`)."""
        saved_state.load(self, store)

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "augment": None if self.augment is None else keras.saving.serialize_keras_object(self.augment),
            "latent_dim": self.latent_dim,
            "augment_mode": self.augment_mode,
            "num_classes": self.num_classes,
            "ema_decay": self.ema_decay,
            "ema_start_step": self.ema_start_step,
            "seed": self.seed,
            "advaug_gamma": self.advaug_gamma,
            "advaug_g_layer": self.advaug_g_layer,
            "advaug_d_layer": self.advaug_d_layer,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("generator", "discriminator", "augment"):
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


__all__ = ["AUGMENT_MODES", "GAN"]
