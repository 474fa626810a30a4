"""Fine-tuning: start a new run from another run's networks (`init_from`), freeze D's first blocks (`freeze_d`).

`init_from` names a run folder (its last finite checkpoint, `checkpoint.resume_point`) or one of
its `checkpoints/ckpt-XXXXXX.weights.h5` files; `weights_file` resolves it. `load_networks` copies
the generator, the discriminator and the EMA generator of that file into a freshly built `td.GAN`
and nothing else: the optimizers (Adam moments, `iterations`), the step counter, `p`, the
regularizers' anchors and the seed generators keep their fresh values, so the run starts at step
0 (StyleGAN2-ADA's `--resume=<pkl>` of a pretrained network, Karras et al. 2020, arXiv:2006.06676).
Each network's part of the file is compared variable by variable with the network the new
configuration builds before anything is loaded; the first difference is one `ArchitectureMismatch`
naming the layer, the variable and both shapes.

FreezeD (Mo, Cho, Shin, "Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs", CVPR
workshops 2020, arXiv:2002.10964) keeps the discriminator's lower layers fixed while fine-tuning.
`discriminator_blocks` reads the blocks as the networks define them, from the input side: the
layers named `d_block<k>` (the residual blocks of SNGAN/BigGAN, the resolution blocks of
StyleGAN2) or, in DCGAN, each strided-convolution stage (`conv<i>`, its batch norm, `lrelu<i>`);
a block is every layer computing its output that no earlier block holds (BigGAN's attention
between two blocks belongs to the later one). `freeze_discriminator` sets those layers
`trainable = False` before the GAN is compiled, so D's optimizer is built without them and never
updates them (a frozen batch norm also stops updating its moving statistics and normalizes with
them, Keras' fine-tuning convention).

Example:
    >>> gan = build_gan(resolve_config("fewshot-cpu", init_from="runs/00000-fewshot-cpu",
    ...                                freeze_d=2))                               # doctest: +SKIP
    >>> load_networks(gan, weights_file("runs/00000-fewshot-cpu"))                 # doctest: +SKIP
    >>> [name for name, _ in discriminator_blocks(gan.discriminator)]             # doctest: +SKIP
    ['lrelu0', 'lrelu1', 'lrelu2']
"""

import os
import re
import tempfile

from tf_diffaug.experiment import checkpoint as checkpoint_lib

#: The networks `load_networks` copies: the attribute of `td.GAN` and its group in the weights file.
NETWORKS = ("generator", "discriminator", "ema_generator")
_DCGAN_STAGE = re.compile(r"^lrelu(\d+)$")
_BLOCK = re.compile(r"^d_block(\d+)$")


class ArchitectureMismatch(ValueError):
    """The networks of an `init_from` weights file do not fit the networks of the configuration."""


def weights_file(init_from):
    """The weights file `init_from` names: the file itself, or the last finite checkpoint of a run folder.

    Raises:
        ValueError: naming `init_from` when it is neither a weights file nor a run folder with a
            finite checkpoint, and what is accepted.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(init_from)))
    accepted = "Expected a run folder (with checkpoints/state.json) or one of its checkpoints/ckpt-XXXXXX.weights.h5."
    if os.path.isfile(path):
        if not path.endswith(".weights.h5"):
            raise ValueError(
                f"init_from {init_from!r} is a file but not a Keras weights file (.weights.h5). {accepted}"
            )
        return path
    if not os.path.isdir(path):
        raise ValueError(f"init_from {init_from!r} does not exist. {accepted}")
    folder = os.path.join(path, "checkpoints")
    state, skipped = checkpoint_lib.resume_point(folder)
    if state is None:
        why = f" (passed over as non-finite: {', '.join(name for name, _ in skipped)})" if skipped else ""
        raise ValueError(f"init_from {init_from!r} holds no finite checkpoint in {folder!r}{why}. {accepted}")
    return os.path.join(folder, state["weights"])


def run_folder_of(weights_path):
    """The run folder of a `<run>/checkpoints/ckpt-XXXXXX.weights.h5` file (None for a file elsewhere)."""
    folder = os.path.dirname(os.path.abspath(weights_path))
    if os.path.basename(folder) == "checkpoints":
        return os.path.dirname(folder)
    return None


def weights_step(weights_path):
    """The step of a `ckpt-XXXXXX.weights.h5` file name (None for another name)."""
    match = re.match(r"^ckpt-(\d+)\.weights\.h5$", os.path.basename(weights_path))
    return int(match.group(1)) if match else None


def _snake_case(name):
    """Keras' `naming.to_snake_case`: the part of a weights-file path a layer's class gives."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _file_layer_names(network):
    """`{weights-file layer key: layer name}` (Keras names a layer's group by its class, numbered)."""
    used, names = {}, {}
    for layer in network.layers:
        base = _snake_case(type(layer).__name__)
        key = base if base not in used else f"{base}_{used[base]}"
        used[base] = used.get(base, 0) + 1
        names[key] = layer.name
    return names


def _shapes(group):
    """`{path: shape}` of every array below an h5py group, in sorted path order."""
    import h5py

    shapes = {}
    group.visititems(
        lambda name, item: shapes.__setitem__(name, item.shape) if isinstance(item, h5py.Dataset) else None
    )
    return dict(sorted(shapes.items()))


def _describe(network, path):
    parts = path.split("/")
    if len(parts) >= 2 and parts[0] == "layers":
        layer = _file_layer_names(network).get(parts[1], parts[1])
        return f"layer {layer!r} variable {'/'.join(parts[2:])!r}"
    return f"variable {path!r}"


