"""A folder of images (flat or nested) as a data source.

The folder is walked recursively; files are taken in sorted order of their relative POSIX paths
(deterministic on every platform). Hidden files and folders (names starting with ``.``, such as
``.DS_Store`` or ``.ipynb_checkpoints``) are ignored. Files with an image extension
(``IMAGE_EXTENSIONS``) are decoded with PIL: the first frame of animated files, EXIF orientation
applied, transparency composited on white, grey kept grey and everything else converted to RGB.
Files that cannot be decoded and files with other extensions are skipped and reported by name in
one ``UserWarning``, so a stray ``notes.txt`` or a truncated JPEG never crashes a run.

Each image is resized (shorter side to ``resolution``, antialiased) and center-cropped as it is
read (``transforms.preprocess``), so memory holds only the small images. Labels, when asked, are the
index of an image's top-level sub-folder in sorted order (the ``class_a/``, ``class_b/`` layout of
``keras.utils.image_dataset_from_directory``).
"""

from __future__ import annotations

import os
import pathlib
import sys
import warnings

import numpy as np
from PIL import Image, ImageOps

from tf_diffaug.data import catalog, transforms
from tf_diffaug.data.source import Source, select, split_ranges

IMAGE_EXTENSIONS = catalog.IMAGE_EXTENSIONS


def list_files(root) -> list[pathlib.Path]:
    """Returns the non-hidden files under `root`, sorted by relative POSIX path (``catalog.list_files``)."""
    return [pathlib.Path(path) for path in catalog.list_files(root)]


def decode_image(path) -> np.ndarray:
    """Decodes an image file to uint8 ``[H, W, 1]`` (grey) or ``[H, W, 3]`` (RGB) with PIL.

    Transparent images (RGBA, LA, palette with transparency) are composited on white.
    Raises whatever PIL raises for unreadable files (OSError, SyntaxError, ValueError, ...).
    """
    with Image.open(path) as image:
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        grey = image.mode in ("1", "L", "LA", "La", "I", "I;16", "F")
        if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        if image.mode == "I;16":  # 16-bit grey: 0..65535 -> 0..255
            return ((np.asarray(image, np.uint32) + 128) // 257).astype(np.uint8)[..., None]
        if grey:
            return np.asarray(image.convert("L"), np.uint8)[..., None]
        return np.asarray(image.convert("RGB"), np.uint8)


def read_folder(root, resolution: int, channels=None, with_labels: bool = False):
    """Reads every readable image under `root` at `resolution`, reporting the unreadable ones.

    Args:
        root: folder path.
        resolution: side of the square output images.
        channels: None (RGB when any image is colour, grey when all are grey), 1 or 3.
        with_labels: also return top-level sub-folder labels.

    Returns:
        ``(images uint8 [N, resolution, resolution, C], labels int64 [N] or None, class_names)``.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no readable image, or `with_labels` with images directly in `root`.

    Example:
        >>> images, _, _ = read_folder("my_photos/", 64)  # doctest: +SKIP
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist or is not a folder.")
    resolution = transforms.check_resolution(resolution)
    images, relative_paths, skipped = [], [], []
    for path in list_files(root):
        relative = path.relative_to(root).as_posix()
        if not catalog.is_image_file(path.name):
            skipped.append(f"{relative} (not an image extension)")
            continue
        try:
            image = decode_image(path)
        except Exception as error:  # noqa: BLE001 - any decoder failure means "skip and report"
            skipped.append(f"{relative} ({type(error).__name__}: {error})")
            continue
        images.append(image)
        relative_paths.append(relative)
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} file(s) in image folder {str(root)!r} that are not readable "
            f"images ({', '.join(IMAGE_EXTENSIONS)}): " + "; ".join(skipped),
            UserWarning,
            stacklevel=_stacklevel_outside_package(),
        )
    if not images:
        raise ValueError(
            f"No readable image in folder {str(root)!r} (searched recursively for {', '.join(IMAGE_EXTENSIONS)} files)."
        )
    if channels is None:
        channels = 3 if any(image.shape[-1] == 3 for image in images) else 1
    resized = np.stack([transforms.preprocess(image, resolution, channels).numpy() for image in images])
    labels, class_names = None, []
    if with_labels:
        loose = [path for path in relative_paths if "/" not in path]
        if loose:
            raise ValueError(
                f"with_labels=True needs every image of {str(root)!r} inside a class sub-folder "
                f"(root/<class>/...), but {len(loose)} image(s) lie directly in it, e.g. {loose[0]!r}."
            )
        tops = [path.split("/", 1)[0] for path in relative_paths]
        class_names = sorted(set(tops))
        labels = np.array([class_names.index(top) for top in tops], np.int64)
    return resized, labels, class_names


def _stacklevel_outside_package() -> int:
    """The warnings stacklevel of the first caller outside tf_diffaug/data (the user's line)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package_dir:
        frame, level = frame.f_back, level + 1
    return level


def open_folder(root, split, resolution: int, channels=None, with_labels: bool = False) -> Source:
    """Opens an image folder as a Source of already resized images (split ``"train"``, sliceable)."""
    images, labels, _ = read_folder(root, resolution, channels, with_labels)
    ranges = split_ranges(split, {"train": len(images)}, str(root))
    images, labels = select({"train": (images, labels if with_labels else np.zeros(len(images)))}, ranges)
    return Source.from_arrays(str(root), images, labels if with_labels else None)
