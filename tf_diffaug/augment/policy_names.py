"""Policy strings and the registered op names, as plain Python (no Keras or TensorFlow import).

A DiffAugment policy is a comma-separated string of names (Zhao et al., NeurIPS 2020,
arXiv:2006.10738: ``"color,translation,cutout"``); ``""`` is the identity. ``split_policy`` is the
one parser: ``td.DiffAugment`` (through ``td.augment.parse_policy``) and configuration validation
both call it, and ``td.augment.register_policy`` adds names here, so a validated configuration
accepts exactly what the layer accepts.

Example:
    >>> split_policy(" color, cutout")
    ['color', 'cutout']
"""

BUILTIN_NAMES = ("color", "translation", "cutout")
_NAMES = set(BUILTIN_NAMES)


def add_name(name):
    """Records ``name`` as a policy name (called by ``td.augment.register_policy``)."""
    _NAMES.add(name)


def remove_name(name):
    """Forgets a name added with ``add_name`` (built-in names stay)."""
    if name not in BUILTIN_NAMES:
        _NAMES.discard(name)


def registered_names():
    """The sorted list of policy names accepted now (built-ins plus ``register_policy`` additions)."""
    return sorted(_NAMES)


def split_policy(policy, known=None):
    """Splits a policy string into its op names, in string order.

    Args:
        policy: comma-separated names; whitespace around names is ignored; ``""`` gives ``[]``.
        known: accepted names (default: ``registered_names()``).

    Returns:
        A list of names.

    Raises:
        ValueError: for a non-string, an empty item or an unknown name, naming it and the
            accepted names.
    """
    if not isinstance(policy, str):
        raise ValueError(f"policy must be a comma-separated string, got policy={policy!r}.")
    if policy.strip() == "":
        return []
    known = registered_names() if known is None else sorted(known)
    names = []
    for item in policy.split(","):
        name = item.strip()
        if not name:
            raise ValueError(
                f"Empty item in policy {policy!r}: remove the extra comma. "
                f"Expected names from {known} separated by single commas."
            )
        if name not in known:
            raise ValueError(f"Unknown op {name!r} in policy {policy!r}. Expected one of {known}.")
        names.append(name)
    return names
