"""AdvAug: one-step sign-gradient adversarial augmentation of intermediate GAN features.

Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket
Perspective", NeurIPS 2021 (arXiv:2103.00397), perturb an intermediate feature map ``f`` of a
network with one signed-gradient step, ``f_adv = f + gamma * sign(grad_f objective)`` (gamma =
0.01 in the paper's commands, 1 step, no projection, no random start), and train on the average of
the clean loss and the loss at ``f_adv``. D is perturbed at its penultimate features (layer
``"d_features"``, the input of the final linear head), G at its stem output (layer ``"g_stem"``:
the linear layer and reshape before the first block, where ``SNGAN/functions_adv.py``
``train_adv_gd`` (~l.307-321) perturbs ``gen_net(gen_z, only_l1=True)``, i.e. ``l1(z).view(...)`` of
``models/sngan_cifar10.py``), with the rest of G followed by D (and DiffAugment in between) as the
function being attacked. Any other single-output layer can be chosen (``g_layer``), e.g.
``"g_block1"``, the first block's output.

Sign convention (what ``objective`` is ascended). In the authors' public code
(github.com/VITA-Group/Ultra-Data-Efficient-GAN-Training, ``SNGAN/functions_adv.py``: ``PGD``
ascends ``torch.mean(out)`` where ``out`` is D's output logit), the step always *increases the
mean discriminator logit*, for both networks:

- D step: real and fake penultimate features both move toward "more real" under D's head. For
  fakes this raises D's hinge loss (adversarial to D); for reals it lowers it. D's loss is
  ``(L_D(clean) + L_D(perturbed)) / 2``, gradients flowing into D's body through ``f_adv``.
- G step: G's stem features move so that D scores the resulting image higher, which
  lowers G's loss; G's loss is ``(L_G(clean) + L_G(perturbed)) / 2``.

We implement exactly this convention by default (``objective=mean_logit``), since it is the one
that produced the published numbers. ``objective`` can be any function of the tail's output, e.g.
the network's own loss to get the textbook "maximize the loss of the network being trained"
reading of a min-max formulation. The direction is computed on ``stop_gradient(f)`` and the
perturbation itself is a constant: gradients of the perturbed loss reach the weights producing
``f`` (through ``f``) and the tail, never through ``sign``.

``td.GAN(advaug_gamma=...)`` uses ``FeatureAdvAug`` through ``tf_diffaug.gan.perturbation``;
``tf_diffaug.lottery`` re-exports this module's names.
"""

import keras
import tensorflow as tf


def mean_logit(outputs):
    """The objective the official code ascends: the mean of D's output logits."""
    return tf.reduce_mean(tf.cast(outputs, tf.float32))


def _needed_inputs(outputs, stop):
    """Model inputs that ``outputs`` depend on through paths avoiding the tensor ``stop``."""
    found, seen, stack = [], set(), list(outputs)
    while stack:
        tensor = stack.pop()
        if tensor is stop or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        operation, node_index, _ = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        if node.is_input:
            found.append(tensor)
        else:
            stack.extend(node.input_tensors)
    return found


def split_model(model, layer_name):
    """Splits a functional model at a named layer into ``(head, tail)`` sharing its weights.

    ``head`` maps the model's inputs to the layer's output ``f``. ``tail`` maps ``f`` to the
    model's output; when the rest of the network also reads other model inputs (class labels of a
    conditional G or a projection D) ``tail`` takes ``[f, *those inputs]`` in ``model.inputs``
    order. Keras 3 accepts an intermediate tensor as a functional model input (it clones the graph
    nodes), so the tail re-uses the very same layers: ``tail(head(x)) == model(x)``.

    Args:
        model: a functional ``keras.Model`` with one output.
        layer_name: the layer whose output is split at (e.g. ``"d_features"``, ``"g_stem"``).

    Returns:
        ``(head, tail)``, two ``keras.Model``s.

    Example:
        >>> x = keras.Input((4,))
        >>> f = keras.layers.Dense(3, name="d_features")(x)
        >>> model = keras.Model(x, keras.layers.Dense(1)(f))
        >>> head, tail = split_model(model, "d_features")
        >>> tuple(tail.inputs[0].shape)
        (None, 3)
    """
    if not hasattr(model, "inputs") or model.inputs is None or not hasattr(model, "get_layer"):
        raise ValueError(f"split_model needs a functional keras.Model. Received: {type(model).__name__}")
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"Model {model.name!r} has no layer named {layer_name!r}. Layers: {names}.")
    layer = model.get_layer(layer_name)
    features = layer.output
    if isinstance(features, (list, tuple)):
        raise ValueError(f"Layer {layer_name!r} has {len(features)} outputs; split at a single-output layer.")
    head = keras.Model(model.inputs, features, name=f"{model.name}_head")
    extra = _needed_inputs(model.outputs, features)
    extra = [t for t in model.inputs if any(t is e for e in extra)]
    tail_inputs = [features] + extra if extra else features
    tail = keras.Model(tail_inputs, model.outputs, name=f"{model.name}_tail")
    return head, tail


