"""Where a run executes: the `tf.distribute` strategy and the Keras dtype policy.

`tf.distribute` is the only distributed engine (DESIGN.md): `"default"` is the current strategy
(`tf.distribute.get_strategy()`, one device), `"mirrored"` replicates over the local devices,
`"multiworker"` over the hosts described by the `TF_CONFIG` environment variable (read by
TensorFlow's cluster resolver, not by this module) and `"tpu"` connects to the TPU found by
`TPUClusterResolver`. Mixed precision follows Keras: `mixed_bfloat16` on TPU, `mixed_float16`
elsewhere (Micikevicius et al., "Mixed Precision Training", ICLR 2018, arXiv:1710.03740).

Example:
    >>> strategy = make_strategy("default")
    >>> strategy.num_replicas_in_sync
    1
"""

import contextlib

import keras
import tensorflow as tf

from tf_diffaug.experiment.schema import STRATEGIES


def make_strategy(name="default", tpu=None):
    """Builds the `tf.distribute.Strategy` called `name`.

    Args:
        name: "default", "mirrored", "multiworker" or "tpu".
        tpu: TPU address for `TPUClusterResolver` ("" or None: the local / environment TPU).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown name, listing the accepted ones.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}. Expected one of {list(STRATEGIES)}.")


def is_chief(strategy):
    """True unless `strategy` is multi-worker and this process is not worker 0 (the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


def precision_policy(mixed_precision, strategy_name):
    """Keras dtype policy name for a run: "float32", or the mixed policy of the device."""
    if not mixed_precision:
        return "float32"
    return "mixed_bfloat16" if strategy_name == "tpu" else "mixed_float16"


@contextlib.contextmanager
def dtype_policy(name):
    """Sets `keras.mixed_precision` global policy `name` inside the block and restores it after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
