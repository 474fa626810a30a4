"""The configuration schema: every key of a training run, typed, in one table (no TensorFlow import).

Each `Key` carries its type, default, bounds or choices, help text, group and whether it may
change when a run is resumed. Everything else is generated from `KEYS`: `DEFAULTS`, the per-key
checks of `config.validate_config`, the absl flags of `python -m train` (`Key.parse` reads a flag's
text), `--help`, `--dry_run` and `config.json` (keys in schema order), the resume check
(`RESUMABLE_KEYS`) and the flag table of docs/TRAINING.md (`usage.markdown_table`; regenerate it
with `python -m tf_diffaug.experiment.schema --markdown --write docs/TRAINING.md`). Registries
(augment modes, losses, networks, split grammar) are read from their TensorFlow-free homes.

Example:
    >>> KEY["steps"].validate(400)
    400
    >>> KEY["beta_1"].validate(1.0)
    Traceback (most recent call last):
    ...
    ValueError: beta_1 must be a number in [0, 1), got 1.0.
    >>> KEY["rewind"].parse("init"), KEY["num_classes"].parse("none"), KEY["jit_compile"].parse("false")
    ('init', None, False)
"""

import copy
import dataclasses
import json
import math
from collections.abc import Callable

from tf_diffaug.augment import policy_names
from tf_diffaug.data import splits
from tf_diffaug.gan import modes
from tf_diffaug.networks import catalog as network_catalog

#: `(name, title)` of each group, in the order of `--help` and of the docs table.
GROUPS = (
    ("data", "Data: what is trained on"),
    ("network", "Network: the architecture of G and D"),
    ("augmentation", "Augmentation: DiffAugment and the adaptive probability p"),
    ("objective", "Objective: loss, regularizers, optimizers, EMA"),
    ("schedule", "Schedule: batch and step counts (in generator steps)"),
    ("evaluation", "Evaluation: FID/KID and sample grids"),
    ("lottery", "Lottery ticket: iterative magnitude pruning before training (Chen et al. 2021)"),
    ("execution", "Execution: preset, devices, precision, seed"),
)
GROUP_NAMES = tuple(name for name, _ in GROUPS)

#: `tf.distribute` strategies `execution.make_strategy` builds.
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")

#: Learning-rate schedules of both optimizers (`build.build_gan`): constant, or linear to 0 over the run.
LR_DECAYS = ("none", "linear")

#: How the EMA generator's batch norms sample for FID/KID and the grids: running (eval) or batch statistics.
SAMPLE_BN_MODES = ("eval", "train")

#: `td.lottery` choices, repeated here without importing Keras (a test checks they equal the library's):
#: `find_ticket(prune_scope=...)` (`td.lottery.masks.PRUNE_SCOPES`) and `find_ticket(rank_on=...)`
#: (`td.lottery.ticket.RANK_ON`).
PRUNE_SCOPES = ("all", "conv")
PRUNE_RANK_ON = ("generator", "ema")

#: Data and metric choices, repeated here without importing TensorFlow (a test checks they equal the
#: library's): `td.data.load(crop=...)` (`transforms.CROP_MODES`), `alpha_background=`
#: (`transforms.ALPHA_BACKGROUNDS`) and the FID resize modes (`td.metrics.RESIZE_MODES`).
CROP_MODES = ("center", "pad", "none")
ALPHA_BACKGROUNDS = ("white", "black")
FID_RESIZE_MODES = ("legacy_tensorflow", "clean")

