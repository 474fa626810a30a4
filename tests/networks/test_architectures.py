"""Every architecture at every supported resolution: shapes, ranges, gradients, labels, .keras round trip.

Widths are reduced through overrides (dcgan width 8, sngan 32/16, biggan ch 8, stylegan2
fmap_base 512 / fmap_max 32 / w_dim 32) so the whole grid builds in seconds on CPU; the
structure (blocks, layers, resolutions) is the same as at full width, which test_param_counts.py
checks at the papers' widths.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tf_diffaug.networks import ConditionalBatchNorm, NoiseInjection, SelfAttention

SMALL = {
    "dcgan": {"width": 8},
    "sngan": {"g_width": 32, "d_width": 16},
    "biggan": {"ch": 8},
    "stylegan2": {"fmap_base": 512, "fmap_max": 32, "w_dim": 32, "mapping_layers": 2},
}
GRID = [
    ("dcgan", 32),
    ("dcgan", 64),
    ("dcgan", 128),
    ("sngan", 32),
    ("sngan", 64),
    ("biggan", 32),
    ("biggan", 64),
    ("biggan", 128),
    ("stylegan2", 32),
    ("stylegan2", 64),
    ("stylegan2", 128),
    ("stylegan2", 256),
]


@functools.cache
def build(name, resolution, channels=3, num_classes=None, **extra):
    return td.networks.get(
        name, resolution=resolution, channels=channels, num_classes=num_classes, **{**SMALL[name], **extra}
    )


def latents(batch, dim=128, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype("float32")


def activate_identity_at_init_layers(model, value=0.3):
    """Attention gamma and noise strength start at 0 (identity); give them a value so they matter."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, SelfAttention):
            layer.gamma.assign(value)
        if isinstance(layer, NoiseInjection):
            layer.strength.assign(value)


@pytest.mark.parametrize("name,resolution", GRID)
def test_builds_with_shapes_and_ranges(name, resolution):
    generator, discriminator = build(name, resolution)
    images = generator(latents(2) * 3.0, training=False)
    assert tuple(images.shape) == (2, resolution, resolution, 3)
    values = keras.ops.convert_to_numpy(images)
    assert np.all(np.abs(values) <= 1.0) and values.std() > 0
    logits = discriminator(images, training=False)
    assert tuple(logits.shape) == (2, 1)
    features = keras.Model(discriminator.inputs, discriminator.get_layer("d_features").output)(images)
    assert len(features.shape) == 2 and features.shape[0] == 2
    block1 = generator.get_layer("g_block1").output
    assert len(block1.shape) == 4 and block1.shape[1] in (4, 8)


@pytest.mark.parametrize("name", ["dcgan", "sngan", "biggan", "stylegan2"])
def test_grayscale_channels(name):
    generator, discriminator = build(name, 32, channels=1)
    images = generator(latents(2))
    assert tuple(images.shape) == (2, 32, 32, 1)
    assert tuple(discriminator(images).shape) == (2, 1)


CONFIGS = [
    ("dcgan", 32, None, {}),
    ("dcgan", 32, 3, {}),
    ("sngan", 32, None, {}),
    ("sngan", 32, 3, {}),
    ("biggan", 32, 3, {"attention_resolution": 16}),
    ("biggan", 32, 3, {"shared_dim": 0, "hierarchical": False}),
    ("biggan", 32, None, {}),
    ("stylegan2", 32, None, {}),
    ("stylegan2", 32, 3, {"style_mixing_probability": 0.0}),
]


def call_pair(generator, discriminator, num_classes, z, labels, real, training):
    z, labels, real = tf.constant(z), tf.constant(labels, dtype="int32"), tf.constant(real)
    fake = generator([z, labels] if num_classes else z, training=training)
    d_real = discriminator([real, labels] if num_classes else real, training=training)
    d_fake = discriminator([fake, labels] if num_classes else fake, training=training)
    return fake, d_real, d_fake


@pytest.mark.parametrize("name,resolution,num_classes,extra", CONFIGS)
def test_gradients_reach_every_trainable_weight(name, resolution, num_classes, extra):
    generator, discriminator = build(name, resolution, num_classes=num_classes, **extra)
    activate_identity_at_init_layers(generator)
    activate_identity_at_init_layers(discriminator)
    batch = 8
    z = tf.constant(latents(batch))
    labels = tf.constant(np.arange(batch) % 3, dtype="int32")
    real = tf.random.stateless_uniform((batch, resolution, resolution, 3), seed=(1, 2), minval=-1, maxval=1)
    variables = generator.trainable_weights + discriminator.trainable_weights
    with tf.GradientTape() as tape:
        _, d_real, d_fake = call_pair(generator, discriminator, num_classes, z, labels, real, True)
        loss = (
            tf.reduce_mean(tf.nn.relu(1.0 - d_real))
            + tf.reduce_mean(tf.nn.relu(1.0 + d_fake))
            + tf.reduce_mean(d_fake**2)
        )
    grads = tape.gradient(loss, variables)
    missing = [v.path for v, g in zip(variables, grads) if g is None]
    assert not missing, f"no gradient for {missing}"
    for variable, grad in zip(variables, grads):
        grad = keras.ops.convert_to_numpy(tf.convert_to_tensor(grad))
        assert np.all(np.isfinite(grad)), variable.path
        assert np.any(grad != 0), f"zero gradient for {variable.path}"


