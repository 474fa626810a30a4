"""The TensorFlow-free split parser (`td.data.splits`) against tfds' own ReadInstruction."""

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
