"""Masks and AdvAug under tf.distribute.MirroredStrategy with 2 logical CPU devices (in a subprocess)."""

import json
import os
import subprocess
import textwrap

import pytest

from tests.helpers import processes

SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tests.helpers import lottery_toy_gan
    from tf_diffaug.lottery import find_ticket, train_ticket

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        gan = lottery_toy_gan.make_gan(seed=0, weight_decay=0.5)
    init = [np.array(w) for w in gan.generator.get_weights()]
    ticket = find_ticket(gan, lottery_toy_gan.make_dataset(), rounds=2, steps_per_round=3,
                         prune_discriminator=True)
    rewound = [np.array(w) for w in gan.generator.get_weights()]
    train_ticket(gan, ticket, lottery_toy_gan.make_dataset(seed=1), steps=4)
    result = {"replicas": strategy.num_replicas_in_sync, "sparsity": ticket.generator_masks.sparsity,
              "mask_is_mirrored": type(ticket.generator_masks.constraints[0].mask.value).__name__}
    for name, masks in (("g", ticket.generator_masks), ("d", ticket.discriminator_masks), ("ema", ticket.ema_masks)):
        pruned_nonzero, survivors_changed = 0, 0
        for variable, mask in zip(masks.kernels, masks.masks):
            value = variable.numpy()
            pruned_nonzero += int(np.count_nonzero(value[mask == 0]))
        result[name + "_pruned_nonzero"] = pruned_nonzero
    idx = [i for i, v in enumerate(gan.generator.weights) if v.name == "kernel"]
    mask0 = ticket.generator_masks.masks[0]
    result["rewound_exact"] = bool(np.array_equal(rewound[idx[0]], init[idx[0]] * mask0))
    result["survivors_trained"] = bool(not np.array_equal(gan.generator.get_weights()[idx[0]][mask0 == 1],
                                                          init[idx[0]][mask0 == 1]))
    with strategy.scope():
        adv_gan = lottery_toy_gan.make_gan(seed=1, advaug_gamma=0.01)
    logs = adv_gan.fit(lottery_toy_gan.make_dataset(seed=2), steps_per_epoch=2, epochs=1, verbose=0).history
    result["advaug_losses_finite"] = bool(np.isfinite(logs["d_loss"][-1]) and np.isfinite(logs["g_loss"][-1]))
    print("RESULT " + json.dumps(result))
    """
)


@pytest.mark.slow  # a subprocess with 2 MirroredStrategy replicas
def test_masked_weights_stay_zero_under_mirrored_strategy(tmp_path):
    script = os.path.join(tmp_path, "mirrored.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    proc = subprocess.run(
        processes.python_command(script, timeout=240), capture_output=True, text=True, env=processes.environment()
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["replicas"] == 2
    assert result["mask_is_mirrored"] == "MirroredVariable"
    assert abs(result["sparsity"] - (1 - 0.8**2)) < 0.01
    assert result["g_pruned_nonzero"] == 0
    assert result["d_pruned_nonzero"] == 0
    assert result["ema_pruned_nonzero"] == 0
    assert result["rewound_exact"] and result["survivors_trained"]
    assert result["advaug_losses_finite"]  # FeatureAdvAug inside a replica-context train step