@pytest.mark.parametrize("name,resolution,num_classes,extra", [c for c in CONFIGS if c[2]])
def test_conditional_networks_respond_to_labels(name, resolution, num_classes, extra):
    generator, discriminator = build(name, resolution, num_classes=num_classes, **extra)
    # SNGAN's per-class BN tables start at gamma 1 / beta 0 for every class (as in the reference), so
    # labels matter only once trained: give the tables distinct values as training would.
    rng = np.random.default_rng(7)
    for layer in generator._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, ConditionalBatchNorm) and layer.num_classes:
            for table in (layer.gain.embeddings, layer.bias.embeddings):
                if not np.any(table.numpy()):
                    table.assign(rng.normal(0, 0.5, table.shape).astype("float32"))
    z = latents(4)
    a, b = np.array([0, 1, 2, 0], "int32"), np.array([1, 2, 0, 2], "int32")
    out_a = keras.ops.convert_to_numpy(generator([z, a]))
    out_b = keras.ops.convert_to_numpy(generator([z, b]))
    assert np.abs(out_a - out_b).max() > 1e-2 * np.abs(out_a).max()  # relative: untrained outputs can be tiny
    np.testing.assert_allclose(keras.ops.convert_to_numpy(generator([z, a])), out_a, rtol=1e-6)
    d_a = keras.ops.convert_to_numpy(discriminator([out_a, a]))
    d_b = keras.ops.convert_to_numpy(discriminator([out_a, b]))
    assert np.abs(d_a - d_b).max() > 1e-3 * np.abs(d_a).max()


@pytest.mark.parametrize(
    "name,resolution,num_classes,extra",
    [
        ("dcgan", 32, 3, {}),
        ("sngan", 32, None, {}),
        ("biggan", 32, 3, {"attention_resolution": 16}),
        ("biggan", 32, 3, {"shared_dim": 0, "hierarchical": False}),
        ("stylegan2", 32, 3, {}),
    ],
)
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, name, resolution, num_classes, extra):
    generator, discriminator = td.networks.get(name, resolution, num_classes=num_classes, **{**SMALL[name], **extra})
    activate_identity_at_init_layers(generator)
    activate_identity_at_init_layers(discriminator)
    z = latents(4, seed=3)
    labels = np.array([0, 1, 2, 1], "int32")
    real = np.random.default_rng(4).uniform(-1, 1, (4, resolution, resolution, 3)).astype("float32")
    # Training-mode calls move the BN statistics and the spectral-norm state away from their init.
    call_pair(generator, discriminator, num_classes, z, labels, real, True)
    expected = [
        keras.ops.convert_to_numpy(t) for t in call_pair(generator, discriminator, num_classes, z, labels, real, False)
    ]
    for model in (generator, discriminator):
        model.save(tmp_path / f"{model.name}.keras")
    g2 = keras.saving.load_model(tmp_path / f"{generator.name}.keras")
    d2 = keras.saving.load_model(tmp_path / f"{discriminator.name}.keras")
    got = [keras.ops.convert_to_numpy(t) for t in call_pair(g2, d2, num_classes, z, labels, real, False)]
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    assert g2.count_params() == generator.count_params()


