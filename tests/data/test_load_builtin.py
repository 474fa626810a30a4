"""td.data.load / load_array on the embedded emoji faces and Fashion-MNIST, and the pipeline options."""

import gzip

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_diffaug import data

FMNIST = "/usr/share/datasets/fashion-mnist"


def raw_idx(name, offset):
    """DATA.md section 2's reading recipe, independent of the library's IDX parser."""
    with gzip.open(f"{FMNIST}/{name}", "rb") as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=offset)


@pytest.fixture(scope="module")
def raw_test():
    return raw_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28), raw_idx("t10k-labels-idx1-ubyte.gz", 8)


@pytest.fixture(scope="module")
def emoji():
    return data.load_emoji_faces()[0]


def pil_bilinear(image, resolution):
    """Reference resize of a square uint8 image, per channel in float, rounded like the library."""
    planes = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32), mode="F").resize((resolution, resolution), Image.BILINEAR)
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.round(np.stack(planes, axis=-1)), 0, 255)


def test_emoji_array_at_native_size_is_the_asset(emoji):
    np.testing.assert_array_equal(data.load_array("emoji-faces", resolution=128), emoji)


def test_emoji_array_resized_matches_pil(emoji):
    got = data.load_array("emoji-faces", resolution=48)
    assert got.shape == (112, 48, 48, 3) and got.dtype == np.uint8
    for index in (0, 57, 111):
        assert np.abs(got[index].astype(int) - pil_bilinear(emoji[index], 48)).max() <= 1


def test_emoji_load_is_load_array_in_unit_range():
    reference = data.load_array("emoji-faces", resolution=32)
    images = np.stack(list(data.load("emoji-faces", resolution=32, shuffle=False).as_numpy_iterator()))
    assert images.shape == (112, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.max() == 1.0  # white background
    np.testing.assert_allclose(images, reference / 127.5 - 1.0, atol=1e-6)


def test_emoji_grey_is_the_luma_of_rgb(emoji):
    grey = data.load_array("emoji-faces", resolution=128, channels=1)
    expected = np.round(emoji.astype(np.float64) @ [0.299, 0.587, 0.114])
    assert grey.shape == (112, 128, 128, 1)
    assert np.abs(grey[..., 0].astype(int) - expected).max() <= 1


def test_emoji_split_slicing_follows_tfds_rounding(emoji):
    half = data.load_array("emoji-faces", split="train[50%:]", resolution=128)
    np.testing.assert_array_equal(half, emoji[56:])
    assert len(data.load_array("emoji-faces", split="train[:10%]", resolution=8)) == round(11.2)


@pytest.mark.parametrize(
    "split, start, stop",
    [
        ("test", 0, 10000),
        ("test[:10%]", 0, 1000),
        ("test[100:200]", 100, 200),
        ("test[-0.25%:]", 9975, 10000),
        ("test[33.3%:33.5%]", 3330, 3350),
    ],
)
def test_fashion_mnist_slices_equal_raw_idx_bytes(raw_test, split, start, stop):
    images, labels = data.load_array("fashion-mnist", split=split, resolution=28, with_labels=True)
    assert images.shape == (stop - start, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], raw_test[0][start:stop])
    np.testing.assert_array_equal(labels, raw_test[1][start:stop])
    assert labels.dtype == np.int64


def test_fashion_mnist_train_percent_count_and_first_image():
    images = data.load_array("fashion-mnist", split="train[:1%]", resolution=28)
    first = raw_idx("train-images-idx3-ubyte.gz", 16)[: 28 * 28].reshape(28, 28)
    assert len(images) == 600  # round(1 * 60000 / 100), tfds' "closest" rounding
    np.testing.assert_array_equal(images[0, ..., 0], first)


def test_fashion_mnist_rgb_batches_with_labels(raw_test):
    dataset = data.load(
        "fashion-mnist",
        split="test[:40]",
        resolution=32,
        batch_size=16,
        channels=3,
        with_labels=True,
        shuffle=False,
        drop_remainder=False,
    )
    batches = list(dataset.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [16, 16, 8]
    images = np.concatenate([images for images, _ in batches])
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    expected = np.stack([pil_bilinear(raw_test[0][i][..., None], 32) for i in range(40)]) / 127.5 - 1
    assert np.abs(images[..., :1] - expected).max() <= 1 / 127.5 + 1e-6
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in batches]), raw_test[1][:40])


