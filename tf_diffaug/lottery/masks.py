"""Pruning masks as first-class objects: a Keras constraint per kernel plus a model-level view.

A pruned weight must stay exactly zero through training. Keras 3 optimizers apply a variable's
``constraint`` right after every update (``BaseOptimizer.apply``: weight decay, the update step,
then ``variable.assign(variable.constraint(variable))``), in the replica context under
``tf.distribute`` too. ``MaskConstraint`` therefore multiplies the kernel by its 0/1 mask after
every step, whatever the optimizer (Adam, AdamW with decoupled weight decay, SGD with momentum):
the moments of a pruned weight may be non-zero, its value is not. The mask lives in a
non-trainable variable, so changing it between IMP rounds needs no retracing of ``fit``.
"""

import base64

import keras
import numpy as np
from keras import ops

from tf_diffaug.lottery import pruning


def _encode_mask(mask):
    bits = np.packbits(np.asarray(mask).reshape(-1) != 0)
    return {"shape": [int(d) for d in np.shape(mask)], "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def _decode_mask(config):
    shape = tuple(config["shape"])
    size = int(np.prod(shape, dtype=np.int64))
    bits = np.frombuffer(base64.b64decode(config["bits"]), dtype=np.uint8)
    return np.unpackbits(bits)[:size].reshape(shape).astype(np.float32)


def _strategy_scope(variable):
    """The tf.distribute scope a kernel lives in (so its mask is mirrored alike), or a no-op."""
    import contextlib

    import tensorflow as tf

    strategy = getattr(getattr(variable, "value", variable), "distribute_strategy", None)
    if strategy is None or tf.distribute.has_strategy():
        return contextlib.nullcontext()
    return strategy.scope()


@keras.saving.register_keras_serializable(package="tf_diffaug")
class MaskConstraint(keras.constraints.Constraint):
    """Keeps pruned weights exactly zero: ``w -> base_constraint(w) * mask`` after each update.

    Attach it to a kernel (``PruningMasks`` does) and every Keras optimizer step re-zeroes the
    pruned entries after the gradient and weight-decay updates. The mask is a non-trainable
    variable (``self.mask``) that can be re-assigned between pruning rounds. ``get_config`` stores
    the mask bit-packed (base64, 1 bit per weight) so a layer whose config carries its
    ``kernel_constraint`` (all Keras dense/conv layers, also inside ``SpectralNormalization``)
    restores its mask from a ``.keras`` file.

    Args:
        mask: array-like of 0/1 with the kernel's shape, or a config dict from ``get_config``.
        base_constraint: an optional constraint applied before masking (one that was already on
            the kernel).

    Example:
        >>> c = MaskConstraint(np.array([[1.0, 0.0]]))
        >>> keras.ops.convert_to_numpy(c(keras.ops.ones((1, 2)))).tolist()
        [[1.0, 0.0]]
    """

    def __init__(self, mask, base_constraint=None, dtype="float32"):
        if isinstance(mask, dict):
            mask = _decode_mask(mask)
        if isinstance(mask, keras.Variable):
            self.mask = mask
        else:
            value = np.asarray(keras.ops.convert_to_numpy(mask), dtype=np.float32)
            if not np.all((value == 0) | (value == 1)):
                raise ValueError("A pruning mask must contain only 0 and 1. Received other values.")
            self.mask = keras.Variable(value, trainable=False, dtype=dtype, name="pruning_mask")
        self.base_constraint = keras.constraints.get(base_constraint)

    def __call__(self, w):
        if self.base_constraint is not None:
            w = self.base_constraint(w)
        return w * ops.cast(self.mask, w.dtype)

    def get_config(self):
        mask = keras.ops.convert_to_numpy(self.mask)
        base = None
        if self.base_constraint is not None:
            base = keras.saving.serialize_keras_object(self.base_constraint)
        return {"mask": _encode_mask(mask), "base_constraint": base}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        base = config.pop("base_constraint", None)
        if base is not None:
            base = keras.saving.deserialize_keras_object(base)
        return cls(config.pop("mask"), base_constraint=base)


PRUNE_SCOPES = ("all", "conv")


def is_prunable_kernel(variable):
    """``prune_scope="all"``: conv and dense kernels (variables named ``*kernel``, at least 2-D).

    The trainable flag is not looked at, so the frozen copy of an EMA generator gets the same
    kernels as the generator. Biases, normalization scales, embeddings and spectral-norm
    ``vector_u`` are left dense. Chen et al.'s code prunes convolutions only (``is_conv_kernel``);
    this wider selection also prunes dense layers (G's first linear layer, D's head).
    """
    return len(variable.shape) >= 2 and variable.name.endswith("kernel")


def is_conv_kernel(variable):
    """``prune_scope="conv"``: convolution kernels only (``*kernel`` variables of rank >= 3).

    The selection of Chen et al.'s code (VITA-Group/Ultra-Data-Efficient-GAN-Training,
    ``SNGAN/utils/utils.py`` ``pruning_generate`` l.22-33: the ``weight`` of every ``nn.Conv2d`` /
    ``nn.ConvTranspose2d``), so G's first linear layer and every other dense kernel (D's head,
    class projections, conditional-BN maps, StyleGAN2's mapping and affine layers) stay dense. A
    convolution kernel is ``[*spatial, in, out]`` (rank 4 for ``Conv2D``, ``Conv2DTranspose``,
    the 1x1 convolutions of self-attention, StyleGAN2's equalized and modulated convolutions), a
    dense kernel ``[in, out]``.
    """
    return len(variable.shape) >= 3 and variable.name.endswith("kernel")


_SCOPE_SELECTION = {"all": is_prunable_kernel, "conv": is_conv_kernel}


def kernel_selection(prune_scope="all", include=None):
    """The ``callable(variable) -> bool`` choosing the prunable kernels.

    Args:
        prune_scope: ``"all"`` (``is_prunable_kernel``: conv and dense kernels) or ``"conv"``
            (``is_conv_kernel``: convolutions only, as Chen et al.'s code).
        include: an explicit ``callable(variable) -> bool`` instead (then ``prune_scope`` must be
            left at ``"all"``).

    Example:
        >>> kernel_selection("conv") is is_conv_kernel
        True
    """
    if prune_scope not in _SCOPE_SELECTION:
        raise ValueError(f"Unknown prune_scope {prune_scope!r}. Expected one of {list(PRUNE_SCOPES)}.")
    if include is None:
        return _SCOPE_SELECTION[prune_scope]
    if not callable(include):
        raise ValueError(f"`include` must be a callable(variable) -> bool or None. Received: include={include!r}")
    if prune_scope != "all":
        raise ValueError(
            f"Pass include= or prune_scope=, not both: include={include!r} replaces the selection of "
            f"prune_scope={prune_scope!r}."
        )
    return include


def _owner_layers(model):
    """All layers of a model, nested ones and wrapped ones (``SpectralNormalization.layer``) too."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=True, recursive=True))
    return [model] + list(getattr(model, "layers", []))


def prunable_kernels(model, include=None, prune_scope="all"):
    """``[(owner_layer, variable)]`` for the kernels of ``model`` selected by ``prune_scope`` (or ``include``).

    The owner is the layer whose config carries ``<name>_constraint`` when there is one (the inner
    layer of a ``SpectralNormalization`` wrapper, not the wrapper), so the mask can be serialized.
    Order is ``model.weights`` order. See ``kernel_selection`` for the arguments.
    """
    include = kernel_selection(prune_scope, include)
    owners = {}
    for layer in _owner_layers(model):
        for value in vars(layer).values():
            if isinstance(value, keras.Variable):
                key = id(value)
                has_config = hasattr(layer, f"{value.name}_constraint")
                if key not in owners or has_config:
                    owners[key] = layer
    result, seen = [], set()
    for variable in model.weights:
        if id(variable) in seen or not include(variable):
            continue
        seen.add(id(variable))
        result.append((owners.get(id(variable)), variable))
    return result


class PruningMasks:
    """The 0/1 masks of a model's prunable kernels, attached as ``MaskConstraint``s.

    Creating it attaches a ``MaskConstraint`` (all ones when the kernel had none) to every
    prunable kernel of ``model``, reusing one already there (e.g. restored from a ``.keras`` file),
    so the masks of a loaded model come back by constructing ``PruningMasks(loaded_model)``.
    ``prune(fraction)`` removes the smallest-magnitude surviving weights globally; ``apply()``
    zeroes the pruned weights now (after ``set_weights``/rewinding); the optimizer keeps them zero.

    Attach masks before the model's first ``fit``: a traced Keras train function calls the
    constraints that were attached when it was traced. After attaching to (or ``detach``-ing from)
    a model that has already been trained, call ``model.make_train_function(force=True)``
    (``find_ticket`` and ``train_ticket`` do this for the GAN). Mask *values* may change at any
    time: they are read from variables at run time.

    Args:
        model: a built ``keras.Model`` (or layer).
        include: optional ``callable(variable) -> bool`` choosing the kernels to prune (instead of
            ``prune_scope``).
        prune_scope: ``"all"`` (default: conv and dense kernels, ``*kernel`` variables of rank
            >= 2) or ``"conv"`` (convolution kernels only, as Chen et al.'s code; see
            ``is_conv_kernel``). Masks saved with one scope load into ``PruningMasks`` of the same
            scope.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
        >>> masks = PruningMasks(model)
        >>> masks.prune(0.2)
        8
        >>> round(masks.sparsity, 3)
        0.2
    """

    def __init__(self, model, include=None, prune_scope="all"):
        if not getattr(model, "built", False):
            raise ValueError(f"PruningMasks needs a built model; model {getattr(model, 'name', model)!r} is not built.")
        self.model = model
        self.prune_scope = prune_scope if include is None else None
        self._entries = prunable_kernels(model, include, prune_scope)
        if not self._entries:
            selected = {"all": "conv or dense kernels of rank >= 2", "conv": "conv kernels of rank >= 3"}
            what = selected.get(self.prune_scope, "kernels selected by include")
            raise ValueError(f"Model {model.name!r} has no prunable kernels ({what}).")
        self.constraints = []
        for owner, variable in self._entries:
            constraint = variable.constraint
            if not isinstance(constraint, MaskConstraint):
                with _strategy_scope(variable):
                    constraint = MaskConstraint(
                        np.ones(variable.shape, np.float32), base_constraint=constraint, dtype=variable.dtype
                    )
                variable.constraint = constraint
            attr = f"{variable.name}_constraint"
            if owner is not None and hasattr(owner, attr):
                setattr(owner, attr, constraint)
            self.constraints.append(constraint)

    @property
    def kernels(self):
        """The masked kernel variables, in ``model.weights`` order."""
        return [variable for _, variable in self._entries]

    @property
    def names(self):
        """The kernels' variable paths (e.g. ``"generator/dense/kernel"``), used as file keys."""
        return [variable.path for variable in self.kernels]

    @property
    def masks(self):
        """The current masks as a list of float32 NumPy arrays of 0/1."""
        return [keras.ops.convert_to_numpy(c.mask).astype(np.float32) for c in self.constraints]

    def assign(self, masks):
        """Sets the masks (a list in kernel order, or a dict name -> array) and applies them."""
        if isinstance(masks, PruningMasks):
            masks = masks.masks
        if isinstance(masks, dict):
            missing = [n for n in self.names if n not in masks]
            if missing:
                raise ValueError(f"No mask for kernels {missing}. Masks given for: {sorted(masks)}.")
            masks = [masks[n] for n in self.names]
        masks = list(masks)
        if len(masks) != len(self.constraints):
            raise ValueError(f"Got {len(masks)} masks for {len(self.constraints)} prunable kernels {self.names}.")
        for name, constraint, mask in zip(self.names, self.constraints, masks):
            mask = np.asarray(mask, np.float32)
            if tuple(mask.shape) != tuple(constraint.mask.shape):
                raise ValueError(
                    f"Mask for {name!r} has shape {mask.shape}; the kernel has shape {tuple(constraint.mask.shape)}."
                )
            constraint.mask.assign(mask)
        self.apply()

    def apply(self):
        """Zeroes the pruned weights now: ``kernel <- kernel * mask`` for every kernel."""
        for variable, constraint in zip(self.kernels, self.constraints):
            variable.assign(constraint(variable))

    def prune(self, fraction=0.2, rank_on=None):
        """One round of global magnitude pruning of ``fraction`` of the surviving weights.

        Args:
            fraction: share of the alive weights to remove, in [0, 1); the
                ``round(fraction * alive)`` smallest ``|w|`` over all kernels together go.
            rank_on: another ``PruningMasks`` whose kernels (same shapes, same order) give the
                magnitudes, e.g. those of the EMA generator (Chen et al. take the ticket from
                ``avg_gen_net``, the EMA generator); None ranks this model's own kernels.

        Returns:
            The number of weights removed in this round.
        """
        source = self if rank_on is None else rank_on
        if not isinstance(source, PruningMasks):
            raise ValueError(f"rank_on must be a PruningMasks or None. Received rank_on={rank_on!r}.")
        shapes = [tuple(v.shape) for v in self.kernels]
        if [tuple(v.shape) for v in source.kernels] != shapes:
            raise ValueError(
                f"rank_on's kernels {[tuple(v.shape) for v in source.kernels]} do not match this model's {shapes}."
            )
        weights = [keras.ops.convert_to_numpy(v) for v in source.kernels]
        old = self.masks
        new = pruning.global_magnitude_masks(weights, old, fraction)
        self.assign(new)
        return int(sum(o.sum() - n.sum() for o, n in zip(old, new)))

    def counts(self):
        """``(pruned, total)`` weights over all masked kernels."""
        masks = self.masks
        total = int(sum(m.size for m in masks))
        return total - int(sum(m.sum() for m in masks)), total

    @property
    def sparsity(self):
        """Fraction of the prunable weights that are pruned (global, over all kernels)."""
        pruned, total = self.counts()
        return pruned / total

    def layer_sparsity(self):
        """``{kernel path: pruned fraction}`` for every masked kernel."""
        return {n: float(1.0 - m.mean()) for n, m in zip(self.names, self.masks)}

    def summary(self):
        """A text table of the per-kernel and overall sparsity."""
        lines = [f"{'kernel':<60} {'shape':>20} {'sparsity':>9}"]
        for name, mask in zip(self.names, self.masks):
            lines.append(f"{name:<60} {str(tuple(mask.shape)):>20} {1.0 - mask.mean():>9.2%}")
        pruned, total = self.counts()
        lines.append(f"{'overall':<60} {f'{pruned}/{total}':>20} {pruned / total:>9.2%}")
        return "\n".join(lines)

    def save(self, path):
        """Writes the masks to a compressed ``.npz`` file keyed by kernel path (bool arrays)."""
        arrays = {f"mask_{i}": m.astype(bool) for i, m in enumerate(self.masks)}
        np.savez_compressed(path, names=np.array(self.names), **arrays)

    def load(self, path):
        """Reads masks written by ``save`` and applies them.

        Kernels are matched by path; when the paths differ (e.g. the same architecture built under
        another name) they are matched by order, checking every shape.
        """
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            masks = [data[f"mask_{i}"].astype(np.float32) for i in range(len(names))]
        if set(names) >= set(self.names):
            self.assign(dict(zip(names, masks)))
        else:
            self.assign(masks)
        return self

    def detach(self):
        """Removes the mask constraints (restoring any previous constraint): the model is dense again."""
        for (owner, variable), constraint in zip(self._entries, self.constraints):
            variable.constraint = constraint.base_constraint
            attr = f"{variable.name}_constraint"
            if owner is not None and getattr(owner, attr, None) is constraint:
                setattr(owner, attr, constraint.base_constraint)

    def __repr__(self):
        pruned, total = self.counts()
        return (
            f"<PruningMasks {self.model.name!r}: {len(self.constraints)} kernels, "
            f"{pruned}/{total} pruned ({pruned / total:.2%})>"
        )