def bind_tail(model, tail, inputs, **call_kwargs):
    """A one-argument ``tail_fn(f)`` for a tail from ``split_model`` that needs other inputs too.

    Picks, from the values ``inputs`` of the full model's inputs (a tensor, or a list in
    ``model.inputs`` order, e.g. ``[z, labels]``), those the tail takes besides the features
    (matched by input name) and returns ``lambda f: tail([f, *those], **call_kwargs)``; for a
    tail of the features alone it returns ``lambda f: tail(f, **call_kwargs)``.

    Args:
        model: the model ``tail`` was split from.
        tail: the second model returned by ``split_model(model, ...)``.
        inputs: the values given to the full model (tensor or list).
        **call_kwargs: passed to every tail call, e.g. ``training=True``.

    Returns:
        A callable ``tail_fn(features)``.

    Example:
        >>> z, labels = keras.Input((4,), name="z"), keras.Input((), dtype="int32", name="labels")
        >>> f = keras.layers.Dense(3, name="g_block1")(z)
        >>> out = keras.layers.Add()([f, keras.layers.Embedding(2, 3)(labels)])
        >>> model = keras.Model([z, labels], out)
        >>> head, tail = split_model(model, "g_block1")
        >>> tail_fn = bind_tail(model, tail, [tf.ones((1, 4)), tf.constant([1])])
        >>> tuple(tail_fn(tf.zeros((1, 3))).shape)
        (1, 3)
    """
    tail_inputs = tail.inputs if isinstance(tail.inputs, (list, tuple)) else [tail.inputs]
    if len(tail_inputs) == 1:
        return lambda features: tail(features, **call_kwargs)
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    names = [t.name for t in model.inputs]
    if len(values) != len(names):
        raise ValueError(f"Model {model.name!r} takes inputs {names}; got {len(values)} values.")
    by_name = dict(zip(names, values))
    extra = [by_name[t.name] for t in tail_inputs[1:]]
    return lambda features: tail([features] + extra, **call_kwargs)


def adversarial_features(tail_fn, features, gamma, objective=mean_logit):
    """One signed-gradient ascent step on intermediate features: ``f + gamma * sign(grad)``.

    ``grad`` is the gradient of ``objective(tail_fn(f))`` with respect to ``f``, taken at
    ``stop_gradient(f)``; the returned tensor is ``features + stop_gradient(gamma * sign(grad))``,
    so a caller's outer ``GradientTape`` differentiates it like ``features`` itself. Positive scale
    factors of the objective (global-batch loss scaling under ``tf.distribute``) do not change the
    step; each sample's step depends only on that sample when the tail has no cross-batch ops.

    Args:
        tail_fn: callable mapping features to the output the objective reads (e.g. D's head, or
            the rest of G followed by augmentation and D).
        features: float tensor, e.g. [B, F] or [B, H, W, C].
        gamma: step size (Python float or scalar tensor); 0.01 in Chen et al.'s commands.
        objective: callable(tail output) -> scalar to ascend; default ``mean_logit`` (see the
            module docstring for the convention).

    Returns:
        The perturbed features, same shape and dtype as ``features``.

    Example:
        >>> head = keras.layers.Dense(1, kernel_initializer="ones")
        >>> f = tf.constant([[1.0, -2.0]])
        >>> adversarial_features(head, f, 0.01).numpy().tolist()
        [[1.0099999904632568, -1.9900000095367432]]
    """
    base = tf.stop_gradient(features)
    with tf.GradientTape() as tape:
        tape.watch(base)
        value = objective(tail_fn(base))
    grad = tape.gradient(value, base)
    if grad is None:
        raise ValueError("The objective does not depend on the features; check tail_fn.")
    step = tf.cast(gamma, features.dtype) * tf.sign(grad)
    return features + tf.stop_gradient(step)


def advaug_loss(loss_fn, tail_fn, features, gamma, objective=mean_logit):
    """AdvAug training loss: ``(loss_fn(tail_fn(f)) + loss_fn(tail_fn(f_adv))) / 2``.

    With ``gamma == 0`` given as a Python number the perturbed pass is skipped and the clean loss
    is returned unchanged, so ``advaug_gamma=0`` reproduces the plain step exactly (with a tensor
    ``gamma`` of 0 the result is also exactly the clean loss: ``f + 0 = f`` and ``(a + a) / 2 = a``).

    Args:
        loss_fn: callable(tail output) -> scalar loss (e.g. the G hinge loss of D's logits).
        tail_fn: as in ``adversarial_features``.
        features: the clean intermediate features (from the caller's tape, so gradients reach the
            network that produced them).
        gamma: the AdvAug step size.
        objective: the ascended objective (default: mean logit, the official convention).

    Returns:
        ``(loss, clean_loss, perturbed_loss)``; ``perturbed_loss`` is ``clean_loss`` when skipped.

    Example:
        >>> tail = keras.layers.Dense(1, kernel_initializer="ones")
        >>> loss, clean, adv = advaug_loss(lambda o: -tf.reduce_mean(o), tail, tf.ones((2, 3)), 0.0)
        >>> float(loss) == float(clean)
        True
    """
    clean = loss_fn(tail_fn(features))
    if isinstance(gamma, (int, float)) and gamma == 0:
        return clean, clean, clean
    perturbed_features = adversarial_features(tail_fn, features, gamma, objective=objective)
    perturbed = loss_fn(tail_fn(perturbed_features))
    return (clean + perturbed) / 2.0, clean, perturbed


