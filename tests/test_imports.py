"""Imports match the layers: what each import loads, checked in fresh interpreters.

`import tf_diffaug` and the plain-data modules (registries) load neither TensorFlow nor Keras;
`tf_diffaug.augment` runs DiffAugment on JAX and torch without TensorFlow; `tf_diffaug.gan` (AdvAug
included) never loads `tf_diffaug.lottery` or `tf_diffaug.experiment`; the lazy attributes resolve
to the same objects as the defining modules, and every name the packages exported before is still
there. Each fresh interpreter takes a few seconds (under 10 s), so none of these is marked slow.
"""

import importlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.helpers import numpy_reference, processes

LIGHT_MODULES = [
    "tf_diffaug",
    "tf_diffaug.gan.modes",
    "tf_diffaug.networks.catalog",
    "tf_diffaug.data.catalog",
    "tf_diffaug.data.splits",
    "tf_diffaug.augment.policy_names",
]

# The names each package exported before its __init__ became lazy (they must all still resolve).
EXPORTED = {
    "tf_diffaug": ["DiffAugment", "GAN", "augment", "data", "experiment", "gan", "lottery", "metrics", "networks"],
    "tf_diffaug.augment": [
        "AdaptiveAugment",
        "ColorAugment",
        "CutoutAugment",
        "DiffAugment",
        "PolicyOp",
        "RandomAugment",
        "TranslationAugment",
        "ops",
        "parse_policy",
        "register_policy",
        "registered_names",
        "unregister_policy",
    ],
    "tf_diffaug.gan": [
        "AUGMENT_MODES",
        "AdversarialLoss",
        "GAN",
        "SampleGrid",
        "adaptive",
        "ema",
        "losses",
        "regularizers",
    ],
    "tf_diffaug.lottery": [
        "FeatureAdvAug",
        "MaskConstraint",
        "PruningMasks",
        "Ticket",
        "TrainingSnapshot",
        "adversarial_features",
        "bind_tail",
        "advaug_loss",
        "expected_sparsity",
        "find_ticket",
        "global_magnitude_masks",
        "is_prunable_kernel",
        "mean_logit",
        "prunable_kernels",
        "reset_optimizer",
        "rounds_for_sparsity",
        "split_model",
        "train_ticket",
    ],
    "tf_diffaug.data": [
        "BUILTIN_NAMES",
        "DatasetNotPreparedError",
        "FASHION_MNIST_DIR",
        "IMAGE_EXTENSIONS",
        "load",
        "load_array",
        "load_emoji_faces",
        "preprocess",
        "read_idx",
        "resize_and_center_crop",
    ],
    "tf_diffaug.networks": [
        "PRESETS",
        "ClassProjection",
        "ConditionalBatchNorm",
        "ConstantInput",
        "EqualizedConv2D",
        "EqualizedDense",
        "GlobalSumPooling2D",
        "LabelEmbedding",
        "LatentNormalization",
        "LatentSplit",
        "MinibatchStdDev",
        "MixingLatent",
        "ModulatedConv2D",
        "NoiseInjection",
        "SelfAttention",
        "StyleBroadcast",
        "available",
        "build_biggan",
        "build_dcgan",
        "build_sngan",
        "build_stylegan2",
        "get",
        "get_preset",
    ],
    "tf_diffaug.metrics": [
        "FIDCallback",
        "FeatureStatistics",
        "InceptionFeatureExtractor",
        "default_cache_dir",
        "default_weights_path",
        "frechet_distance",
        "inception_features",
        "inception_model",
        "inception_score",
        "kernel_distance",
        "load_weights",
        "resize_like_tf1",
        "to_uint8",
    ],
}


