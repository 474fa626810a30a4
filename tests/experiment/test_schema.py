"""The configuration schema: keys, defaults, accepted values, presets checked against it, imports.

Expected values are written out here (the public key names, today's defaults) or read from the
library's own signatures (`td.GAN.compile`, `keras.optimizers.Adam`), never from the schema itself.
"""

import inspect
import json
import math

import pytest

from tests.helpers import processes
from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import presets as presets_lib
from tf_diffaug.experiment import schema

# The public configuration API (issues 12 and 13): existing keys, the keys added for every library
# setting (12) and for the official protocols of the paper presets (13).
PUBLIC_KEYS = {
    "data": [
        "dataset",
        "split",
        "subset_size",
        "subset_seed",
        "resolution",
        "channels",
        "num_classes",
        "conditional",
        "mirror",
        "crop",
        "alpha_background",
    ],
    "network": ["network", "network_preset", "network_kwargs", "latent_dim", "init_from", "freeze_d"],
    "augmentation": ["policy", "augment_mode", "adaptive", "ada_target", "ada_interval", "ada_kimg"],
    "objective": [
        "loss",
        "g_lr",
        "d_lr",
        "beta_1",
        "beta_2",
        "adam_epsilon",
        "lr_decay",
        "d_steps",
        "r1_gamma",
        "r1_through_augment",
        "cr_weight",
        "lecam_weight",
        "lecam_decay",
        "lecam_start_step",
        "ema_decay",
        "ema_start_step",
        "advaug_gamma",
        "advaug_g_layer",
    ],
    "schedule": ["batch_size", "g_batch_size", "steps", "log_every", "eval_every", "checkpoint_every"],
    "evaluation": [
        "fid_samples",
        "fid_batch_size",
        "fid_reference_split",
        "sample_bn_mode",
        "fid_resize",
        "fid_statistics_dir",
        "grid_size",
    ],
    "lottery": [
        "prune_rounds",
        "prune_fraction",
        "prune_steps",
        "prune_scope",
        "prune_rank_on",
        "prune_augment_mode",
        "prune_advaug_gamma",
        "rewind",
        "prune_discriminator",
        "reset_discriminator",
    ],
    "execution": ["preset", "source", "strategy", "mixed_precision", "jit_compile", "seed"],
}


def test_keys_are_the_public_names_in_their_groups():
    assert [name for name, _ in schema.GROUPS] == list(PUBLIC_KEYS)
    assert {group: [k.name for k in schema.keys_of(group)] for group in PUBLIC_KEYS} == PUBLIC_KEYS
    assert len(schema.KEYS) == len(schema.KEY) == sum(map(len, PUBLIC_KEYS.values())) == 70
    assert list(presets_lib.DEFAULTS) == [name for names in PUBLIC_KEYS.values() for name in names]
    assert schema.RESUMABLE_KEYS == (
        "steps",
        "log_every",
        "eval_every",
        "checkpoint_every",
        "fid_samples",
        "fid_batch_size",
        "grid_size",
        "strategy",
        "jit_compile",
    )


@pytest.mark.parametrize("key", schema.KEYS, ids=lambda key: key.name)
def test_every_default_is_accepted_and_round_trips_through_json(key):
    assert key.validate(key.default) is key.default
    assert json.loads(json.dumps(key.default)) == key.default
    assert key.help.endswith((".", ")")) and "\n" not in key.help
    if key.type is float:  # a float key holds floats (ints are accepted from users, not used as defaults)
        assert isinstance(key.default, float) or (key.nullable and key.default is None)


def test_defaults_keep_the_libraries_behaviour():
    # td.GAN.compile's and Keras Adam's own defaults: a run without overrides trains as before.
    import keras

    import tf_diffaug as td

    compile_defaults = {n: p.default for n, p in inspect.signature(td.GAN.compile).parameters.items()}
    for name in ("r1_through_augment", "cr_weight", "lecam_weight", "lecam_decay", "lecam_start_step", "ada_kimg"):
        assert schema.KEY[name].default == compile_defaults[name], name
        assert type(schema.KEY[name].default) in (type(compile_defaults[name]), float), name
    assert schema.KEY["ada_interval"].default == compile_defaults["ada_interval"] == 4
    assert schema.KEY["d_steps"].default == compile_defaults["d_steps"] == 1
    assert schema.KEY["adam_epsilon"].default == inspect.signature(keras.optimizers.Adam).parameters["epsilon"].default
    gan_defaults = {n: p.default for n, p in inspect.signature(td.GAN.__init__).parameters.items()}
    for name in ("ema_start_step", "advaug_gamma", "advaug_g_layer"):
        assert schema.KEY[name].default == gan_defaults[name], name
    assert schema.KEY["g_batch_size"].default is compile_defaults["g_batch_size"] is None
    # Issue 13: the data, evaluation and lottery keys default to the library's own behaviour.
    load_defaults = {n: p.default for n, p in inspect.signature(td.data.load).parameters.items()}
    assert (schema.KEY["subset_size"].default, schema.KEY["subset_seed"].default) == (
        load_defaults["subset_size"],
        load_defaults["subset_seed"],
    )
    fid_defaults = inspect.signature(td.metrics.FIDCallback).parameters
    assert fid_defaults["generator_training"].default is False and schema.KEY["sample_bn_mode"].default == "eval"
    ticket_defaults = {n: p.default for n, p in inspect.signature(td.lottery.find_ticket).parameters.items()}
    assert schema.KEY["prune_scope"].default == ticket_defaults["prune_scope"] == "all"
    assert schema.KEY["prune_rank_on"].default == ticket_defaults["rank_on"] == "generator"
    from tf_diffaug.lottery import masks, ticket

    assert schema.KEY["prune_scope"].allowed() == list(masks.PRUNE_SCOPES)
    assert schema.KEY["prune_rank_on"].allowed() == list(ticket.RANK_ON)
    assert (schema.KEY["ada_target"].default, schema.KEY["ada_kimg"].default) == (0.6, 500.0)  # ADA paper values


