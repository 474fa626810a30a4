"""absl flags generated from the configuration schema (`tf_diffaug.experiment.schema.KEYS`).

Every configuration key is a flag of the same name (plus `--lr` for both learning rates). Flags
default to None, so an unset flag falls through to the preset; booleans are absl booleans
(`--mirror`, `--nomirror`), everything else is read as text and converted by `Key.parse`
(`--num_classes=none`, `--rewind=init`, `--network_kwargs='{"width": 16}'`).

Example:
    >>> from absl import flags
    >>> values = flags.FlagValues()
    >>> define_config_flags(values)
    >>> _ = values(["train", "--steps=400", "--nomirror", "--lr=1e-3"])
    >>> overrides_from_flags(values)
    {'mirror': False, 'steps': 400, 'lr': 0.001}
"""

from absl import flags

from tf_diffaug.experiment import schema


def define_config_flags(flag_values=flags.FLAGS):
    """Defines one flag per schema key (and per alias) on `flag_values`, all defaulting to None."""
    for key in schema.KEYS:
        text = f"{key.help} [{key.group}]"
        if key.flag_is_bool:
            flags.DEFINE_bool(key.name, None, text, flag_values=flag_values)
        else:
            flags.DEFINE_string(key.name, None, f"{text} Accepts {key.accepted()}.", flag_values=flag_values)
    for alias, text in schema.ALIAS_HELP.items():
        flags.DEFINE_string(alias, None, text, flag_values=flag_values)


def overrides_from_flags(flag_values=flags.FLAGS):
    """Returns {key: value} for the schema flags set on the command line, in schema order.

    Raises:
        ValueError: for a flag text that is not of the key's type, naming the flag and what it accepts.
    """
    overrides = {}
    for key in schema.KEYS:
        value = flag_values[key.name].value
        if value is not None:
            overrides[key.name] = value if key.flag_is_bool else key.parse(value)
    for alias, targets in schema.ALIASES.items():
        value = flag_values[alias].value
        if value is not None:
            overrides[alias] = schema.KEY[targets[0]].parse(value, flag=alias)
    return overrides
