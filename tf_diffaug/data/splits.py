"""tfds-style split strings, parsed without TensorFlow: the one home of split slicing.

The grammar and the rounding are tfds' (https://www.tensorflow.org/datasets/splits,
``tfds.core.ReadInstruction`` with ``rounding="closest"``): terms joined by ``+``, each a split name
with an optional ``[from:to]`` slice whose bounds are absolute example indices or percents (``%``, decimals allowed),
negative values counting from the end. A percent bound ``p`` of ``n`` examples is
``round(p * n / 100)`` (Python rounding, as tfds). Local sources (the embedded set, the Fashion-MNIST
files, image folders) and configuration validation both resolve splits here, so a count printed
by ``--dry_run`` is the count the loader reads; a test checks the results against tfds itself.

Example:
    >>> split_ranges("train[:1%]+test[-5:]", {"train": 60000, "test": 10000}, "fashion-mnist")
    [('train', 0, 600), ('test', 9995, 10000)]
"""

import re

SPLIT_HELP = (
    "a split name with optional tfds slicing, e.g. 'train', 'train[:10%]', 'train[100:200]', "
    "'train[-5%:]' or 'train+test' (https://www.tensorflow.org/datasets/splits)"
)

_TERM = re.compile(r"^(?P<name>\w[\w-]*)(?:\[(?P<from>-?[\d.]*)(?P<from_pct>%?):(?P<to>-?[\d.]*)(?P<to_pct>%?)\])?$")


def subset_indices(num_examples, subset_size, seed=0):
    """The examples a subset keeps: sorted indices into a split's original order.

    ``numpy.random.RandomState(seed).choice(num_examples, subset_size, replace=False)``, as the
    official DiffAugment BigGAN-CIFAR code draws its 10 % / 20 % CIFAR-10 subsets
    (mit-han-lab/data-efficient-gans, ``DiffAugment-biggan-cifar/datasets.py`` l.316-321, seed 0),
    so ``subset_size=5000, subset_seed=0`` on CIFAR-10 ``train`` selects the images of the published
    10 % runs (a ``train[:10%]`` slice selects others). ``seed=None`` keeps the first
    ``subset_size`` examples of the original order, as Chen et al.'s code takes its 10 % of CIFAR-10
    (VITA-Group/Ultra-Data-Efficient-GAN-Training ``datasets.py`` l.103-104,
    ``Subset(dataset, np.arange(len(dataset) * ratio))``).

    Args:
        num_examples: size of the split (or slice) being subsampled.
        subset_size: how many examples to keep, ``1 <= subset_size <= num_examples``.
        seed: seed of the draw, or None for the first ``subset_size`` examples.

    Returns:
        int64 NumPy array of the kept indices, sorted.

    Example:
        >>> subset_indices(10, 3, seed=0).tolist()
        [2, 4, 8]
        >>> subset_indices(10, 3, seed=None).tolist()
        [0, 1, 2]
    """
    import numpy as np

    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or not 1 <= subset_size <= num_examples:
        raise ValueError(
            f"subset_size must be an integer in [1, {num_examples}] (the examples of the split), got {subset_size!r}."
        )
    if seed is None:
        return np.arange(subset_size, dtype=np.int64)
    chosen = np.random.RandomState(seed).choice(num_examples, subset_size, replace=False)
    return np.sort(chosen).astype(np.int64)


def parse_split(split):
    """Parses a split string into ``[(name, from, from_is_pct, to, to_is_pct), ...]``.

    Bounds are ints or None (open). Raises a ValueError naming the string and the grammar.
    """
    if not isinstance(split, str):
        raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}.")
    terms = []
    for text in split.replace(" ", "").split("+"):
        match = _TERM.match(text)
        if not match:
            raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}. (cannot parse {text!r})")
        bounds = []
        for key in ("from", "to"):
            value, pct = match.group(key), bool(match.group(f"{key}_pct"))
            if value in (None, "", "-"):
                if pct or value == "-":
                    raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}. (empty bound in {text!r})")
                bounds += [None, False]
                continue
            try:
                value = float(value) if pct else int(value)
            except ValueError:
                raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}. (bad bound {value!r})") from None
            if pct and not -100 <= value <= 100:
                raise ValueError(f"Bad split {split!r}: expected {SPLIT_HELP}. (percent {value} outside [-100, 100])")
            bounds += [value, pct]
        terms.append((match.group("name"), *bounds))
    return terms


def _absolute(value, pct, size, default):
    if value is None:
        return default
    if pct:
        value = int(round(value * size / 100.0))
    if value < 0:
        value += size
    return min(max(value, 0), size)


def split_ranges(split, sizes, dataset_name):
    """Resolves a split string against the split sizes of a dataset.

    Args:
        split: split string, e.g. ``"train[:1%]+test[:5]"``.
        sizes: number of examples of each split, e.g. ``{"train": 60000, "test": 10000}``.
        dataset_name: for error messages.

    Returns:
        ``[(split_name, start, stop), ...]``, one per ``+`` term, absolute indices with
        ``0 <= start <= stop <= size``.

    Raises:
        ValueError: for an unparsable string, an unknown split name or an empty selection, naming
            the string and the accepted splits.
    """
    ranges = []
    for name, start, start_pct, stop, stop_pct in parse_split(split):
        if name not in sizes:
            raise ValueError(
                f"Bad split {split!r} for {dataset_name!r}, which has the splits {sorted(sizes)} "
                f"(examples: {dict(sizes)}): expected {SPLIT_HELP}. (unknown split {name!r})"
            )
        size = sizes[name]
        for value, pct in ((start, start_pct), (stop, stop_pct)):
            if value is not None and not pct and not -size <= value <= size:
                raise ValueError(
                    f"Bad split {split!r} for {dataset_name!r}: the slice bound {value} of {name!r} is outside "
                    f"[-{size}, {size}] ({size} examples)."
                )
        begin, end = _absolute(start, start_pct, size, 0), _absolute(stop, stop_pct, size, size)
        if end <= begin:
            raise ValueError(
                f"Bad split {split!r} for {dataset_name!r}, which has the splits {dict(sizes)}: "
                f"the slice of {name!r} selects no example (from {begin} to {end})."
            )
        ranges.append((name, begin, end))
    return ranges