def test_stylegan2_style_mixing_changes_training_outputs_only():
    generator, _ = build("stylegan2", 32, style_mixing_probability=1.0, inference_noise="none")
    z = latents(4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(generator(z)), keras.ops.convert_to_numpy(generator(z)))
    # No noise at inference; in training the noise strengths are 0 so only style mixing can differ.
    trained = keras.ops.convert_to_numpy(generator(z, training=True))
    assert np.abs(trained - keras.ops.convert_to_numpy(generator(z))).max() > 1e-4


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: td.networks.get("vgan"),
            "Unknown network 'vgan'. Expected one of ['biggan', 'dcgan', 'sngan', 'stylegan2']",
        ),
        (
            lambda: td.networks.get("sngan", resolution=128),
            "Unsupported resolution 128 for network 'sngan'. Expected one of [32, 64]",
        ),
        (
            lambda: td.networks.get("stylegan2", resolution=48),
            "Unsupported resolution 48 for network 'stylegan2'. Expected one of [32, 64, 128, 256]",
        ),
        (
            lambda: td.networks.get("dcgan", channels=4),
            "Unsupported channels 4 for network 'dcgan'. Expected one of [1, 3]",
        ),
        (lambda: td.networks.get("dcgan", widht=8), "Unknown option(s) ['widht'] for network 'dcgan'"),
        (lambda: td.networks.get("biggan", attention_resolution=4), "Unsupported attention_resolution 4"),
        (lambda: td.networks.get("biggan", num_classes=0), "num_classes must be a positive int or None"),
        (lambda: td.networks.get("biggan", num_classes=10, shared_dim=0), "hierarchical=True with num_classes needs"),
    ],
)
def test_bad_arguments_raise_one_clear_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_spectral_norm_bounds_every_wrapped_layer_of_a_discriminator():
    _, discriminator = td.networks.get("biggan", 32, num_classes=3, ch=8, attention_resolution=16)
    wrapped = [
        layer
        for layer in discriminator._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert len(wrapped) >= 12  # 4 blocks x 2-3 convs, attention (4), linear, projection
    for layer in wrapped:  # start far from sigma = 1
        layer.kernel.assign(4.0 * layer.kernel.numpy())
    images = tf.random.stateless_uniform((4, 32, 32, 3), seed=(3, 4), minval=-1, maxval=1)
    labels = tf.constant([0, 1, 2, 0], dtype="int32")
    train_call = tf.function(lambda: discriminator([images, labels], training=True))
    for _ in range(30):  # one power iteration per training call
        train_call()
    for layer in wrapped:
        kernel = layer.kernel.numpy()
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert 0.99 < sigma < 1.1, (layer.name, sigma)


@pytest.mark.parametrize("name,num_classes", [("dcgan", 3), ("sngan", None), ("biggan", 3), ("stylegan2", 3)])
def test_clone_model_with_copied_weights_is_identical(name, num_classes):
    # td.GAN's EMA generator is keras.models.clone_model(G) + set_weights(G.get_weights()).
    generator, _ = build(name, 32, num_classes=num_classes)
    activate_identity_at_init_layers(generator)
    clone = keras.models.clone_model(generator)
    clone.set_weights(generator.get_weights())
    inputs = (
        [tf.constant(latents(3)), tf.constant([0, 1, 2], dtype="int32")] if num_classes else tf.constant(latents(3))
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(clone(inputs)), keras.ops.convert_to_numpy(generator(inputs))
    )
    assert [v.path.split("/")[-1] for v in clone.weights] == [v.path.split("/")[-1] for v in generator.weights]


def _stem_numpy(name, generator, z, labels):
    """The stem output from the weights: the linear layer reshaped to 4x4 (the constant in StyleGAN2)."""
    if name == "stylegan2":
        const = generator.get_layer("const").const.numpy()
        return np.broadcast_to(const[None], (len(z),) + const.shape)
    if name == "dcgan":
        h = z
        if labels is not None:
            h = np.concatenate([z, generator.get_layer("label_embedding").embeddings.numpy()[labels]], axis=1)
        flat = h @ generator.get_layer("project").kernel.numpy()
    else:
        linear = generator.get_layer("sn_linear").layer if name == "biggan" else generator.get_layer("linear")
        h = z[:, : linear.kernel.shape[0]]  # BigGAN's hierarchical latent: the first chunk feeds the linear layer
        flat = h @ linear.kernel.numpy() + linear.bias.numpy()
    return flat.reshape(len(z), 4, 4, -1)


@pytest.mark.parametrize(
    "name, num_classes", [("dcgan", None), ("dcgan", 3), ("sngan", None), ("biggan", 3), ("stylegan2", None)]
)
def test_g_stem_is_the_stem_output_and_the_advaug_split_reproduces_the_generator(name, num_classes):
    # Chen et al.'s AdvAug perturbs G at l1(z).view(...) (SNGAN/functions_adv.py, only_l1=True).
    from tf_diffaug.gan.advaug import bind_tail, split_model

    generator, discriminator = build(name, 32, num_classes=num_classes)
    z = latents(3, seed=4)
    labels = None if num_classes is None else np.array([0, 2, 1], "int32")
    inputs = z if labels is None else [z, labels]
    head, tail = split_model(generator, "g_stem")
    stem = keras.ops.convert_to_numpy(head(inputs))
    np.testing.assert_allclose(stem, _stem_numpy(name, generator, z, labels), rtol=1e-5, atol=1e-5)
    images = bind_tail(generator, tail, inputs)(stem)
    np.testing.assert_allclose(images, generator(inputs), rtol=1e-5, atol=1e-5)
    block1 = generator.get_layer("g_block1").output
    assert generator.get_layer("g_stem").output is not block1  # a different layer from the first block's output
    gan = td.GAN(generator, discriminator, latent_dim=128, num_classes=num_classes, advaug_gamma=0.01)
    assert gan.feature_perturbation.advaug.g_head.layers[-1].name == "g_stem"
