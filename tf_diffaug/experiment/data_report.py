"""Can the data of a configuration be opened, and how many images does it hold? Asked before any work.

`check_data(config)` answers without reading the images: an image folder is listed
(`td.data.scan_folder`: images, skipped files, class sub-folders), a tfds name must have a builder
whose files are prepared (`tfds_source.find_builder`, `is_prepared`), and the built-in sets must
have their files (the embedded emoji asset; Debian's Fashion-MNIST files or a prepared tfds copy).
It returns a `DataReport` whose `line()` `--dry_run` and the start of a run print
(`data: 112 images (emoji-faces train)`), or raises one `ValueError` naming the dataset and what
would be accepted: a missing or empty folder, an unknown or unprepared tfds name, a bad split, a
batch larger than the images, a class-conditional folder that does not match `num_classes`.

Example:
    >>> check_data(resolve_config("fewshot-cpu")).line()                    # doctest: +SKIP
    'data: 112 images (emoji-faces train)'
"""

import dataclasses
import os

from tf_diffaug.data import catalog

_BUILTIN = (catalog.EMOJI_FACES, catalog.FASHION_MNIST)


@dataclasses.dataclass
class DataReport:
    """What `check_data` found.

    Attributes:
        dataset: the configuration's dataset (name or folder).
        split: the split.
        source: "folder", "builtin" or "tfds".
        num_images: images the split selects (None when not knowable without reading).
        skipped: `(relative path, reason)` of a folder's files that are not used.
        where: where the data lives (the folder, Debian's files, the tfds data folder).
        subset_of: with a `subset_size`, the images of the split it is drawn from (else None).
        subset_first: the subset is the split's first `subset_size` images (`subset_seed` none),
            not a seeded draw.
        class_names: the sorted class names of a class-conditional configuration (label i is
            `class_names[i]`), else None.
    """

    dataset: str
    split: str
    source: str
    num_images: int | None
    skipped: list = dataclasses.field(default_factory=list)
    where: str | None = None
    subset_of: int | None = None
    subset_first: bool = False
    class_names: list | None = None

    def line(self):
        """`data: 112 images (emoji-faces train)`, with the files skipped of a folder."""
        count = "an unknown number of images" if self.num_images is None else f"{self.num_images:,} images"
        if self.subset_of is not None:
            count += (
                f", the first of {self.subset_of:,}"
                if self.subset_first
                else f", a seeded subset of {self.subset_of:,}"
            )
        if self.source == "folder":
            what = f"folder {self.dataset!r} {self.split}"
        elif self.source == "tfds":
            what = f"tfds {self.dataset} {self.split}, prepared in {self.where!r}"
        else:
            what = f"{self.dataset} {self.split}" + (f", from {self.where}" if self.where else "")
        text = f"data: {count} ({what})"
        if self.skipped:
            listed = "; ".join(f"{path}: {reason}" for path, reason in self.skipped[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f"; {len(self.skipped)} file(s) skipped ({listed}{more})"
        if self.class_names is not None:
            shown = ", ".join(self.class_names[:10]) + (", ..." if len(self.class_names) > 10 else "")
            text += f"; {len(self.class_names)} classes ({shown})"
        return text


def _is_path_like(dataset):
    return os.sep in dataset or dataset.startswith((".", "~", "/"))


def _builtin_key(dataset):
    return dataset.strip().lower().replace("_", "-")


def _check_folder(config, path):
    from tf_diffaug.data import folder

    report = folder.scan_folder(path)
    report.raise_if_empty()
    names = None
    if config["num_classes"] is not None or config["conditional"]:
        names = report.check_class_folders()  # >= 2 class folders, no image directly in the folder
        if config["num_classes"] is not None and len(names) != config["num_classes"]:
            raise ValueError(
                f"num_classes={config['num_classes']} does not match the {len(names)} class sub-folders "
                f"{names} of folder {config['dataset']!r}. Expected num_classes={len(names)} (or none to "
                "train unconditionally)."
            )
    size = catalog.dataset_size(path, config["split"])
    return DataReport(config["dataset"], config["split"], "folder", size, list(report.skipped), path, class_names=names)


def _dataset_class_names(config):
    """The class names of a built-in or tfds dataset for `conditional=True` (`td.data.class_names`)."""
    import tf_diffaug as td

    try:
        names = td.data.class_names(config["dataset"])
    except ValueError as error:
        raise ValueError(
            f"conditional=True needs a dataset with class labels: {error} Expected a folder of class "
            "sub-folders or a labelled dataset (e.g. fashion-mnist), or conditional=False."
        ) from None
    if config["num_classes"] is not None and len(names) != config["num_classes"]:
        raise ValueError(
            f"num_classes={config['num_classes']} does not match the {len(names)} classes of dataset "
            f"{config['dataset']!r}. Expected num_classes={len(names)} (or none: it follows the dataset)."
        )
    return names


def _check_builtin(config, key):
    split = config["split"]
    if key == catalog.EMOJI_FACES:
        import importlib.resources

        from tf_diffaug.data import builtin

        asset = importlib.resources.files("tf_diffaug.data") / "assets" / builtin._EMOJI_ASSET
        if not asset.is_file():
            raise ValueError(
                f"The embedded emoji faces are missing from the installed package ({asset}). Reinstall it."
            )
        return DataReport(config["dataset"], split, "builtin", catalog.dataset_size(key, split))
    from tf_diffaug.data import builtin, tfds_source

    builder = tfds_source.find_builder("fashion_mnist")
    if builder is not None and tfds_source.is_prepared(builder):
        where = f"tfds fashion_mnist in {builder.data_dir}"
    else:
        builtin.fashion_mnist_paths()  # raises naming the missing files and how to get them
        where = builtin.FASHION_MNIST_DIR
    return DataReport(config["dataset"], split, "builtin", catalog.dataset_size(key, split), where=where)


def _check_tfds(config, name):
    from tf_diffaug.data import tfds_source

    builder = tfds_source.find_builder(name)
    if builder is None:
        raise ValueError(
            f"Unknown dataset {name!r}: it is not an existing folder, not a built-in set {list(_BUILTIN)} and not "
            f"a tfds dataset name. Expected one of the built-in sets, the path of a folder of images "
            f"({', '.join(catalog.IMAGE_EXTENSIONS)}), or a tfds dataset name such as 'cifar10'."
        )
    if not tfds_source.is_prepared(builder):
        raise tfds_source.not_prepared_error(name, builder)
    splits = builder.info.splits
    try:
        size = splits[config["split"]].num_examples
    except (KeyError, ValueError, AssertionError):
        raise ValueError(
            f"Bad split {config['split']!r} for the tfds dataset {name!r}, which has the splits "
            f"{ {key: value.num_examples for key, value in splits.items()} }."
        ) from None
    return DataReport(name, config["split"], "tfds", size, where=builder.data_dir)


def check_data(config):
    """Checks that the dataset of `config` can be opened; returns its `DataReport`.

    With `conditional=True` the report also holds the class names (a folder's immediate
    sub-folders, sorted, checked by `td.data.FolderReport.check_class_folders`; a labelled
    dataset's `td.data.class_names`), and a `num_classes` that differs from their count is an error.

    Lists a folder (no image is decoded: a corrupt file is skipped later, with a warning) and
    looks at a tfds builder's files (none is read), so it costs a folder listing or a tfds import.

    Raises:
        DataError: a ValueError naming the dataset and what would be accepted.
    """
    dataset = config["dataset"]
    path = os.path.expanduser(dataset)
    try:
        if os.path.isdir(path):
            report = _check_folder(config, path)
        elif _builtin_key(dataset) in _BUILTIN:
            report = _check_builtin(config, _builtin_key(dataset))
        elif os.path.isfile(path):
            raise ValueError(
                f"Dataset {dataset!r} is a file, not a folder of images. Expected a folder of "
                f"{', '.join(catalog.IMAGE_EXTENSIONS)} files, a built-in set {list(_BUILTIN)} or a tfds name."
            )
        elif _is_path_like(dataset):
            raise ValueError(f"Dataset folder {dataset!r} does not exist.")
        else:
            report = _check_tfds(config, dataset)
        if config["conditional"] and report.class_names is None:
            report.class_names = _dataset_class_names(config)
    except (ValueError, FileNotFoundError) as error:
        raise DataError(str(error)) from error
    subset = config.get("subset_size")
    if subset is not None and report.num_images is not None:
        if subset > report.num_images:
            raise DataError(
                f"subset_size {subset} is larger than dataset {dataset!r} split {config['split']!r} "
                f"({report.num_images} images). Expected subset_size <= {report.num_images} (or none: all of them)."
            )
        report.subset_of, report.num_images = report.num_images, subset
        report.subset_first = config.get("subset_seed", 0) is None
    size, batch = report.num_images, config["batch_size"]
    if size is not None and batch > size:
        raise DataError(
            f"batch_size {batch} is larger than dataset {dataset!r} split {config['split']!r} ({size} images). "
            f"Expected batch_size <= {size}."
        )
    return report


class DataError(ValueError):
    """The data of a configuration cannot be opened or does not fit it."""


def with_classes(config, report):
    """`config` with `num_classes` set from the class names of `report` (a conditional run), else unchanged."""
    if config.get("conditional") and report.class_names is not None:
        config = dict(config, num_classes=len(report.class_names))
    return config


__all__ = ["DataError", "DataReport", "check_data", "with_classes"]
