"""td.data.load / load_array on a folder of images written by the test (nested, with bad files)."""

import numpy as np
import pytest
from PIL import Image

from tf_diffaug import data


def reference(image, resolution):
    """PIL reference of the library's folder preprocessing: RGB, shorter side, center crop, round."""
    image = np.asarray(image, np.float32)
    height, width = image.shape[:2]
    scale = resolution / min(height, width)
    new_h, new_w = max(resolution, round(height * scale)), max(resolution, round(width * scale))
    planes = [
        np.asarray(Image.fromarray(image[..., c], mode="F").resize((new_w, new_h), Image.BILINEAR))
        for c in range(image.shape[-1])
    ]
    top, left = (new_h - resolution) // 2, (new_w - resolution) // 2
    out = np.stack(planes, axis=-1)[top : top + resolution, left : left + resolution]
    return np.clip(np.round(out), 0, 255)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Writes 5 readable images in nested folders, plus a corrupt, a text and a hidden file."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    (root / "a" / "sub").mkdir(parents=True)
    (root / "b").mkdir()
    (root / ".cache").mkdir()
    smooth = lambda h, w: np.clip(
        np.linspace(0, 255, w)[None, :, None] * 0.6 + rng.integers(0, 100, (h, w, 3)), 0, 255
    ).astype(np.uint8)
    rgb_png, webp, bmp = smooth(40, 30), smooth(24, 36), smooth(20, 20)
    Image.fromarray(rgb_png).save(root / "a" / "x1.png")
    Image.fromarray(smooth(50, 50)[..., 0]).save(root / "a" / "sub" / "x2.jpg", quality=90)
    Image.fromarray(webp).save(root / "b" / "x3.webp", lossless=True)
    Image.fromarray(bmp).save(root / "b" / "x4.BMP")
    rgba = np.dstack([smooth(16, 16), np.tile(np.array([0, 128, 255], np.uint8), 6)[:16][None, :].repeat(16, 0)])
    Image.fromarray(rgba, "RGBA").save(root / "root.png")
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(300))
    (root / "notes.txt").write_text("not an image")
    Image.fromarray(rgb_png).save(root / ".hidden.png")
    Image.fromarray(rgb_png).save(root / ".cache" / "thumb.png")
    expected = {"a/sub/x2.jpg": None, "a/x1.png": rgb_png, "b/x3.webp": webp, "b/x4.BMP": bmp, "root.png": None}
    return root, expected


@pytest.fixture(scope="module")
def folder_array(photo_folder):
    root, _ = photo_folder
    with pytest.warns(UserWarning) as caught:
        images = data.load_array(str(root), resolution=16)
    return images, " ".join(str(w.message) for w in caught)


def test_bad_files_are_reported_by_name_and_skipped(folder_array):
    images, message = folder_array
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    assert "Skipped 2 file(s)" in message
    assert "b/broken.png" in message and "notes.txt" in message
    assert ".hidden" not in message and "thumb" not in message


def test_images_come_in_sorted_path_order_resized_like_pil(photo_folder, folder_array):
    root, expected = photo_folder
    images, _ = folder_array
    # Sorted relative paths: a/sub/x2.jpg, a/x1.png, b/x3.webp, b/x4.BMP, root.png.
    for index, name in enumerate(expected):
        if name == "root.png":  # RGBA composited on white, as PIL's alpha_composite does
            rgba = Image.open(root / name)
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            source = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        elif name.endswith(".jpg"):  # grey JPEG: decoded by PIL, tiled to RGB
            source = np.repeat(np.asarray(Image.open(root / name))[..., None], 3, axis=-1)
        else:
            source = expected[name]
            np.testing.assert_array_equal(np.asarray(Image.open(root / name).convert("RGB")), source)
        diff = np.abs(images[index].astype(int) - reference(source, 16))
        assert diff.max() <= 1, (name, diff.max())


def test_transparent_pixels_become_white(folder_array):
    images, _ = folder_array
    assert (images[4][:, 0] == 255).all()  # alpha 0 column of root.png


def test_load_gives_the_same_pixels_in_unit_range(photo_folder, folder_array):
    root, _ = photo_folder
    with pytest.warns(UserWarning, match="broken.png"):
        dataset = data.load(root, resolution=16, shuffle=False)  # a pathlib.Path works too
    images = np.stack(list(dataset.as_numpy_iterator()))
    np.testing.assert_allclose(images, folder_array[0] / 127.5 - 1.0, atol=1e-6)


def test_grey_channels_and_slicing(photo_folder, folder_array):
    root, _ = photo_folder
    with pytest.warns(UserWarning):
        grey = data.load_array(str(root), split="train[1:3]", resolution=16, channels=1)
    rgb = folder_array[0][1:3].astype(np.float64)
    assert grey.shape == (2, 16, 16, 1)
    assert np.abs(grey[..., 0] - np.round(rgb @ [0.299, 0.587, 0.114])).max() <= 1


def test_labels_from_class_subfolders(tmp_path):
    for name, value, count in (("dog", 200, 2), ("cat", 10, 3)):
        (tmp_path / name).mkdir()
        for index in range(count):
            Image.fromarray(np.full((9, 12), value + index, np.uint8)).save(tmp_path / name / f"{index}.png")
    images, labels = data.load_array(str(tmp_path), resolution=8, with_labels=True)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1])  # cat < dog
    assert images.shape == (5, 8, 8, 1)  # all grey: one channel
    np.testing.assert_array_equal(images[:, 0, 0, 0], [10, 11, 12, 200, 201])


def test_labels_need_class_subfolders(photo_folder):
    root, _ = photo_folder
    # The layout is checked from the file names, before any image is decoded (so no warning yet).
    with pytest.raises(
        ValueError, match=r"1 image\(s\) lie directly in it next to the class folders \['a', 'b'\], e.g. 'root.png'"
    ):
        data.load_array(str(root), resolution=16, with_labels=True)


def test_empty_and_unreadable_folders_raise(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ValueError,
        match=r"No image files in folder .*empty' \(searched recursively; accepted extensions: \.png, .*\.gif; 0 other file\(s\) skipped\)",
    ):
        data.load_array(str(tmp_path / "empty"))
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("a")
    (tmp_path / "texts" / "b.csv").write_text("b")
    with pytest.raises(
        ValueError, match=r"No image files in folder .*texts'.*; 2 other file\(s\) skipped, e.g. 'a.txt'\)"
    ):
        data.load(str(tmp_path / "texts"), batch_size=8)  # not the batch_size error of an empty set
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"garbage")
    with (
        pytest.warns(UserWarning, match="a.jpg"),
        pytest.raises(
            ValueError,
            match=r"No readable image in folder .*junk': all 1 image file\(s\) failed to decode \(first: a.jpg: ",
        ),
    ):
        data.load_array(str(tmp_path / "junk"))
    with pytest.raises(FileNotFoundError, match=r"Image folder '.*missing' does not exist"):
        data.load(str(tmp_path / "missing"))
