"""Install tf_diffaug: data-efficient GAN training (DiffAugment) for Keras 3 on TensorFlow 2."""
import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "tf_diffaug" / "__init__.py").read_text()).group(1)

setup(
    name="tf_diffaug",
    version=VERSION,
    description="Differentiable Augmentation for data-efficient GAN training in Keras 3 / TensorFlow 2",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tf_diffaug", "tf_diffaug.*"]) + ["tf_diffaug_train"],
    # train/ installs as tf_diffaug_train: no generic top-level `train` module in site-packages.
    package_dir={"tf_diffaug_train": "train"},
    package_data={"tf_diffaug": ["data/assets/*", "data/assets/**/*"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorboard>=2.21",  # tf.summary / TensorBoard callback; not a TF 2.21 dependency
        "keras>=3.15",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # tfds imports it but does not declare it
        "absl-py>=1.0",
        "numpy>=1.26",
        "pillow>=10",
        "matplotlib>=3.7",
        "scipy>=1.11",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "fonttools>=4.40",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            "jax>=0.4.30",
            "torch==2.13.0",
        ],
    },
    entry_points={"console_scripts": ["tf-diffaug-train=tf_diffaug_train.main:run"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
