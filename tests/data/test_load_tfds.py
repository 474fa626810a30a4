"""tfds names: a dataset prepared in the test is loaded with slicing; unprepared names fail fast."""

import socket
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from tf_diffaug import data

HEIGHT, WIDTH = 20, 30


def tiny_image(index):
    """A deterministic RGB image per example: a gradient plus the example's index."""
    rows = np.arange(HEIGHT)[:, None, None] * 5
    cols = np.arange(WIDTH)[None, :, None] * 3
    return ((rows + cols + np.array([0, 60, 120]) + 17 * index) % 256).astype(np.uint8)


class TinyTdTestShapes(tfds.core.GeneratorBasedBuilder):
    """A local 50-image tfds dataset (40 train, 10 test), generated without any download."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(HEIGHT, WIDTH, 3)),
                    "label": tfds.features.ClassLabel(num_classes=3),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # stored in generation order, so slices are known index ranges
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 40), "test": self._generate_examples(40, 50)}

    def _generate_examples(self, start, stop):
        for index in range(start, stop):
            yield index, {"image": tiny_image(index), "label": index % 3}


NAME = "tiny_td_test_shapes"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tfds")
    TinyTdTestShapes(data_dir=str(directory)).download_and_prepare()
    return str(directory)


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test on any socket connection or tfds download attempt."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)


def reference(index, resolution):
    """PIL reference: shorter side 20 -> resolution (bilinear, antialiased), central crop, rounded."""
    image = tiny_image(index).astype(np.float32)
    new_w = round(WIDTH * resolution / HEIGHT)
    planes = [
        np.asarray(Image.fromarray(image[..., c], mode="F").resize((new_w, resolution), Image.BILINEAR))
        for c in range(3)
    ]
    left = (new_w - resolution) // 2
    return np.clip(np.round(np.stack(planes, axis=-1)[:, left : left + resolution]), 0, 255)


@pytest.mark.parametrize(
    "split, indices",
    [
        ("train[:25%]", range(0, 10)),
        ("train[30:]", range(30, 40)),
        ("test[-20%:]", range(48, 50)),
        ("train[:2]+test[:1]", [0, 1, 40]),
    ],
)
def test_prepared_tfds_dataset_loads_by_name_with_slicing(data_dir, no_network, split, indices):
    images, labels = data.load_array(NAME, split=split, resolution=16, with_labels=True, data_dir=data_dir)
    assert images.shape == (len(indices), 16, 16, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [index % 3 for index in indices])
    for row, index in enumerate(indices):
        assert np.abs(images[row].astype(int) - reference(index, 16)).max() <= 1


def test_prepared_tfds_dataset_through_the_training_pipeline(data_dir, no_network):
    dataset = data.load(
        NAME, split="train", resolution=8, batch_size=16, with_labels=True, channels=1, data_dir=data_dir, seed=0
    )
    batches = list(dataset.as_numpy_iterator())
    assert [images.shape for images, _ in batches] == [(16, 8, 8, 1)] * 2  # 40 // 16, remainder dropped
    assert all(images.dtype == np.float32 and -1 <= images.min() and images.max() <= 1 for images, _ in batches)
    unshuffled = data.load_array(NAME, resolution=8, channels=1, with_labels=True, data_dir=data_dir)
    by_label = {tuple(image.ravel()): label for image, label in zip(*unshuffled)}
    for images, labels in batches:  # shuffled pairs stay together
        for image, label in zip(images, labels):
            assert by_label[tuple(np.round((image.ravel() + 1) * 127.5).astype(np.uint8))] == label


def test_unprepared_tfds_name_fails_at_once_with_the_offline_alternatives(tmp_path, no_network):
    start = time.monotonic()
    with pytest.raises(data.DatasetNotPreparedError) as caught:
        data.load("cifar10", split="train[:10%]", data_dir=str(tmp_path))
    elapsed = time.monotonic() - start
    message = str(caught.value)
    for needed in (
        "'cifar10'",
        "not prepared",
        str(tmp_path),
        "network",
        "download=True",
        "folder of images",
        "'emoji-faces'",
        "'fashion-mnist'",
    ):
        assert needed in message, needed
    assert elapsed < 30  # tfds' own download path would retry for ~200 s; this is a local check only
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unprepared_local_builder_is_prepared_only_with_download_true(tmp_path):
    with pytest.raises(data.DatasetNotPreparedError, match=NAME):
        data.load_array(NAME, split="test", resolution=8, data_dir=str(tmp_path))
    images = data.load_array(NAME, split="test", resolution=8, data_dir=str(tmp_path), download=True)
    assert images.shape == (10, 8, 8, 3)
    assert tfds.builder(NAME, data_dir=str(tmp_path)).is_prepared()


def test_bad_split_for_a_tfds_dataset_lists_its_splits(data_dir, no_network):
    with pytest.raises(ValueError, match=r"Bad split 'validation' for the tfds dataset .*'train': 40.*'test': 10"):
        data.load(NAME, split="validation", data_dir=data_dir)


def test_fashion_mnist_uses_the_debian_files_when_tfds_has_no_copy(tmp_path, no_network):
    images = data.load_array("fashion_mnist", split="test[:3]", resolution=28, data_dir=str(tmp_path))
    np.testing.assert_array_equal(
        images[..., 0], data.read_idx(f"{data.FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz")[:3]
    )


class FashionMnistHead(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A prepared tfds "fashion_mnist" copy holding only the first 300 test images (from Debian's files)."""

    name = "fashion_mnist"
    VERSION = tfds.builder_cls("fashion_mnist").VERSION

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {"test": self._generate_examples()}

    def _generate_examples(self):
        images = data.read_idx(f"{data.FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz")[:300, :, :, None]
        labels = data.read_idx(f"{data.FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz")[:300]
        for index in range(300):
            yield index, {"image": images[index], "label": int(labels[index])}


def test_fashion_mnist_prefers_a_prepared_tfds_copy(tmp_path):
    FashionMnistHead(data_dir=str(tmp_path)).download_and_prepare()
    images, labels = data.load_array(
        "fashion-mnist", split="test[:10%]", resolution=28, with_labels=True, data_dir=str(tmp_path)
    )
    assert len(images) == 30  # 10% of the tfds copy's 300 test images, not of Debian's 10,000
    debian_images, debian_labels = data.load_array("fashion-mnist", split="test[:30]", resolution=28, with_labels=True)
    np.testing.assert_array_equal(images, debian_images)
    np.testing.assert_array_equal(labels, debian_labels)