_TYPE_WORDS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a JSON object (dict)",
    bool: "True or False",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One configuration key: its type, default, accepted values, help, group and resume rule.

    Args:
        name: the key (and flag) name.
        group: one of `GROUP_NAMES`.
        type: `int`, `float` (ints accepted), `bool`, `str` or `dict`.
        default: the value when neither a preset nor an override sets it.
        help: one sentence for `--help` and the docs table.
        minimum, maximum: bounds of a number (None: unbounded).
        open_minimum, open_maximum: whether the bound itself is excluded.
        choices: the accepted values (a tuple, or a zero-argument callable returning them).
        nullable: whether None is accepted (flag text "none").
        literals: values of another type also accepted (e.g. "init" for `rewind`).
        check: optional callable raising ValueError for a well-typed value that is still bad.
        resumable: whether the key may change on `--resume`.

    Example:
        >>> Key("width", "network", int, 8, "Filters.", minimum=1).accepted()
        'an integer >= 1'
    """

    name: str
    group: str
    type: type
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    open_minimum: bool = False
    open_maximum: bool = False
    choices: tuple | Callable | None = None
    nullable: bool = False
    literals: tuple = ()
    check: Callable | None = None
    resumable: bool = False

    def allowed(self):
        """The accepted choices as a list, or None when the key has no fixed choices."""
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    def _bounds_text(self):
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f" in {'(' if self.open_minimum else '['}{low}, {high}{')' if self.open_maximum else ']'}"
        if low is not None:
            return f" {'>' if self.open_minimum else '>='} {low}"
        if high is not None:
            return f" {'<' if self.open_maximum else '<='} {high}"
        return ""

    def accepted(self):
        """What the key accepts, in words (used in error messages, `--help` and the docs)."""
        allowed = self.allowed()
        text = f"one of {allowed}" if allowed is not None else _TYPE_WORDS[self.type] + self._bounds_text()
        prefix = [repr(v) for v in self.literals] + (["None"] if self.nullable else [])
        return " or ".join(prefix + [text])

    def _is_literal(self, value):
        return any(type(value) is type(literal) and value == literal for literal in self.literals)

    def _has_type(self, value):
        if self.type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if self.type is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, self.type)

    def validate(self, value):
        """Returns `value` when the key accepts it.

        Raises:
            ValueError: naming the key, the value and what is accepted.
        """
        if (value is None and self.nullable) or self._is_literal(value):
            return value
        if not self._has_type(value):
            raise ValueError(f"{self.name} must be {self.accepted()}, got {value!r}.")
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            if self.type is str:
                raise ValueError(f"Unknown {self.name} {value!r}. Expected one of {allowed}.")
            raise ValueError(f"{self.name} must be {self.accepted()}, got {value!r}.")
        low, high = self.minimum, self.maximum
        if (low is not None and (value < low or (self.open_minimum and value == low))) or (
            high is not None and (value > high or (self.open_maximum and value == high))
        ):
            raise ValueError(f"{self.name} must be {self.accepted()}, got {value!r}.")
        if self.check is not None:
            self.check(value)
        return value

    @property
    def flag_is_bool(self):
        """Whether the flag is an absl boolean (`--name` / `--noname`) rather than a text flag."""
        return self.type is bool and not self.literals and not self.nullable

    @property
    def metavar(self):
        """Placeholder of the flag's value in `--help` (`--steps=INT`)."""
        if self.allowed() is not None and self.type is str:
            joined = "|".join(self.allowed())
            return joined if len(joined) <= 40 else "NAME"
        names = {int: "INT", float: "FLOAT", str: "TEXT", dict: "JSON", bool: "BOOL"}
        return "|".join([str(v) for v in self.literals] + [names[self.type]] + (["none"] if self.nullable else []))

    def parse(self, text, flag=None):
        """The value of the flag text `--name=text` (not yet checked by `validate`).

        Args:
            text: the flag's text.
            flag: the flag's name for the message (default: the key's name; e.g. "lr").

        Raises:
            ValueError: when the text is not of the key's type, naming the flag and what is accepted.
        """
        stripped = str(text).strip()
        allowed = self.allowed()
        if self.type is str and allowed is not None and stripped in allowed:
            return stripped  # a choice first: `--prune_augment_mode=none` is the mode "none", not None
        if self.nullable and stripped.lower() in ("none", "null"):
            return None
        for literal in self.literals:
            if isinstance(literal, str) and stripped == literal:
                return literal
        try:
            if self.type is int:
                return int(stripped)
            if self.type is float:
                return float(stripped)
            if self.type is bool:
                return {"true": True, "1": True, "false": False, "0": False}[stripped.lower()]
            if self.type is dict:
                value = json.loads(stripped)
                if not isinstance(value, dict):
                    raise ValueError(value)
                return value
        except (ValueError, KeyError):
            raise ValueError(f"--{flag or self.name}={text!r} is not {self.accepted()}.") from None
        return str(text)