def run_fresh(code, **env):
    """Runs `code` in a new interpreter; returns the JSON it prints on its last line."""
    proc = subprocess.run(
        processes.python_command("-c", textwrap.dedent(code)),
        capture_output=True,
        text=True,
        timeout=300,
        env=processes.environment(**env),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


LOADED = """
import json, sys
def loaded(prefix):
    return sorted(name for name in sys.modules if name == prefix or name.startswith(prefix + "."))
"""


def test_tf_diffaug_and_the_registries_load_no_tensorflow_or_keras():
    report = run_fresh(
        LOADED
        + f"""
import importlib
result = {{}}
for name in {LIGHT_MODULES!r}:  # cumulative: the first module that loads TensorFlow or Keras shows
    importlib.import_module(name)
    result[name] = {{"heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))}}
import tf_diffaug, tf_diffaug.gan.modes, tf_diffaug.augment.policy_names, tf_diffaug.data.catalog
result["values"] = {{
    "modes": sorted(tf_diffaug.gan.modes.AUGMENT_MODES),
    "policy": tf_diffaug.augment.policy_names.split_policy("color, cutout"),
    "size": tf_diffaug.data.catalog.dataset_size("emoji-faces", "train[:15%]"),
    "dir": [n for n in ("GAN", "DiffAugment", "gan", "augment", "__version__") if n in dir(tf_diffaug)],
}}
result["tf_diffaug_modules"] = loaded("tf_diffaug")
print(json.dumps(result))
"""
    )
    for name in LIGHT_MODULES:
        assert report[name]["heavy"] == [], (name, report[name])
    values = report["values"]
    assert values["modes"] == ["both", "d_only", "none", "real_only"]
    assert values["policy"] == ["color", "cutout"]
    assert values["size"] == round(0.15 * 112)
    assert values["dir"] == ["GAN", "DiffAugment", "gan", "augment", "__version__"]  # listed before loading
    # Only the packages on the way to the light modules were imported, none of their heavy siblings.
    assert set(report["tf_diffaug_modules"]) == {
        "tf_diffaug",
        "tf_diffaug._lazy",
        "tf_diffaug.augment",
        "tf_diffaug.augment.policy_names",
        "tf_diffaug.data",
        "tf_diffaug.data.catalog",
        "tf_diffaug.data.splits",
        "tf_diffaug.gan",
        "tf_diffaug.gan.modes",
        "tf_diffaug.networks",
        "tf_diffaug.networks.catalog",
    }


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_diffaugment_runs_on_jax_and_torch_without_tensorflow(backend):
    report = run_fresh(
        LOADED
        + """
import numpy as np
import tf_diffaug as td
import tf_diffaug.augment
x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
layer = td.DiffAugment("color,translation,cutout", seed=0)
import keras
numpy = keras.ops.convert_to_numpy
t = {k: numpy(v) for k, v in layer.get_random_transformation(x).items()}
y = numpy(layer.transform_images(x, t))
z = numpy(td.augment.DiffAugment("color,translation,cutout", seed=0)(x, training=True))
print(json.dumps({"backend": keras.backend.backend(), "tensorflow": loaded("tensorflow"),
                  "transform": y.tolist(), "call": z.tolist(), "params": {k: v.tolist() for k, v in t.items()},
                  "identity": bool(np.array_equal(numpy(layer(x, training=False)), x))}))
""",
        KERAS_BACKEND=backend,
        JAX_PLATFORMS="cpu",
        CUDA_VISIBLE_DEVICES="",
    )
    assert report["backend"] == backend
    assert report["tensorflow"] == []
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    params = {k: np.asarray(v) for k, v in report["params"].items()}
    expected = numpy_reference.diffaugment(x, params)
    np.testing.assert_allclose(report["transform"], expected, atol=2e-5)
    np.testing.assert_allclose(report["call"], expected, atol=2e-5)  # same seed: the same draws
    assert report["identity"] and np.abs(expected - x).max() > 0.1


def test_gan_with_advaug_loads_nothing_from_lottery_or_experiment():
    report = run_fresh(
        LOADED
        + """
import keras
import tf_diffaug.gan
GAN = tf_diffaug.gan.GAN
z = keras.Input((4,), name="z")
g = keras.Model(z, keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4)(keras.layers.Dense(3, name="g_stem")(z))))
x = keras.Input((2, 2, 1), name="images")
f = keras.layers.Dense(3, name="d_features")(keras.layers.Flatten()(x))
d = keras.Model(x, keras.layers.Dense(1)(f))
gan = GAN(g, d, latent_dim=4, advaug_gamma=0.01)
gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), r1_gamma=1.0, lecam_weight=0.1)
import tf_diffaug as td
print(json.dumps({"lottery": loaded("tf_diffaug.lottery"), "experiment": loaded("tf_diffaug.experiment"),
                  "strategy": type(gan.feature_perturbation).__name__, "same": td.GAN is GAN,
                  "gan_modules": loaded("tf_diffaug.gan")}))
"""
    )
    assert report["lottery"] == [] and report["experiment"] == []
    assert report["strategy"] == "AdvAugPerturbation" and report["same"]
    assert "tf_diffaug.gan.advaug" in report["gan_modules"]


def test_experiment_config_loads_no_tensorflow():
    report = run_fresh(
        LOADED
        + """
import tf_diffaug.experiment.config
print(json.dumps({"tensorflow": loaded("tensorflow"), "keras": loaded("keras")}))
"""
    )
    assert report == {"tensorflow": [], "keras": []}


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_lazy_attributes_resolve_to_the_defining_objects(package):
    module = importlib.import_module(package)
    missing = sorted(set(EXPORTED[package]) - set(module.__all__))
    assert missing == [], f"{package}.__all__ lost {missing}"
    assert set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        value = getattr(module, name)
        defined_in = sys.modules.get(getattr(value, "__module__", None) or "")
        if isinstance(value, type(sys)):  # a submodule: the package attribute is that module
            assert value is sys.modules[value.__name__] and value.__name__.startswith(package + ".")
        elif defined_in is not None and hasattr(defined_in, name):  # a class or function: its home's object
            assert getattr(defined_in, name) is value, (package, name)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def test_attributes_of_the_old_layout_are_the_same_objects():
    import tf_diffaug as td

    assert td.DiffAugment is td.augment.layers.DiffAugment and td.GAN is td.gan.model.GAN
    assert td.augment.registered_names is td.augment.policy_names.registered_names
    assert td.augment.policy.registered_names is td.augment.registered_names
    assert td.gan.AUGMENT_MODES is td.gan.modes.AUGMENT_MODES is td.gan.train_step.AUGMENT_MODES
    assert td.data.IMAGE_EXTENSIONS is td.data.catalog.IMAGE_EXTENSIONS is td.data.folder.IMAGE_EXTENSIONS
    for name in ("FeatureAdvAug", "advaug_loss", "adversarial_features", "bind_tail", "mean_logit", "split_model"):
        assert getattr(td.lottery, name) is getattr(td.lottery.advaug, name) is getattr(td.gan.advaug, name), name
    assert td.gan.perturbation.FeatureAdvAug is td.lottery.FeatureAdvAug


def test_a_function_named_like_its_package_attribute_stays_a_function():
    # A lazy name whose module had the same name used to turn into the module on the second
    # lookup (the import system binds submodules onto their package).
    import tf_diffaug.metrics as metrics

    first, second = metrics.inception_score, metrics.inception_score
    assert callable(first) and not isinstance(first, type(sys)) and first is second
    assert first is metrics.classifier_score.inception_score