def test_shuffle_is_a_seeded_permutation_reshuffled_each_epoch():
    def epochs(seed):
        dataset = data.load(
            "fashion-mnist", split="test[:64]", resolution=28, seed=seed, with_labels=True, repeat=2, batch_size=64
        )
        return [np.round((images[..., 0] + 1) * 127.5).astype(np.uint8) for images, _ in dataset.as_numpy_iterator()]

    first, second = epochs(7)
    raw = data.load_array("fashion-mnist", split="test[:64]", resolution=28)[..., 0]
    sums = np.sort(raw.reshape(64, -1).astype(int) @ np.arange(784))
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(epoch.reshape(64, -1).astype(int) @ np.arange(784)), sums)
    assert not np.array_equal(first, raw) and not np.array_equal(first, second)
    again = epochs(7)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)


def test_mirror_flips_some_images_left_right(emoji):
    reference = data.load_array("emoji-faces", resolution=16)
    dataset = data.load("emoji-faces", resolution=16, shuffle=False, mirror=True, seed=3)
    images = np.round((np.stack(list(dataset.as_numpy_iterator())) + 1) * 127.5)
    flipped = np.all(images == reference[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(images == reference, axis=(1, 2, 3))
    assert np.all(flipped | kept)
    assert 20 < flipped.sum() < 92  # a fair coin over 112 images (P(outside) < 1e-10)
    plain = np.round(
        (np.stack(list(data.load("emoji-faces", resolution=16, shuffle=False).as_numpy_iterator())) + 1) * 127.5
    )
    np.testing.assert_array_equal(plain, reference)  # mirror is off by default


def test_batching_drop_remainder_and_repeat():
    count = lambda **kw: [int(b.shape[0]) for b in data.load("emoji-faces", resolution=8, seed=0, **kw)]
    assert count(batch_size=32) == [32, 32, 32]
    assert count(batch_size=32, drop_remainder=False) == [32, 32, 32, 16]
    assert count(batch_size=32, repeat=2) == [32] * 6
    forever = data.load("emoji-faces", resolution=8, batch_size=50, repeat=True, seed=0)
    assert forever.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    assert len(list(forever.take(7))) == 7


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(name_or_path="emoji-faces", split="test"),
            ValueError,
            r"Bad split 'test' for 'emoji-faces'.*\['train'\]",
        ),
        (dict(name_or_path="fashion-mnist", split="train[:x]"), ValueError, r"Bad split 'train\[:x\]'"),
        (dict(name_or_path="fashion-mnist", split="validation"), ValueError, r"Bad split 'validation'.*'test'"),
        (dict(name_or_path="emoji-faces", resolution=-1), ValueError, r"Bad resolution -1"),
        (dict(name_or_path="emoji-faces", batch_size=0), ValueError, r"Bad batch_size 0"),
        (dict(name_or_path="emoji-faces", batch_size=113), ValueError, r"batch_size 113 is larger than the 112"),
        (dict(name_or_path="emoji-faces", with_labels=True), ValueError, r"'emoji-faces' has no class labels"),
        (dict(name_or_path="emoji-faces", repeat=-2), ValueError, r"Bad repeat -2"),
        (
            dict(name_or_path="cifar-eleven"),
            ValueError,
            r"Unknown dataset 'cifar-eleven'.*\['emoji-faces', 'fashion-mnist'\].*folder.*tfds dataset name",
        ),
        (dict(name_or_path=42), ValueError, r"Bad dataset 42"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.load(**kwargs)


def test_missing_fashion_mnist_files_name_the_debian_package(tmp_path):
    from tf_diffaug.data import builtin

    assert builtin.has_fashion_mnist_files() and not builtin.has_fashion_mnist_files(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.gz.*apt-get install dataset-fashion-mnist"):
        builtin.open_fashion_mnist("test", directory=str(tmp_path))


def test_read_idx_rejects_non_idx_files(tmp_path):
    path = tmp_path / "fake-ubyte.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\x00\x00\x0d\x01" + bytes(8))  # float32 IDX: not unsigned bytes
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        data.read_idx(str(path))