def _preset_names():
    from tf_diffaug.experiment import presets

    return sorted(presets.PRESETS)


def _network_preset_names():
    from tf_diffaug.networks import presets

    return sorted(presets.PRESETS)


def _check_split(value):
    splits.parse_split(value)


def _check_name(key):
    def check(value):
        if not value.strip():
            raise ValueError(f"{key} must be a non-empty string, got {value!r}.")

    return check


def _check_kwargs(value):
    bad = sorted(repr(k) for k in value if not isinstance(k, str))
    if bad:
        raise ValueError(f"network_kwargs keys must be strings (option names of td.networks.get), got {bad}.")


def _check_policy(value):
    policy_names.split_policy(value)


_N = dict(minimum=1)  # a count: integer >= 1
_Z = dict(minimum=0)  # integer or number >= 0
_UNIT = dict(minimum=0, maximum=1)  # a probability or decay in [0, 1]
_DECAY = dict(minimum=0, maximum=1, open_maximum=True)  # [0, 1)
_POSITIVE = dict(minimum=0, open_minimum=True)

#: Every configuration key, grouped. Names are the public configuration API: never rename one.
# fmt: off
KEYS = (
    # data ------------------------------------------------------------------------------------------
    Key("dataset", "data", str, "emoji-faces", "td.data name (emoji-faces, fashion-mnist, a prepared tfds name such as cifar10) or an image folder.", check=_check_name("dataset")),
    Key("split", "data", str, "train", "Dataset split: " + splits.SPLIT_HELP + ".", check=_check_split),
    Key("subset_size", "data", int, None, "Train on a seeded random subset of this many images of the split (none: all of it); the DiffAugment BigGAN-CIFAR 10 %/20 % runs use 5000/10000 of CIFAR-10 train (datasets.py l.316-321).", nullable=True, **_N),
    Key("subset_seed", "data", int, 0, "Seed of that subset: numpy RandomState(seed).choice over the split's original order (the official scripts: --seed 0); none: the first subset_size images of that order (Chen et al.).", minimum=0, maximum=2**32 - 1, nullable=True),
    Key("resolution", "data", int, 64, "Image size in pixels (square); one the network builds: " + ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in network_catalog.RESOLUTIONS.items()) + ".", **_N),
    Key("channels", "data", int, 3, "Image channels (1: grey, 3: RGB).", choices=(1, 3)),
    Key("num_classes", "data", int, None, "Classes of a class-conditional GAN (labels from the dataset), or none for an unconditional one.", minimum=2, nullable=True),
    Key("conditional", "data", bool, False, "Class-conditional training with the dataset's labels: for an image folder its immediate sub-folders are the classes (sorted names, written to classes.json; at least 2, no image directly in the folder); num_classes follows."),
    Key("mirror", "data", bool, False, "Random horizontal flips of the training images (x-flips)."),
    Key("crop", "data", str, "center", "How non-square images become square: center (shorter side to resolution, central square), pad (longer side to resolution, margins in alpha_background) or none (both sides resized, aspect not kept).", choices=CROP_MODES),
    Key("alpha_background", "data", str, "white", "Colour transparent pixels (RGBA, grey + alpha, palette transparency) are composited on, and of pad margins.", choices=ALPHA_BACKGROUNDS),
    # network ---------------------------------------------------------------------------------------
    Key("network", "network", str, "dcgan", "Architecture of G and D (td.networks.get).", choices=network_catalog.NETWORKS),
    Key("network_preset", "network", str, None, "td.networks.PRESETS entry whose architecture and training values the preset starts from.", choices=_network_preset_names, nullable=True),
    Key("network_kwargs", "network", dict, {}, 'td.networks.get options as a JSON object, e.g. \'{"width": 16}\' (merged over the preset\'s).', check=_check_kwargs),
    Key("latent_dim", "network", int, 128, "Size of the latent vector z.", **_N),
    Key("init_from", "network", str, None, "Start a new run from the G, D and EMA-G weights of a run folder (its last finite checkpoint) or of one of its checkpoints/ckpt-XXXXXX.weights.h5 files; not its optimizer state or step (fine-tuning). config.json records the weights file.", nullable=True, check=_check_name("init_from")),
    Key("freeze_d", "network", int, 0, "Keep D's first N blocks (from the input side, as the network defines them) fixed: FreezeD, Mo et al. 2020 (arXiv:2002.10964); 0: train all of D.", **_Z),
    # augmentation ----------------------------------------------------------------------------------
    Key("policy", "augmentation", str, "color,translation,cutout", "DiffAugment ops, comma-separated, applied in order ('' for none).", check=_check_policy),
    Key("augment_mode", "augmentation", str, "both", "Where DiffAugment is applied: both (DiffAugment), real_only, d_only (the paper's failure modes) or none.", choices=tuple(modes.AUGMENT_MODES)),
    Key("adaptive", "augmentation", bool, False, "Adapt the augmentation probability p (ADA controller, Karras et al. 2020); else every sample is augmented."),
    Key("ada_target", "augmentation", float, 0.6, "ADA target of r_t = E[sign(D(T(real)))].", **_UNIT),
    Key("ada_interval", "augmentation", int, 4, "Steps between two adjustments of p.", **_N),
    Key("ada_kimg", "augmentation", float, 500.0, "Thousands of real images for p to go from 0 to 1 (ADA: 500).", **_POSITIVE),
    # objective -------------------------------------------------------------------------------------
    Key("loss", "objective", str, "hinge", "Adversarial loss pair.", choices=modes.LOSSES),
    Key("g_lr", "objective", float, 2e-4, "Adam learning rate of G (--lr sets both rates).", **_POSITIVE),
    Key("d_lr", "objective", float, 2e-4, "Adam learning rate of D (--lr sets both rates).", **_POSITIVE),
    Key("beta_1", "objective", float, 0.5, "Adam beta_1 of both optimizers.", **_DECAY),
    Key("beta_2", "objective", float, 0.999, "Adam beta_2 of both optimizers.", **_DECAY),
    Key("adam_epsilon", "objective", float, 1e-7, "Adam epsilon of both optimizers (1e-7: Keras' default; PyTorch's is 1e-8).", **_POSITIVE),
    Key("lr_decay", "objective", str, "none", "Learning-rate schedule of both optimizers: none (constant) or linear (to 0 at the last step, as Miyato et al.'s SNGAN code; D's over its d_steps x steps updates).", choices=LR_DECAYS),
    Key("d_steps", "objective", int, 1, "Discriminator updates per generator step (BigGAN-CIFAR: 4, SNGAN: 5).", **_N),
    Key("r1_gamma", "objective", float, 0.0, "R1 penalty weight gamma (gamma / 2 * ||grad D||^2 on reals); 0: off.", **_Z),
    Key("r1_through_augment", "objective", bool, True, "R1 gradient w.r.t. the un-augmented reals through T (grad_x D(T(x))); --nor1_through_augment: w.r.t. T(x)."),
    Key("cr_weight", "objective", float, 0.0, "Consistency regularization weight, (D(T(real)) - D(real))^2 (10 in the DiffAugment comparison); 0: off.", **_Z),
    Key("lecam_weight", "objective", float, 0.0, "LeCam regularization weight (Tseng et al. 2021); 0: off.", **_Z),
    Key(
        "lecam_decay",
        "objective",
        float,
        0.9,
        "Decay of the LeCam anchors' moving averages (0.9: google/lecam-gan ema_losses).",
        **_DECAY,
    ),
    Key(
        "lecam_start_step",
        "objective",
        int,
        0,
        "LeCam's start_itr (1000 in lecam-gan): before it the anchors copy the batch means; the term "
        "is added at steps > it.",
        **_Z,
    ),
    Key("ema_decay", "objective", float, 0.999, "Decay of the EMA generator used for samples and FID (0: the EMA copy is G).", **_UNIT),
    Key("ema_start_step", "objective", int, 0, "Steps before the EMA starts averaging (it copies G until then).", **_Z),
    Key("advaug_gamma", "objective", float, 0.0, "AdvAug step size on D's and G's features (Chen et al. 2021: 0.01); 0: off.", **_Z),
    Key("advaug_g_layer", "objective", str, "g_stem", "Generator layer whose output AdvAug perturbs (g_stem: the linear stem, as Chen et al.'s functions_adv.py only_l1=True; D's is its penultimate features).", check=_check_name("advaug_g_layer")),
    # schedule --------------------------------------------------------------------------------------
    Key("batch_size", "schedule", int, 32, "Global batch of one update (split over the replicas); a step reads d_steps x batch_size real images, one batch per D update.", **_N),
    Key("g_batch_size", "schedule", int, None, "Latents of the G update (none: batch_size); Chen et al.'s and Miyato et al.'s SNGAN: 128 with batch_size 64.", nullable=True, **_N),
    Key("steps", "schedule", int, 1000, "Total generator steps (train_step calls); the last step is always logged, evaluated and checkpointed.", resumable=True, **_N),
    Key("log_every", "schedule", int, 50, "Steps between log points (metrics.jsonl lines, progress lines).", resumable=True, **_N),
    Key("eval_every", "schedule", int, 500, "Steps between FID/KID evaluations.", resumable=True, **_N),
    Key("checkpoint_every", "schedule", int, 250, "Steps between checkpoints and sample grids.", resumable=True, **_N),
    # evaluation ------------------------------------------------------------------------------------
    Key("fid_samples", "evaluation", int, 500, "Generated images per FID/KID evaluation (0: no evaluation; 1 is refused).", resumable=True, **_Z),
    Key("fid_batch_size", "evaluation", int, 50, "Batch size of generation and Inception features during evaluation (with sample_bn_mode=train also the batch-norm batch).", resumable=True, **_N),
    Key("fid_reference_split", "evaluation", str, None, "Split whose images (all of them, no subset) are the FID/KID reference, e.g. test (the DiffAugment BigGAN-CIFAR code); none: the training images.", nullable=True, check=_check_split),
    Key("sample_bn_mode", "evaluation", str, "eval", "Batch norm of the EMA generator when sampling for FID/KID and grids: eval (running statistics) or train (each batch's statistics, as the BigGAN-CIFAR code's G_ema.train()).", choices=SAMPLE_BN_MODES),
    Key("fid_resize", "evaluation", str, "legacy_tensorflow", "How FID/KID resize images to 299x299: legacy_tensorflow (the TF1 bilinear of the papers' FID) or clean (clean-fid's PIL bicubic per channel in float; Parmar et al., CVPR 2022, arXiv:2104.11222).", choices=FID_RESIZE_MODES),
    Key("fid_statistics_dir", "evaluation", str, None, "Cache of the FID reference statistics, one file per dataset, split, resolution, data options and fid_resize, reused by later runs (none: <workdir>/fid_statistics).", nullable=True, check=_check_name("fid_statistics_dir")),
    Key("grid_size", "evaluation", int, 36, "Images per sample grid (samples/step-XXXXXX.png).", resumable=True, **_N),
    # lottery ---------------------------------------------------------------------------------------
    Key("prune_rounds", "lottery", int, 0, "IMP rounds before training (0: the dense networks).", **_Z),
    Key("prune_fraction", "lottery", float, 0.2, "Share of the remaining G (and D) kernel weights pruned per round.", minimum=0, maximum=1, open_minimum=True, open_maximum=True),
    Key("prune_steps", "lottery", int, None, "Training steps per IMP round (none: --steps, as in the paper).", nullable=True, **_N),
    Key("prune_scope", "lottery", str, "all", "Kernels IMP prunes: all (conv and dense) or conv (convolutions only, Chen et al.'s utils.py pruning_generate).", choices=PRUNE_SCOPES),
    Key("prune_rank_on", "lottery", str, "generator", "Whose magnitudes rank G's weights each round: generator or ema (the EMA generator, Chen et al.'s ticket).", choices=PRUNE_RANK_ON),
    Key("prune_augment_mode", "lottery", str, None, "augment_mode of the IMP rounds (null: augment_mode); Chen et al. find the SNGAN ticket without DiffAugment (none).", choices=tuple(modes.AUGMENT_MODES), nullable=True),
    Key("prune_advaug_gamma", "lottery", float, None, "advaug_gamma of the IMP rounds (none: advaug_gamma); Chen et al.: 0, AdvAug only when training the ticket.", nullable=True, **_Z),
    Key("rewind", "lottery", int, "init", "Rewind the survivors to 'init' or to step k < the round's steps (late rewinding).", literals=("init",), **_Z),
    Key("prune_discriminator", "lottery", bool, False, "Also prune D's kernels each round."),
    Key("reset_discriminator", "lottery", bool, True, "Rewind D after each round (--noreset_discriminator: keep training it)."),
    # execution -------------------------------------------------------------------------------------
    Key("preset", "execution", str, None, "Named configuration the run starts from (see the presets below).", choices=_preset_names, nullable=True),
    Key("source", "execution", str, "", "Where the settings come from (the preset's citation), kept in config.json."),
    Key("strategy", "execution", str, "default", "tf.distribute strategy (multiworker reads TF_CONFIG).", choices=STRATEGIES, resumable=True),
    Key("mixed_precision", "execution", bool, False, "Train with the mixed_float16 policy (mixed_bfloat16 on TPU)."),
    Key("jit_compile", "execution", bool, "auto", "XLA-compile the train step: auto (Keras decides), true or false.", literals=("auto",), resumable=True),
    Key("seed", "execution", int, 0, "Random seed of weights, data order, augmentations and latents.", **_Z),
)
# fmt: on