@pytest.mark.parametrize(
    "name, good, bad, message",
    [
        ("steps", [1, 400], [0, -3, 2.0, True, "400"], "steps must be an integer >= 1, got "),
        ("fid_samples", [0, 2], [-1], "fid_samples must be an integer >= 0, got -1."),
        ("beta_1", [0, 0.0, 0.9], [1.0, -0.1, float("nan")], "beta_1 must be a number in [0, 1), got "),
        ("ada_target", [0, 1], [1.01], "ada_target must be a number in [0, 1], got 1.01."),
        ("adam_epsilon", [1e-8, 1], [0.0, -1e-8], "adam_epsilon must be a number > 0, got "),
        ("prune_fraction", [0.5], [0, 1], "prune_fraction must be a number in (0, 1), got "),
        ("num_classes", [None, 2, 10], [1, 0, "10"], "num_classes must be None or an integer >= 2, got "),
        ("rewind", ["init", 0, 5], ["late", -1, 1.5], "rewind must be 'init' or an integer >= 0, got "),
        ("jit_compile", ["auto", True, False], ["xla", 1, None], "jit_compile must be 'auto' or True or False, got "),
        ("mirror", [True, False], [1, "yes", None], "mirror must be True or False, got "),
        ("channels", [1, 3], [2, 4], "channels must be one of [1, 3], got "),
        ("network_kwargs", [{}, {"width": 8}], [[1], "{}"], "network_kwargs must be a JSON object (dict), got "),
        ("subset_size", [None, 1, 5000], [0, 2.0, "5000"], "subset_size must be None or an integer >= 1, got "),
        (
            "subset_seed",
            [None, 0, 2**32 - 1],
            [-1, 2**32, 1.0],
            "subset_seed must be None or an integer in [0, 4294967295], got ",
        ),
        ("g_batch_size", [None, 128], [0, 64.0], "g_batch_size must be None or an integer >= 1, got "),
        ("prune_advaug_gamma", [None, 0, 0.01], [-0.01], "prune_advaug_gamma must be None or a number >= 0, got "),
    ],
)
def test_key_validation_accepts_and_refuses(name, good, bad, message):
    key = schema.KEY[name]
    for value in good:
        assert key.validate(value) == value or value != value
    for value in bad:
        with pytest.raises(ValueError) as info:
            key.validate(value)
        assert str(info.value).startswith(message) and repr(value) in str(info.value), (value, str(info.value))


