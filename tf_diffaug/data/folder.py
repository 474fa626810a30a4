"""A folder of images (flat, nested, or one sub-folder per class) as a data source.

The folder is walked recursively; files are taken in sorted order of their relative POSIX paths
(deterministic on every platform). Hidden files and folders (names starting with ``.``, such as
``.DS_Store`` or ``.ipynb_checkpoints``) are ignored. Files with an image extension
(``IMAGE_EXTENSIONS``) are decoded with PIL (``decode_image``): the first frame of animated files,
EXIF orientation applied, transparency (RGBA, LA, palette with transparency) composited on the
``alpha_background`` colour (white by default, or black), grey kept grey (one channel) and
everything else converted to RGB. Files that cannot be decoded and files with other extensions are
skipped and reported by name in one ``UserWarning``, so a stray ``notes.txt`` or a truncated JPEG
never crashes a run; ``scan_folder`` returns the same facts as a ``FolderReport`` a program can
print ("112 images, 2 files skipped").

Each image is brought to ``resolution`` x ``resolution`` as it is read
(``transforms.resize_to_square``: ``crop="center"``, ``"pad"`` or ``"none"``), so memory holds only
the small images. The channel count is chosen once for the folder: ``channels=None`` gives RGB
when any image is colour and one grey channel when all are grey; 1 or 3 forces it.

Class-conditional folders: with ``with_labels=True`` the immediate sub-folders holding image files
are the classes, in sorted order of their names, and an image's label is the index of the
sub-folder it lies under (at any depth), the ``root/<class>/...`` layout of
``keras.utils.image_dataset_from_directory``. It needs at least two classes and no image directly
in ``root``; ``class_names(folder)`` gives the names without reading any image.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import warnings

import numpy as np
from PIL import Image, ImageOps

from tf_diffaug.data import catalog, transforms
from tf_diffaug.data.source import Source, select, split_ranges

IMAGE_EXTENSIONS = catalog.IMAGE_EXTENSIONS
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "F")


@dataclasses.dataclass
class FolderReport:
    """What a folder holds: the images used, the files skipped and why, the class sub-folders.

    Attributes:
        root: the folder.
        images: relative POSIX paths of the images: every file with an image extension, minus those
            that failed to decode when the folder was decoded (``scan_folder(decode=True)`` or
            loading).
        skipped: ``(relative path, reason)`` of every other non-hidden file.
        class_names: sorted names of the immediate sub-folders that hold image files.

    Example:
        >>> report = FolderReport("photos", ["a/1.png", "b/2.png"], [("notes.txt", "not an image extension")], ["a", "b"])
        >>> report.summary()
        "'photos': 2 images, 1 file skipped (notes.txt: not an image extension)"
    """

    root: str
    images: list
    skipped: list
    class_names: list

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def loose_images(self) -> list:
        """Images lying directly in ``root`` (not inside a sub-folder)."""
        return [path for path in self.images if "/" not in path]

    def summary(self, max_listed: int = 10) -> str:
        """One line: ``'<root>': N images, M files skipped (path: reason; ...)``."""
        images = f"{self.num_images} image" + ("" if self.num_images == 1 else "s")
        text = f"{self.root!r}: {images}, {len(self.skipped)} file" + ("" if len(self.skipped) == 1 else "s")
        text += " skipped"
        if self.skipped:
            listed = [f"{path}: {reason}" for path, reason in self.skipped[:max_listed]]
            more = len(self.skipped) - len(listed)
            text += " (" + "; ".join(listed) + (f"; and {more} more" if more else "") + ")"
        return text

    def raise_if_empty(self) -> None:
        """Raise a ValueError naming the folder, what is accepted and what was skipped, if no image."""
        if self.images:
            return
        failed = [(path, reason) for path, reason in self.skipped if catalog.is_image_file(path)]
        if failed:
            raise ValueError(
                f"No readable image in folder {self.root!r}: all {len(failed)} image file(s) failed to "
                f"decode (first: {failed[0][0]}: {failed[0][1]}); {len(self.skipped) - len(failed)} other "
                f"file(s) skipped."
            )
        raise ValueError(
            f"No image files in folder {self.root!r} (searched recursively; accepted extensions: "
            f"{', '.join(IMAGE_EXTENSIONS)}; {len(self.skipped)} other file(s) skipped"
            + (f", e.g. {self.skipped[0][0]!r}" if self.skipped else "")
            + ")."
        )

    def check_class_folders(self) -> list:
        """The class names, or a ValueError when the folder is not a ``root/<class>/...`` layout."""
        self.raise_if_empty()
        loose = self.loose_images
        if loose:
            raise ValueError(
                f"Class-conditional folder {self.root!r} needs every image inside a class sub-folder "
                f"(root/<class>/...), but {len(loose)} image(s) lie directly in it next to the class "
                f"folders {self.class_names}, e.g. {loose[0]!r}. Move them into a class folder, or load "
                "without labels."
            )
        if len(self.class_names) < 2:
            raise ValueError(
                f"Class-conditional folder {self.root!r} needs at least 2 class sub-folders holding "
                f"images, found {len(self.class_names)}: {self.class_names}. Add a sub-folder per class "
                "(root/<class>/<image>), or load without labels."
            )
        return list(self.class_names)


def scan_folder(root, decode: bool = False, alpha_background: str = "white") -> FolderReport:
    """Lists a folder's images, skipped files and class sub-folders (``FolderReport``).

    With ``decode=False`` only the file names are looked at (fast; the count ``load`` will use
    unless some image files are corrupt); with ``decode=True`` every image file is decoded and
    the ones that fail are moved to ``skipped`` with the decoder's error.

    Raises:
        FileNotFoundError: `root` is not a folder.

    Example:
        >>> scan_folder("my_photos/").summary()  # doctest: +SKIP
        "'my_photos/': 120 images, 1 file skipped (notes.txt: not an image extension)"
    """
    report = _list_folder(root)
    if decode:
        for _ in iter_images(report, alpha_background):
            pass
    return report


def _list_folder(root) -> FolderReport:
    path = pathlib.Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist or is not a folder.")
    images, skipped = [], []
    for file in catalog.list_files(path):
        relative = pathlib.Path(file).relative_to(path).as_posix()
        if catalog.is_image_file(relative):
            images.append(relative)
        else:
            skipped.append((relative, "not an image extension"))
    classes = sorted({relative.split("/", 1)[0] for relative in images if "/" in relative})
    return FolderReport(str(root), images, skipped, classes)


def decode_image(path, alpha_background: str = "white") -> np.ndarray:
    """Decodes an image file to uint8 ``[H, W, 1]`` (grey) or ``[H, W, 3]`` (RGB) with PIL.

    Transparent images (RGBA, LA, palette with transparency) are composited on
    `alpha_background` ("white" or "black") with ``Image.alpha_composite``: ``a * rgb + (1 - a) *
    background`` with ``a = alpha / 255``. 16-bit grey is scaled to 8 bits (``round(v / 257)``).
    Raises whatever PIL raises for unreadable files (OSError, SyntaxError, ValueError, ...).
    """
    fill = int(transforms.background_value(alpha_background))
    with Image.open(path) as image:
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        grey = image.mode in _GREY_MODES
        if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (fill, fill, fill, 255)), rgba)
        if image.mode == "I;16":  # 16-bit grey: 0..65535 -> 0..255
            return ((np.asarray(image, np.uint32) + 128) // 257).astype(np.uint8)[..., None]
        if grey:
            return np.asarray(image.convert("L"), np.uint8)[..., None]
        return np.asarray(image.convert("RGB"), np.uint8)


def iter_images(report: FolderReport, alpha_background: str = "white"):
    """Yields ``(relative path, uint8 image [H, W, 1 or 3])`` at native size for each image of `report`.

    Files that fail to decode are moved from ``report.images`` to ``report.skipped`` (with the
    error) as they are met, so after the loop `report` tells what was used.
    """
    transforms.check_alpha_background(alpha_background)
    root = pathlib.Path(report.root).expanduser()
    used = []
    for relative in list(report.images):
        try:
            image = decode_image(root / relative, alpha_background)
        except Exception as error:  # noqa: BLE001 - any decoder failure means "skip and report"
            report.skipped.append((relative, f"{type(error).__name__}: {error}"))
            continue
        used.append(relative)
        yield relative, image
    report.images = used
    report.skipped.sort()
    report.class_names = sorted({relative.split("/", 1)[0] for relative in report.images if "/" in relative})


def read_images(root, alpha_background: str = "white"):
    """All images of a folder at their native sizes, and the report: ``(list of uint8 [H, W, C], FolderReport)``.

    For FID between folders (``python -m tf_diffaug.metrics``); no resize, no channel conversion.

    Example:
        >>> images, report = read_images("my_photos/")  # doctest: +SKIP
    """
    report = _list_folder(root)
    images = [image for _, image in iter_images(report, alpha_background)]
    _warn_skipped(report)
    report.raise_if_empty()
    return images, report


def _warn_skipped(report: FolderReport) -> None:
    if report.skipped:
        warnings.warn(
            f"Skipped {len(report.skipped)} file(s) in image folder {report.root!r} that are not readable "
            f"images ({', '.join(IMAGE_EXTENSIONS)}): " + "; ".join(f"{p} ({r})" for p, r in report.skipped),
            UserWarning,
            stacklevel=_stacklevel_outside_package(),
        )


def class_names(root) -> list:
    """The class names of a class-conditional folder: its image-holding sub-folders, sorted.

    Label ``i`` of ``td.data.load(root, with_labels=True)`` is ``class_names(root)[i]``. Reads no
    image. Raises a ValueError when there are fewer than two classes or images lie directly in
    `root` (see ``FolderReport.check_class_folders``).

    Example:
        >>> class_names("pets/")  # pets/cat/*.png, pets/dog/*.jpg  # doctest: +SKIP
        ['cat', 'dog']
    """
    return _list_folder(root).check_class_folders()


def read_folder(
    root,
    resolution: int,
    channels=None,
    with_labels: bool = False,
    crop: str = "center",
    alpha_background: str = "white",
):
    """Reads every readable image under `root` at `resolution`, reporting the unreadable ones.

    Args:
        root: folder path.
        resolution: side of the square output images.
        channels: None (RGB when any image is colour, grey when all are grey), 1 or 3.
        with_labels: also return class labels from the class sub-folders (see the module doc).
        crop: "center", "pad" or "none" (see ``transforms.resize_to_square``).
        alpha_background: "white" or "black": what transparent pixels and the padding become.

    Returns:
        ``(images uint8 [N, resolution, resolution, C], labels int64 [N] or None, FolderReport)``.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no image files, none readable, or with `with_labels` fewer than two classes or
            images directly in `root`.

    Example:
        >>> images, _, report = read_folder("my_photos/", 64)  # doctest: +SKIP
    """
    resolution = transforms.check_resolution(resolution)
    crop = transforms.check_crop(crop)
    transforms.check_alpha_background(alpha_background)
    report = _list_folder(root)
    report.raise_if_empty()
    names = report.check_class_folders() if with_labels else None
    # Each image is resized (and, when `channels` is given, converted) and rounded as it is read;
    # with channels=None grey images are tiled afterwards if the folder has colour ones (tiling
    # commutes with resizing and rounding, so the pixels are those of `transforms.preprocess`).
    resized = [
        transforms.preprocess(image, resolution, channels, crop, alpha_background).numpy()
        for _, image in iter_images(report, alpha_background)
    ]
    _warn_skipped(report)
    report.raise_if_empty()
    if channels is None:
        channels = 3 if any(image.shape[-1] == 3 for image in resized) else 1
    images = np.stack([np.repeat(image, channels, axis=-1) if image.shape[-1] == 1 else image for image in resized])
    labels = None
    if with_labels:
        report.class_names = names  # classes whose files all failed to decode keep their index
        labels = np.array([names.index(path.split("/", 1)[0]) for path in report.images], np.int64)
    return images, labels, report


def _stacklevel_outside_package() -> int:
    """The warnings stacklevel of the first caller outside tf_diffaug/data (the user's line)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package_dir:
        frame, level = frame.f_back, level + 1
    return level


def open_folder(
    root, split, resolution: int, channels=None, with_labels: bool = False, crop="center", alpha_background="white"
) -> Source:
    """Opens an image folder as a Source of already resized images (split ``"train"``, sliceable)."""
    images, labels, report = read_folder(root, resolution, channels, with_labels, crop, alpha_background)
    ranges = split_ranges(split, {"train": len(images)}, str(root))
    images, labels = select({"train": (images, labels if with_labels else np.zeros(len(images)))}, ranges)
    source = Source.from_arrays(str(root), images, labels if with_labels else None)
    source.class_names = tuple(report.class_names) if with_labels else ()
    source.report = report
    return source
