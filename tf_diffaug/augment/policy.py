"""DiffAugment policies: named lists of augmentation ops, each split into sampling and applying.

A *policy* is a comma-separated string of names such as ``"color,translation,cutout"`` (Zhao et
al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020,
arXiv:2006.10738). Each name maps to a list of :class:`PolicyOp`; the ops of all names run in
string order and ``""`` is the identity. The official names are

* ``"color"``: brightness ``delta ~ U[-0.5, 0.5) * (hi - lo) / 2``, then saturation
  ``factor ~ U[0, 2)``, then contrast ``factor ~ U[0.5, 1.5)``;
* ``"translation"``: integer ``(dy, dx)`` uniform in ``[-s, s]`` per axis, ``s = int(size * 0.125 + 0.5)``;
* ``"cutout"``: integer centers ``(cy, cx)`` uniform in ``[0, size + (1 - c % 2))`` with a
  ``c = int(size * 0.5 + 0.5)`` square, filled with the middle of the value range.

A :class:`PolicyOp` has ``sample(images, seed, value_range)`` returning the per-sample parameters
(a tensor with leading dimension B, drawn with ``keras.random`` from the SeedGenerator ``seed``) and
``apply(images, params, value_range)`` applying them without randomness. Images are NHWC here;
the layers convert channels_first.

Example (register a random horizontal flip under the name ``"flip"``):

>>> import keras
>>> from keras import ops
>>> from tf_diffaug.augment import PolicyOp, register_policy, DiffAugment
>>> flip = PolicyOp(
...     "flip",
...     sample=lambda images, seed, value_range: keras.random.uniform(
...         (ops.shape(images)[0],), seed=seed) < 0.5,
...     apply=lambda images, flips, value_range: ops.where(
...         ops.reshape(flips, (-1, 1, 1, 1)), ops.flip(images, axis=2), images))
>>> register_policy("flip", [flip])
>>> layer = DiffAugment("flip,color")
"""

import keras
from keras import ops as kops

from tf_diffaug.augment import ops, policy_names


class PolicyOp:
    """One differentiable augmentation: how to draw its per-sample parameters and apply them.

    Args:
        name: short name; the key of its parameters in a layer's transformation dict.
        sample: ``sample(images, seed, value_range) -> params``; ``images`` is the NHWC batch,
            ``seed`` a ``keras.random.SeedGenerator`` to pass to ``keras.random`` functions.
        apply: ``apply(images, params, value_range) -> images``; deterministic and differentiable
            with respect to ``images``.

    Example:

    >>> op = PolicyOp("invert", sample=lambda x, seed, vr: None,
    ...               apply=lambda x, params, vr: (vr[0] + vr[1]) - x)
    """

    def __init__(self, name, sample, apply):
        self.name = name
        self._sample = sample
        self._apply = apply

    def sample(self, images, seed, value_range):
        return self._sample(images, seed, value_range)

    def apply(self, images, params, value_range):
        return self._apply(images, params, value_range)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


def _batch(images):
    return (kops.shape(images)[0],)


def _middle(value_range):
    return (value_range[0] + value_range[1]) / 2.0


class Brightness(PolicyOp):
    """Brightness: ``delta ~ U[-0.5, 0.5) * (hi - lo) / 2`` per sample, ``x + delta``."""

    def __init__(self):
        super().__init__("brightness", None, None)

    def sample(self, images, seed, value_range):
        scale = (value_range[1] - value_range[0]) / 2.0
        return (keras.random.uniform(_batch(images), seed=seed) - 0.5) * scale

    def apply(self, images, params, value_range):
        return ops.adjust_brightness(images, params)


class Saturation(PolicyOp):
    """Saturation: ``factor ~ U[0, 2)`` per sample about the per-pixel channel mean."""

    def __init__(self):
        super().__init__("saturation", None, None)

    def sample(self, images, seed, value_range):
        return keras.random.uniform(_batch(images), seed=seed) * 2.0

    def apply(self, images, params, value_range):
        return ops.adjust_saturation(images, params)


class Contrast(PolicyOp):
    """Contrast: ``factor ~ U[0.5, 1.5)`` per sample about the per-image mean."""

    def __init__(self):
        super().__init__("contrast", None, None)

    def sample(self, images, seed, value_range):
        return keras.random.uniform(_batch(images), seed=seed) + 0.5

    def apply(self, images, params, value_range):
        return ops.adjust_contrast(images, params)


def _check_ratio(name, ratio):
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{name} ratio must be a number in [0, 1], got ratio={ratio!r}.")
    return float(ratio)


def _randint_pair(images, seed, low, high):
    """int32 [B, 2] with column k uniform in [low[k], high[k]) (one draw when the ranges match)."""
    if low[0] == low[1] and high[0] == high[1]:
        return keras.random.randint((_batch(images)[0], 2), low[0], high[0], dtype="int32", seed=seed)
    cols = [keras.random.randint(_batch(images), low[k], high[k], dtype="int32", seed=seed) for k in (0, 1)]
    return kops.stack(cols, axis=1)