def check_network(network, group, role, source):
    """Raises `ArchitectureMismatch` unless weights-file group `group` holds exactly `network`'s variables."""
    import h5py

    with tempfile.TemporaryDirectory() as folder:
        own = os.path.join(folder, "own.weights.h5")
        network.save_weights(own)
        with h5py.File(own, "r") as f:
            expected = _shapes(f)
    found = _shapes(group)
    for path in sorted(set(expected) | set(found)):
        mine, theirs = expected.get(path), found.get(path)
        if mine == theirs:
            continue
        where = _describe(network, path)
        if mine is None:
            detail = f"{source} has {where} of shape {theirs}, which the configuration's {role} does not have"
        elif theirs is None:
            detail = f"the configuration's {role} has {where} of shape {mine}, which {source} does not have"
        else:
            detail = f"{where} has shape {theirs} in {source} but {mine} in the configuration's {role}"
        raise ArchitectureMismatch(
            f"init_from: the {role} of {source} does not match the {role} the configuration builds: {detail}. "
            "Use the architecture settings the source run was trained with (network, network_preset, "
            "network_kwargs, resolution, channels, latent_dim, num_classes; see its config.json)."
        )


def load_networks(gan, path, networks=NETWORKS):
    """Loads G, D and the EMA generator of weights file `path` into `gan`; nothing else of the file.

    Args:
        gan: a built `td.GAN` (e.g. from `build.build_gan`).
        path: a `td.GAN` weights file (a run's `checkpoints/ckpt-XXXXXX.weights.h5`).
        networks: the `td.GAN` attributes to load (default `NETWORKS`).

    Raises:
        ArchitectureMismatch: the first variable whose shape differs (or that only one side has),
            naming the layer and both shapes; nothing is loaded then.
        ValueError: `path` is not a `td.GAN` weights file.
    """
    import h5py

    with h5py.File(path, "r") as f:
        missing = [name for name in networks if name not in f]
        if missing:
            raise ValueError(
                f"init_from: {path!r} is not a td.GAN weights file: it has no {missing} group(s) "
                f"(found {sorted(f)}). Expected a run's checkpoints/ckpt-XXXXXX.weights.h5."
            )
        for name in networks:
            check_network(getattr(gan, name), f[name], name, repr(path))
        with tempfile.TemporaryDirectory() as folder:
            for name in networks:
                part = os.path.join(folder, f"{name}.weights.h5")
                with h5py.File(part, "w") as out:
                    for key in f[name]:
                        f.copy(f[name][key], out, name=key)
                getattr(gan, name).load_weights(part)
    return gan


def discriminator_blocks(discriminator):
    """D's blocks from the input side: `[(block output layer name, [layers of the block]), ...]`.

    The block outputs are the layers named `d_block<k>` (SNGAN, BigGAN, StyleGAN2), or DCGAN's
    `lrelu<i>` stages, in the network's layer order. A block's layers are those its output depends
    on that no earlier block holds.

    Raises:
        ValueError: the network names no blocks.
    """
    outputs = [layer for layer in discriminator.layers if _BLOCK.match(layer.name)]
    if not outputs:
        outputs = [layer for layer in discriminator.layers if _DCGAN_STAGE.match(layer.name)]
    if not outputs:
        raise ValueError(
            f"Discriminator {discriminator.name!r} names no blocks (layers 'd_block<k>' or DCGAN's 'lrelu<i>'), "
            "so freeze_d cannot tell its first blocks. Use freeze_d=0."
        )
    blocks, seen = [], set()
    for output in outputs:
        layers = [layer for layer in _ancestors(output) if id(layer) not in seen]
        seen.update(id(layer) for layer in layers)
        order = {id(layer): i for i, layer in enumerate(discriminator.layers)}
        blocks.append((output.name, sorted(layers, key=lambda layer: order.get(id(layer), -1))))
    return blocks


def _ancestors(layer):
    """`layer` and every layer its (first) output is computed from."""
    found, stack = {}, [layer]
    while stack:
        current = stack.pop()
        if id(current) in found:
            continue
        found[id(current)] = current
        for node in current._inbound_nodes:
            for tensor in node.input_tensors:
                stack.append(tensor._keras_history.operation)
    return list(found.values())


def freeze_discriminator(discriminator, num_blocks):
    """Sets the layers of D's first `num_blocks` blocks `trainable = False` (call before compiling).

    Returns:
        The frozen layers (those holding weights).

    Raises:
        ValueError: `num_blocks` exceeds D's blocks, naming both and the blocks.
    """
    if num_blocks == 0:
        return []
    blocks = discriminator_blocks(discriminator)
    if num_blocks > len(blocks):
        raise ValueError(
            f"freeze_d={num_blocks} exceeds the {len(blocks)} blocks of discriminator {discriminator.name!r} "
            f"({', '.join(name for name, _ in blocks)}, from the input side). Expected freeze_d in [0, {len(blocks)}]."
        )
    frozen = []
    for _, layers in blocks[:num_blocks]:
        for layer in layers:
            if layer.weights:
                layer.trainable = False
                frozen.append(layer)
    return frozen


__all__ = [
    "ArchitectureMismatch",
    "NETWORKS",
    "check_network",
    "discriminator_blocks",
    "freeze_discriminator",
    "load_networks",
    "run_folder_of",
    "weights_file",
    "weights_step",
]