class FeatureAdvAug:
    """AdvAug for a GAN's train step: splits G at ``g_layer`` and D at ``d_layer`` once.

    ``discriminator_logits`` returns D's clean logits and its logits at the perturbed penultimate
    features; ``generator_images`` returns G's clean images and the images generated from the
    perturbed features at ``g_layer`` (the step ascending ``objective(d_fn(G_tail(f)))``). The
    train step averages its losses over the two, e.g. ``d_loss = (L_D(real, fake) +
    L_D(real_adv, fake_adv)) / 2`` and ``g_loss = (L_G(d_fn(x)) + L_G(d_fn(x_adv))) / 2``.

    With ``gamma == 0`` both methods return the *same* tensor twice; a train step should then
    compute its loss once (or not build a ``FeatureAdvAug`` at all): each extra call of a network
    in training mode also updates its spectral-norm vectors / batch-norm statistics, so calling D
    twice would not reproduce the plain step exactly. With ``gamma > 0`` the direction costs one
    extra forward and backward pass of the tail, as in the official code.

    Args:
        generator: functional generator with a layer ``g_layer`` (inputs ``z`` or ``[z, labels]``).
        discriminator: functional discriminator with a layer ``d_layer`` (inputs ``images`` or
            ``[images, labels]``).
        gamma: the step size (0.01 in Chen et al.); 0 makes both methods return the clean
            tensors twice without the extra passes.
        g_layer: name of G's split layer (default ``"g_stem"``, the stem output: the networks
            contract and the authors' location; ``"g_block1"``: the first block's output).
        d_layer: name of D's split layer (default ``"d_features"``).
        objective: the ascended objective of the logits (default ``mean_logit``, the official
            convention).

    Example:
        >>> z = keras.Input((4,), name="z")
        >>> g = keras.Model(z, keras.layers.Dense(6)(keras.layers.Dense(5, name="g_stem")(z)))
        >>> x = keras.Input((6,), name="images")
        >>> d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(3, name="d_features")(x)))
        >>> advaug = FeatureAdvAug(g, d, gamma=0.01)
        >>> clean, adv = advaug.discriminator_logits(tf.ones((2, 6)))
        >>> bool(tf.reduce_all(adv > clean))
        True
    """

    def __init__(self, generator, discriminator, gamma, g_layer="g_stem", d_layer="d_features", objective=mean_logit):
        if not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f"AdvAug gamma must be a number >= 0. Received: gamma={gamma!r}")
        self.gamma = float(gamma)
        self.objective = objective
        self.generator, self.discriminator = generator, discriminator
        for role, network, name, where in (
            (
                "generator",
                generator,
                g_layer,
                "the output of its stem (linear layer + reshape, before the first block)",
            ),
            ("discriminator", discriminator, d_layer, "its penultimate feature vector (the final head's input)"),
        ):
            names = [layer.name for layer in getattr(network, "layers", [])]
            if name not in names:
                raise ValueError(
                    f"AdvAug (gamma={gamma}) needs a layer named {name!r} in the {role} {network.name!r}, "
                    f"which has none. Add `keras.layers.Identity(name={name!r})` on {where} of the functional "
                    f"model (td.networks models have it), or pass the layer name. Layers: {names}."
                )
        self.g_head, self.g_tail = split_model(generator, g_layer)
        self.d_head, self.d_tail = split_model(discriminator, d_layer)

    def discriminator_logits(self, images, labels=None, training=True):
        """``(clean_logits, perturbed_logits)`` of D on (already augmented) images."""
        inputs = images if labels is None else [images, labels]
        features = self.d_head(inputs, training=training)
        tail_fn = bind_tail(self.discriminator, self.d_tail, inputs, training=training)
        clean = tail_fn(features)
        if self.gamma == 0:
            return clean, clean
        perturbed = adversarial_features(tail_fn, features, self.gamma, objective=self.objective)
        return clean, tail_fn(perturbed)

    def generator_images(self, z, d_fn, labels=None, training=True):
        """``(clean_images, perturbed_images)`` from G, perturbing its features at ``g_layer``.

        Args:
            z: latent batch.
            d_fn: callable(images) -> D's logits as the G step sees them, e.g.
                ``lambda x: D([T(x), labels], training=True)``; used for the direction only.
            labels: int labels for a conditional G, else None.
            training: passed to G's calls.
        """
        inputs = z if labels is None else [z, labels]
        features = self.g_head(inputs, training=training)
        tail_fn = bind_tail(self.generator, self.g_tail, inputs, training=training)
        clean = tail_fn(features)
        if self.gamma == 0:
            return clean, clean
        perturbed = adversarial_features(lambda f: d_fn(tail_fn(f)), features, self.gamma, objective=self.objective)
        return clean, tail_fn(perturbed)
