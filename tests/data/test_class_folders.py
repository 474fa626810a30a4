"""Class-conditional folders (labels and class names) and the folder report (images used, skipped)."""

import numpy as np
import pytest
from PIL import Image

from tf_diffaug.data import folder, pipeline


def _write(path, value, size=(6, 9)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


@pytest.fixture()
def pets(tmp_path):
    """pets/cat (2 images, one nested), pets/dog (3 images), a hidden folder and a notes file."""
    _write(tmp_path / "dog" / "a.png", 200)
    _write(tmp_path / "dog" / "b.png", 201)
    _write(tmp_path / "dog" / "c.png", 202)
    _write(tmp_path / "cat" / "x.png", 10)
    _write(tmp_path / "cat" / "indoor" / "y.png", 11)
    _write(tmp_path / ".thumbs" / "t.png", 99)  # hidden: neither a class nor an image
    (tmp_path / "empty_class").mkdir()  # no image files: not a class
    (tmp_path / "dog" / "notes.txt").write_text("good dogs")
    return tmp_path


def test_two_classes_give_sorted_names_and_indices(pets):
    assert pipeline.class_names(str(pets)) == ["cat", "dog"]
    with pytest.warns(UserWarning, match=r"Skipped 1 file\(s\).*dog/notes.txt \(not an image extension\)"):
        images, labels = pipeline.load_array(str(pets), resolution=4, with_labels=True)
    # Files in sorted relative order: cat/indoor/y, cat/x, dog/a, dog/b, dog/c.
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(images[:, 0, 0, 0], [11, 10, 200, 201, 202])
    names = pipeline.class_names(pets)
    assert [names[label] for label in labels] == ["cat", "cat", "dog", "dog", "dog"]
    with pytest.warns(UserWarning, match="notes.txt"):
        dataset = pipeline.load(pets, resolution=4, with_labels=True, shuffle=False, batch_size=5)
    batches = list(dataset.as_numpy_iterator())
    np.testing.assert_array_equal(batches[0][1], labels)
    with pytest.warns(UserWarning, match="notes.txt"):
        source = pipeline.open_source(str(pets), resolution=4, with_labels=True)
    assert source.class_names == ("cat", "dog") and source.has_labels


def test_one_class_is_an_error(tmp_path):
    _write(tmp_path / "only" / "a.png", 1)
    _write(tmp_path / "only" / "b.png", 2)
    message = r"needs at least 2 class sub-folders holding images, found 1: \['only'\]"
    with pytest.raises(ValueError, match=message):
        pipeline.load_array(str(tmp_path), resolution=4, with_labels=True)
    with pytest.raises(ValueError, match=message):
        pipeline.class_names(str(tmp_path))
    assert pipeline.load_array(str(tmp_path), resolution=4).shape == (2, 4, 4, 1)  # unlabelled is fine


def test_images_next_to_class_folders_are_an_error(pets):
    _write(pets / "stray.png", 5)
    message = r"1 image\(s\) lie directly in it next to the class folders \['cat', 'dog'\], e.g. 'stray.png'"
    with pytest.raises(ValueError, match=message):
        pipeline.load(str(pets), resolution=4, with_labels=True)
    with pytest.raises(ValueError, match=message):
        pipeline.class_names(str(pets))


def test_class_names_of_other_sources():
    assert pipeline.class_names("fashion-mnist") == list(pipeline.FASHION_MNIST_CLASSES)
    assert len(pipeline.FASHION_MNIST_CLASSES) == 10
    with pytest.raises(ValueError, match="'emoji-faces' has no class labels"):
        pipeline.class_names("emoji-faces")


def test_report_counts_images_and_skipped_files(pets):
    (pets / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    quick = folder.scan_folder(pets)
    assert quick.images == ["cat/broken.jpg", "cat/indoor/y.png", "cat/x.png", "dog/a.png", "dog/b.png", "dog/c.png"]
    assert quick.skipped == [("dog/notes.txt", "not an image extension")]
    assert quick.class_names == ["cat", "dog"]
    decoded = folder.scan_folder(pets, decode=True)
    assert decoded.num_images == 5
    assert [path for path, _ in decoded.skipped] == ["cat/broken.jpg", "dog/notes.txt"]
    assert decoded.skipped[0][1].startswith(("UnidentifiedImageError", "OSError"))
    summary = decoded.summary()
    assert summary.startswith(f"{str(pets)!r}: 5 images, 2 files skipped (cat/broken.jpg: ")
    assert summary.endswith("; dog/notes.txt: not an image extension)")
    # Loading reports the same through the Source.
    with pytest.warns(UserWarning, match="broken.jpg"):
        source = pipeline.open_source(str(pets), resolution=4)
    assert source.num_examples == 5 and source.report.images == decoded.images
    assert source.report.skipped == decoded.skipped


def test_empty_folder_report_and_error(tmp_path):
    (tmp_path / "readme.md").write_text("#")
    report = folder.scan_folder(tmp_path)
    assert (
        report.num_images == 0
        and report.summary() == f"{str(tmp_path)!r}: 0 images, 1 file skipped (readme.md: not an image extension)"
    )
    with pytest.raises(ValueError, match=r"No image files in folder .*; 1 other file\(s\) skipped, e.g. 'readme.md'\)"):
        report.raise_if_empty()
    with pytest.raises(FileNotFoundError, match="does not exist or is not a folder"):
        folder.scan_folder(tmp_path / "missing")


def test_read_images_keeps_native_sizes(tmp_path):
    _write(tmp_path / "a.png", 3, size=(5, 7))
    Image.fromarray(np.full((4, 6, 3), 9, np.uint8)).save(tmp_path / "b.png")
    images, report = folder.read_images(tmp_path)
    assert [image.shape for image in images] == [(5, 7, 1), (4, 6, 3)]
    assert report.num_images == 2 and report.skipped == []