class Translation(PolicyOp):
    """Integer translation by ``(dy, dx)`` uniform in ``[-s, s]``, ``s = int(size * ratio + 0.5)``.

    Args:
        ratio: maximal shift as a fraction of the image size (0.125 in the paper).
    """

    def __init__(self, ratio=0.125):
        super().__init__("translation", None, None)
        self.ratio = _check_ratio("translation", ratio)

    def max_shift(self, height, width):
        return int(height * self.ratio + 0.5), int(width * self.ratio + 0.5)

    def sample(self, images, seed, value_range):
        sy, sx = self.max_shift(images.shape[1], images.shape[2])
        return _randint_pair(images, seed, (-sy, -sx), (sy + 1, sx + 1))

    def apply(self, images, params, value_range):
        return ops.translate(images, params, fill=_middle(value_range))


class Cutout(PolicyOp):
    """Cutout of a ``c = int(size * ratio + 0.5)`` rectangle at centers uniform in ``[0, size + 1 - c % 2)``.

    Args:
        ratio: rectangle side as a fraction of the image side (0.5 in the paper).
    """

    def __init__(self, ratio=0.5):
        super().__init__("cutout", None, None)
        self.ratio = _check_ratio("cutout", ratio)

    def size(self, height, width):
        return int(height * self.ratio + 0.5), int(width * self.ratio + 0.5)

    def sample(self, images, seed, value_range):
        ch, cw = self.size(images.shape[1], images.shape[2])
        high = (images.shape[1] + (1 - ch % 2), images.shape[2] + (1 - cw % 2))
        return _randint_pair(images, seed, (0, 0), high)

    def apply(self, images, params, value_range):
        size = self.size(images.shape[1], images.shape[2])
        return ops.cutout(images, params, size, fill=_middle(value_range))


_REGISTRY = {
    "color": lambda: [Brightness(), Saturation(), Contrast()],
    "translation": lambda: [Translation()],
    "cutout": lambda: [Cutout()],
}
assert tuple(_REGISTRY) == policy_names.BUILTIN_NAMES, "td.augment.policy_names names the built-in ops defined here"


def register_policy(name, fn_list):
    """Register a list of ops under a policy name usable in ``DiffAugment(policy=...)``.

    Layers look names up when they are constructed (and again when a saved model is loaded, so
    register before loading). Registering an existing name replaces it.

    Args:
        name: the policy item name: letters, digits and underscores, e.g. ``"flip"``.
        fn_list: a list of :class:`PolicyOp` (or ``(sample, apply)`` pairs, named ``name``), applied
            in order. They must be differentiable with respect to the images.

    Example:

    >>> register_policy("invert", [PolicyOp("invert", lambda x, seed, vr: None,
    ...                                     lambda x, p, vr: (vr[0] + vr[1]) - x)])
    """
    if not isinstance(name, str) or not name.replace("_", "a").isalnum():
        raise ValueError(f"Policy name must be letters, digits and underscores, got name={name!r}.")
    items = []
    for fn in fn_list:
        if isinstance(fn, PolicyOp):
            items.append(fn)
        elif isinstance(fn, (tuple, list)) and len(fn) == 2 and all(callable(f) for f in fn):
            items.append(PolicyOp(name, *fn))
        else:
            raise ValueError(
                f"register_policy({name!r}, ...) expects PolicyOp instances or (sample, apply) pairs, got {fn!r}."
            )
    _REGISTRY[name] = lambda: list(items)
    policy_names.add_name(name)


def unregister_policy(name):
    """Removes a name added with :func:`register_policy` (the built-in names cannot be removed).

    Raises:
        ValueError: for a built-in or unknown name.
    """
    if name in policy_names.BUILTIN_NAMES or name not in _REGISTRY:
        raise ValueError(
            f"Cannot unregister policy {name!r}: expected one of the registered additions "
            f"{sorted(set(_REGISTRY) - set(policy_names.BUILTIN_NAMES))}."
        )
    del _REGISTRY[name]
    policy_names.remove_name(name)


registered_names = policy_names.registered_names  # the one list of accepted names (no TensorFlow)


def parse_policy(policy):
    """Split a policy string into ``[(name, [PolicyOp, ...]), ...]`` in string order.

    Args:
        policy: comma-separated names, e.g. ``"color,translation,cutout"``; ``""`` is the identity.
            Whitespace around names is ignored.

    Returns:
        List of (name, ops) pairs.

    Raises:
        ValueError: on an empty item or an unknown name, naming it and the accepted names.
    """
    return [(name, _REGISTRY[name]()) for name in policy_names.split_policy(policy)]
