"""AdvAug feature perturbation: checked against NumPy and an explicit GradientTape."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import lottery_toy_gan
from tf_diffaug.lottery import FeatureAdvAug, advaug_loss, adversarial_features, bind_tail, mean_logit, split_model

GAMMA = 0.01


def _head(seed=0, features=5, hidden=4):
    keras.utils.set_random_seed(seed)
    f = keras.Input((features,))
    h = keras.layers.Dense(hidden, activation="relu", name="hidden")(f)
    return keras.Model(f, keras.layers.Dense(1, name="logit")(h))


def _numpy_grad_mean_logit(head, f):
    """d mean(W2^T relu(W1^T f + b1) + b2) / d f, by hand."""
    w1, b1, w2, _ = head.get_weights()
    pre = f @ w1 + b1
    return ((pre > 0) * w2[:, 0]) @ w1.T / f.shape[0]


def test_perturbation_is_gamma_sign_of_numpy_gradient():
    head = _head()
    f = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    expected_sign = np.sign(_numpy_grad_mean_logit(head, f))
    assert np.all(expected_sign != 0)
    out = adversarial_features(head, tf.constant(f), GAMMA).numpy()
    np.testing.assert_array_equal(out, f + np.float32(GAMMA) * expected_sign.astype("float32"))


def test_generator_tail_through_discriminator_matches_explicit_tape():
    keras.utils.set_random_seed(1)
    g_rest = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh")])
    disc = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    feats = tf.random.normal((5, 3), seed=2)

    def tail(x):
        return disc(g_rest(x))

    with tf.GradientTape() as tape:
        tape.watch(feats)
        objective = tf.reduce_mean(tail(feats))
    grad = tape.gradient(objective, feats)
    out = adversarial_features(tail, feats, GAMMA)
    np.testing.assert_array_equal(out.numpy(), (feats + GAMMA * tf.sign(grad)).numpy())

    # A loss objective (G's hinge loss -mean(D)) gives the opposite step: the convention is selectable.
    flipped = adversarial_features(tail, feats, GAMMA, objective=lambda o: -tf.reduce_mean(o))
    np.testing.assert_array_equal(flipped.numpy(), (feats - GAMMA * tf.sign(grad)).numpy())


def test_gamma_zero_reproduces_clean_loss_exactly():
    head = _head(seed=3)
    f = tf.random.normal((4, 5), seed=4)

    def g_loss(o):
        return -tf.reduce_mean(o)

    clean = g_loss(head(f))
    for gamma in (0, 0.0, tf.constant(0.0)):
        loss, clean_part, _ = advaug_loss(g_loss, head, f, gamma)
        assert loss.numpy() == clean.numpy() and clean_part.numpy() == clean.numpy()
    loss, clean_part, perturbed = advaug_loss(g_loss, head, f, GAMMA)
    assert perturbed.numpy() != clean.numpy()
    np.testing.assert_allclose(loss.numpy(), (clean.numpy() + perturbed.numpy()) / 2, rtol=1e-7)


def test_gradients_treat_the_perturbation_as_a_constant():
    keras.utils.set_random_seed(5)
    body = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, name="body")])
    head = _head(seed=6)
    x = tf.random.normal((4, 3), seed=7)

    def d_loss(o):
        return tf.reduce_mean(tf.nn.relu(1.0 - o))

    with tf.GradientTape() as tape:
        loss, _, _ = advaug_loss(d_loss, head, body(x), GAMMA)
    grads = tape.gradient(loss, body.trainable_variables)

    # Same loss with the step computed beforehand and added as a NumPy constant.
    delta = adversarial_features(head, body(x), GAMMA) - body(x)
    delta = tf.constant(delta.numpy())
    with tf.GradientTape() as tape:
        f = body(x)
        reference = (d_loss(head(f)) + d_loss(head(f + delta))) / 2.0
    expected = tape.gradient(reference, body.trainable_variables)
    np.testing.assert_allclose(loss.numpy(), reference.numpy(), rtol=1e-6)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-7)


def test_split_model_with_labels_reuses_layers_and_matches_full_model():
    x = keras.Input((6,), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    h = keras.layers.Dense(4, activation="relu", name="body")(x)
    f = keras.layers.Identity(name="d_features")(h)
    logit = keras.layers.Dense(1, name="linear")(f)
    embed = keras.layers.Embedding(3, 4, name="embed")(labels)
    projection = keras.layers.Lambda(lambda t: tf.reduce_sum(t[0] * t[1], axis=-1, keepdims=True))([embed, f])
    model = keras.Model([x, labels], keras.layers.Add()([logit, projection]))
    head, tail = split_model(model, "d_features")
    assert [t.name for t in tail.inputs][1:] == ["labels"]
    assert tail.get_layer("linear") is model.get_layer("linear")
    images = tf.random.normal((5, 6), seed=8)
    ids = tf.constant([0, 2, 1, 1, 0])
    np.testing.assert_array_equal(tail([head([images, ids]), ids]).numpy(), model([images, ids]).numpy())

    def tail_fn(feats):
        return tail([feats, ids])

    out = adversarial_features(tail_fn, head([images, ids]), GAMMA)
    assert out.shape == (5, 4)
    with pytest.raises(ValueError, match="no layer named 'g_block1'"):
        split_model(model, "g_block1")


def test_split_single_input_and_xla_compilation():
    head_model = _head(seed=9)
    head, tail = split_model(head_model, "hidden")
    f = tf.random.normal((3, 5), seed=10)
    np.testing.assert_array_equal(tail(head(f)).numpy(), head_model(f).numpy())
    compiled = tf.function(lambda t: adversarial_features(head_model, t, GAMMA, objective=mean_logit), jit_compile=True)
    np.testing.assert_allclose(compiled(f).numpy(), adversarial_features(head_model, f, GAMMA).numpy(), atol=1e-6)


def test_contract_layers_of_a_conditional_network_split_and_perturb():
    import tf_diffaug as td

    keras.utils.set_random_seed(11)
    generator, discriminator = td.networks.get("sngan", resolution=32, channels=3, num_classes=10)
    z = tf.random.normal((2, generator.inputs[0].shape[-1]), seed=12)
    labels = tf.constant([3, 7])
    g_head, g_tail = split_model(generator, "g_block1")
    d_head, d_tail = split_model(discriminator, "d_features")
    images = generator([z, labels])
    g_tail_fn = bind_tail(generator, g_tail, [z, labels])
    d_tail_fn = bind_tail(discriminator, d_tail, [images, labels])
    np.testing.assert_allclose(g_tail_fn(g_head([z, labels])).numpy(), images.numpy(), atol=1e-6)
    features = d_head([images, labels])
    np.testing.assert_allclose(
        d_tail_fn(features).numpy(), discriminator([images, labels]).numpy(), rtol=1e-5, atol=1e-6
    )

    def g_step_tail(f):  # rest of G, then D: what the G-step perturbation attacks
        return discriminator([g_tail_fn(f), labels])

    h = g_head([z, labels])
    with tf.GradientTape() as tape:
        tape.watch(h)
        objective = tf.reduce_mean(g_step_tail(h))
    expected = h + GAMMA * tf.sign(tape.gradient(objective, h))
    np.testing.assert_array_equal(adversarial_features(g_step_tail, h, GAMMA).numpy(), expected.numpy())


def test_feature_advaug_matches_manual_composition():
    generator, discriminator = lottery_toy_gan.make_networks(seed=13)
    advaug = FeatureAdvAug(generator, discriminator, gamma=GAMMA)
    z = tf.random.normal((3, lottery_toy_gan.LATENT), seed=14)
    images = generator(z)

    clean, perturbed = advaug.discriminator_logits(images, training=False)
    np.testing.assert_allclose(clean.numpy(), discriminator(images).numpy(), rtol=1e-6, atol=1e-7)
    features = advaug.d_head(images)
    with tf.GradientTape() as tape:
        tape.watch(features)
        objective = tf.reduce_mean(advaug.d_tail(features))
    manual = advaug.d_tail(features + GAMMA * tf.sign(tape.gradient(objective, features)))
    np.testing.assert_array_equal(perturbed.numpy(), manual.numpy())

    def d_fn(x):
        return discriminator(x, training=False)

    clean_images, adv_images = advaug.generator_images(z, d_fn, training=False)
    np.testing.assert_allclose(clean_images.numpy(), images.numpy(), atol=1e-6)
    h = advaug.g_head(z)
    with tf.GradientTape() as tape:
        tape.watch(h)
        objective = tf.reduce_mean(d_fn(advaug.g_tail(h)))
    manual_images = advaug.g_tail(h + GAMMA * tf.sign(tape.gradient(objective, h)))
    np.testing.assert_array_equal(adv_images.numpy(), manual_images.numpy())
    assert float(tf.reduce_mean(d_fn(adv_images))) > float(tf.reduce_mean(d_fn(clean_images)))

    off = FeatureAdvAug(generator, discriminator, gamma=0)
    a, b = off.discriminator_logits(images, training=False)
    assert a is b and np.array_equal(a.numpy(), clean.numpy())
    with pytest.raises(ValueError, match="gamma"):
        FeatureAdvAug(generator, discriminator, gamma=-0.1)


def test_train_step_with_gamma_zero_equals_plain_step_and_gamma_changes_it():
    def train(gamma):
        gan = lottery_toy_gan.make_gan(seed=21, advaug_gamma=gamma)
        gan.fit(lottery_toy_gan.make_dataset(seed=21), steps_per_epoch=3, epochs=1, verbose=0)
        return gan.generator.get_weights() + gan.discriminator.get_weights()

    plain, zero, advaug = train(None), train(0.0), train(0.05)
    for a, b in zip(plain, zero):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, c) for a, c in zip(plain, advaug))
