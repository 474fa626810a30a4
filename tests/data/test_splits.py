"""The TensorFlow-free split parser (`td.data.splits`) against tfds' own ReadInstruction."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tf_diffaug.data import catalog, splits

SIZES = {"train": 112, "test": 37}
SPECS = [
    "train",
    "train[:15%]",
    "train[15%:]",
    "train[:1%]",
    "train[-10%:]",
    "train[10:20]",
    "train[-5:]",
    "train[:-5]",
    "train[33%:67%]",
    "train[:50%]+test[50%:]",
    "test[:5]+train[100:]",
    "train[:100%]",
    "train[-100%:-99%]",
    "test[-0.25%:]",
    "train[2.5%:7.5%]",
]


def _tfds_ranges(spec):
    infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[n], num_bytes=0) for name, n in SIZES.items()}
    out = []
    for part in tfds.core.ReadInstruction.from_spec(spec).to_absolute(infos):
        out.append((part.splitname, part.from_ or 0, SIZES[part.splitname] if part.to is None else part.to))
    return out


@pytest.mark.parametrize("spec", SPECS)
def test_split_ranges_equal_tfds(spec):
    assert splits.split_ranges(spec, SIZES, "toy") == _tfds_ranges(spec)


@pytest.mark.parametrize(
    "spec", ["train[", "train[:x]", "train[::2]", "train[1.5:]", "tra in+", "train[:150%]", "", "+train"]
)
def test_bad_split_names_the_string(spec):
    with pytest.raises(ValueError, match="Bad split"):
        splits.split_ranges(spec, SIZES, "toy")


@pytest.mark.parametrize("spec", ["train[:200]", "train[-200:]"])
def test_out_of_range_bounds_are_errors_as_in_tfds(spec):
    with pytest.raises(ValueError):
        _tfds_ranges(spec)
    with pytest.raises(ValueError, match="outside \\[-112, 112\\]"):
        splits.split_ranges(spec, SIZES, "toy")


def test_unknown_split_and_empty_slice_are_errors():
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        splits.split_ranges("validation", SIZES, "toy")
    with pytest.raises(ValueError, match="selects no example"):
        splits.split_ranges("train[50:10]", SIZES, "toy")


def test_dataset_size_of_builtin_and_folder(tmp_path):
    # 15 % of 112 is 16.8: tfds' closest rounding gives 17, the count the loader reads.
    assert catalog.dataset_size("emoji-faces", "train[:15%]") == 17
    assert catalog.dataset_size("fashion-mnist", "train[:1%]+test[:10]") == 610
    for name in ("a.png", "b.GIF", "c.jpeg", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.webp").write_bytes(b"")
    assert [p.rsplit("/", 1)[-1] for p in catalog.list_image_files(str(tmp_path))] == [
        "a.png",
        "b.GIF",
        "c.jpeg",
        "d.webp",
    ]
    assert catalog.dataset_size(str(tmp_path), "train[:50%]") == 2
    assert catalog.dataset_size("no-such-set") is None


def test_subset_indices_are_the_official_seeded_choice():
    # DiffAugment BigGAN-CIFAR: RandomState(0).choice(50000, 5000, replace=False) (datasets.py l.316-321).
    keep = splits.subset_indices(50_000, 5_000, seed=0)
    drawn = np.random.RandomState(0).choice(50_000, 5_000, replace=False)
    assert keep.tolist() == sorted(drawn.tolist()) and len(set(keep.tolist())) == 5_000
    assert drawn[:3].tolist() == [11841, 19602, 45519] and int(keep.sum()) == 126_459_119
    assert splits.subset_indices(50_000, 5_000, seed=1).tolist() != keep.tolist()
    with pytest.raises(ValueError, match=r"subset_size must be an integer in \[1, 112\].*got 113"):
        splits.subset_indices(112, 113)


def test_subset_seed_none_is_chen_et_als_first_examples():
    # Ultra-Data-Efficient-GAN-Training datasets.py l.103-104: Subset(dataset, np.arange(int(50000 * 0.1))).
    assert splits.subset_indices(50_000, 5_000, seed=None).tolist() == list(range(5_000))
    from tf_diffaug import data

    everything = data.load_array("emoji-faces", resolution=16)
    np.testing.assert_array_equal(
        data.load_array("emoji-faces", resolution=16, subset_size=7, subset_seed=None), everything[:7]
    )


def test_load_subset_keeps_the_chosen_examples_in_order():
    from tf_diffaug import data

    everything = data.load_array("emoji-faces", resolution=16)
    keep = splits.subset_indices(112, 10, seed=3)
    picked = data.load_array("emoji-faces", resolution=16, subset_size=10, subset_seed=3)
    np.testing.assert_array_equal(picked, everything[keep])
    batches = list(data.load("emoji-faces", resolution=16, subset_size=10, subset_seed=3, batch_size=5, seed=0))
    seen = np.concatenate([np.round((b.numpy() + 1) * 127.5) for b in batches]).astype(np.uint8)
    # Shuffled, but exactly the chosen images: compare as sorted byte strings.
    assert sorted(x.tobytes() for x in seen) == sorted(x.tobytes() for x in everything[keep])