def test_choice_keys_name_the_known_values():
    from tf_diffaug.gan import modes
    from tf_diffaug.networks import catalog
    from tf_diffaug.networks import presets as network_presets

    for name, expected in (
        ("loss", list(modes.LOSSES)),
        ("augment_mode", list(modes.AUGMENT_MODES)),
        ("network", sorted(catalog.RESOLUTIONS)),
        ("preset", sorted(presets_lib.PRESETS)),
        ("network_preset", sorted(network_presets.PRESETS)),
        ("strategy", ["default", "mirrored", "multiworker", "tpu"]),
        ("lr_decay", ["none", "linear"]),
        ("sample_bn_mode", ["eval", "train"]),
        ("prune_scope", ["all", "conv"]),
        ("prune_rank_on", ["generator", "ema"]),
        ("prune_augment_mode", list(modes.AUGMENT_MODES)),
    ):
        assert schema.KEY[name].allowed() == expected
        with pytest.raises(ValueError) as info:
            schema.KEY[name].validate("nope")
        assert str(info.value) == f"Unknown {name} 'nope'. Expected one of {expected}."
    with pytest.raises(ValueError, match=r"Unknown op 'flip' in policy 'color,flip'"):
        schema.KEY["policy"].validate("color,flip")
    for name in ("split", "fid_reference_split"):
        with pytest.raises(ValueError, match=r"Bad split 'train\[:10'"):
            schema.KEY[name].validate("train[:10")
    assert schema.KEY["fid_reference_split"].validate(None) is None
    assert schema.KEY["prune_augment_mode"].validate(None) is None
    with pytest.raises(ValueError, match=r"^advaug_g_layer must be a non-empty string, got ' '.$"):
        schema.KEY["advaug_g_layer"].validate(" ")


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("steps", "400", 400),
        ("g_lr", "1e-3", 1e-3),
        ("num_classes", "none", None),
        ("num_classes", "10", 10),
        ("prune_steps", "None", None),
        ("rewind", "init", "init"),
        ("rewind", "7", 7),
        ("jit_compile", "auto", "auto"),
        ("jit_compile", "false", False),
        ("jit_compile", "True", True),
        ("network_kwargs", '{"width": 8}', {"width": 8}),
        ("policy", "", ""),
        ("dataset", "data/my faces", "data/my faces"),
        # "none" is one of the augment modes: the flag text is that mode; null is the key's None.
        ("prune_augment_mode", "none", "none"),
        ("prune_augment_mode", "null", None),
        ("fid_reference_split", "none", None),
        ("fid_reference_split", "test", "test"),
        ("subset_size", "5000", 5000),
        ("g_batch_size", "none", None),
    ],
)
def test_flag_text_is_parsed_by_type(name, text, value):
    parsed = schema.KEY[name].parse(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("steps", "4e2", "--steps='4e2' is not an integer >= 1."),
        ("g_lr", "fast", "--g_lr='fast' is not a number > 0."),
        ("rewind", "late", "--rewind='late' is not 'init' or an integer >= 0."),
        ("jit_compile", "xla", "--jit_compile='xla' is not 'auto' or True or False."),
        ("network_kwargs", "[1]", "--network_kwargs='[1]' is not a JSON object (dict)."),
        ("num_classes", "ten", "--num_classes='ten' is not None or an integer >= 2."),
    ],
)
def test_bad_flag_text_names_the_flag(name, text, message):
    with pytest.raises(ValueError) as info:
        schema.KEY[name].parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize("name", sorted(presets_lib.PRESETS))
def test_presets_are_plain_data_checked_against_the_schema(name):
    preset = presets_lib.PRESETS[name]
    assert set(preset) - set(presets_lib.INFO_KEYS) <= set(schema.KEY), sorted(set(preset) - set(schema.KEY))
    for key, value in preset.items():
        if key in schema.KEY:
            assert schema.KEY[key].validate(value) == value
        json.dumps(value)  # plain data: JSON values only
    description = preset["description"]
    assert description and "\n" not in description and len(description) <= 110 and description.endswith(".")
    assert "description" not in config_lib.resolve_config(name)


def test_a_preset_with_an_unknown_or_bad_key_is_refused(monkeypatch):
    monkeypatch.setitem(presets_lib.PRESETS, "broken", {"description": "x.", "stepz": 10})
    with pytest.raises(ValueError, match=r"Unknown configuration key\(s\) \['stepz'\] in preset 'broken'"):
        config_lib.resolve_config("broken")
    monkeypatch.setitem(presets_lib.PRESETS, "broken", {"description": "x.", "lecam_decay": 1.0})
    with pytest.raises(ValueError, match=r"^lecam_decay must be a number in \[0, 1\), got 1.0.$"):
        config_lib.resolve_config("broken")


def test_ordered_puts_schema_keys_first_in_schema_order():
    config = config_lib.resolve_config()
    shuffled = dict(sorted(config.items(), reverse=True))
    assert list(schema.ordered(shuffled)) == [key.name for key in schema.KEYS]
    assert schema.ordered(shuffled) == config


@pytest.mark.slow  # a fresh interpreter
def test_schema_config_and_help_import_no_tensorflow():
    import subprocess
    import textwrap

    code = textwrap.dedent(
        """
        import json, sys
        import tf_diffaug.experiment.config as config
        from tf_diffaug.experiment import schema, schedule, usage
        c = config.resolve_config("fewshot-cpu", steps=130, log_every=20, eval_every=50, checkpoint_every=40)
        text = usage.help_text() + usage.markdown_table()
        s = schedule.Schedule.from_config(c)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tensorflow_datasets", "PIL"))
        print(json.dumps({"heavy": heavy, "epoch_steps": s.epoch_steps, "help": len(text)}))
        """
    )
    proc = subprocess.run(
        processes.python_command("-c", code), capture_output=True, text=True, timeout=120, env=processes.environment()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [] and report["epoch_steps"] == math.gcd(130, 20, 50, 40) and report["help"] > 5000