#: The keys by name.
KEY = {key.name: key for key in KEYS}

#: Flags that are not keys: `--lr` sets both learning rates.
ALIASES = {"lr": ("g_lr", "d_lr")}
ALIAS_HELP = {"lr": "Learning rate of both G and D (sets g_lr and d_lr)."}

#: Keys that may differ from the saved config.json when a run is resumed.
RESUMABLE_KEYS = tuple(key.name for key in KEYS if key.resumable)


def defaults():
    """A new dict of every key with its default value, in schema order.

    Example:
        >>> defaults()["steps"], len(defaults()) == len(KEYS)
        (1000, True)
    """
    return {key.name: copy.deepcopy(key.default) for key in KEYS}


def keys_of(group):
    """The keys of `group` (one of `GROUP_NAMES`), in schema order."""
    if group not in GROUP_NAMES:
        raise ValueError(f"Unknown group {group!r}. Expected one of {list(GROUP_NAMES)}.")
    return [key for key in KEYS if key.group == group]


def ordered(config):
    """`config` with the schema keys first, in schema order (for config.json and `--dry_run`)."""
    known = {name: config[name] for name in KEY if name in config}
    return dict(known, **{k: v for k, v in config.items() if k not in KEY})


if __name__ == "__main__":
    from tf_diffaug.experiment import usage

    usage.main()
