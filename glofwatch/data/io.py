"""Read training crops and their masks from disk.

Images come as PNG/JPEG (read with PIL, 8-bit) or GeoTIFF (read with
rasterio, bands kept as they are: ``uint8``, ``uint16`` or ``float32``).
Masks are binary rasters: 0 = background and 1 or 255 = lake.

No-data pixels (black wedges at a scene edge, transparent PNG pixels, TIFF
nodata) are set to 0 in every channel (NaN for float images), so
:func:`valid_mask` finds them again from the pixel values alone.

Example:
    >>> image = read_image("crops/images/img_1.png")  # doctest: +SKIP
    >>> image.shape, image.dtype                       # doctest: +SKIP
    ((320, 320, 3), dtype('uint8'))
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from glofwatch.errors import InputError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""File suffixes read as images or masks (lower case; matching ignores case)."""

TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")

_KEPT_DTYPES = (np.uint8, np.uint16, np.float32)
_REEXPORT = "re-export it or remove it"


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: file not found; check the path")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type '{path.suffix}'; use one of {' '.join(IMAGE_SUFFIXES)}"
        )


MAX_IMAGE_PIXELS = 64_000_000
"""Largest image (pixels) read whole as one crop (8000 x 8000); scenes are read window by window by ``map``."""


def check_pixels(path: Path, width: int, height: int) -> None:
    """Raise :class:`InputError` before decoding an image larger than :data:`MAX_IMAGE_PIXELS`."""
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{path}: {width}x{height} = {width * height / 1e6:.0f} M pixels is over the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} M "
            "pixel limit of one image; map it as a scene with `glofwatch map`, or cut it into crops"
        )


def _corrupt(path: Path, exc: BaseException) -> InputError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(f"{path}: cannot be read ({reason}); the file is corrupt or truncated, {_REEXPORT}")


def check_channels(image: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` when ``image`` (H, W, C) is single-channel (grayscale)."""
    if image.shape[2] == 1:
        raise InputError(
            f"{path}: image has 1 channel (grayscale) but colour imagery with 3 or more channels "
            f"is needed; re-export it as RGB or remove it"
        )


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------


def read_image(path: str | os.PathLike[str], allow_gray: bool = False) -> np.ndarray:
    """Read an image as a channels-last array.

    Args:
        path: ``.png``/``.jpg``/``.jpeg`` (8-bit, via PIL) or ``.tif``/``.tiff``
            (any band count, via rasterio).
        allow_gray: accept single-channel images (returned as ``(H, W, 1)``);
            by default they are refused because the models need colour.

    Returns:
        ``(H, W, C)`` array. PNG/JPEG: ``uint8``. TIFF: ``uint8``, ``uint16`` or
        ``float32`` as stored (other integer/float types become ``float32``).
        No-data pixels (PNG alpha == 0, TIFF nodata/mask/alpha) are 0 in every
        channel, NaN for float images. An alpha channel is dropped.

    Raises:
        InputError: missing, unsupported, corrupt or grayscale (unless ``allow_gray``) file.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        image = _read_tiff_image(path)
    else:
        image = _read_pil_image(path)
    if not allow_gray:
        check_channels(image, path)
    return image


def _read_pil_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            check_pixels(path, *opened.size)  # from the header: a decompression bomb is never decoded
            opened.load()
            im: Image.Image = opened
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode == "CMYK" or mode == "YCbCr":
                im = im.convert("RGB")
            elif mode == "1":
                im = im.convert("L")
            elif mode.startswith("I") or mode == "F":
                # 16/32-bit grayscale: keep the values, there is only one channel anyway.
                arr = np.asarray(im)
                return arr.astype(np.float32 if arr.dtype.kind == "f" else np.uint16)[..., None]
            elif mode == "PA":
                im = im.convert("RGBA")
            arr = np.asarray(im)
    except InputError:
        raise  # too many pixels: the message says so, the file is not corrupt
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _corrupt(path, exc) from None

    if arr.ndim == 2:
        return np.ascontiguousarray(arr[..., None])
    if arr.shape[2] in (2, 4):  # LA or RGBA: last channel is alpha
        alpha = arr[..., -1]
        arr = np.array(arr[..., :-1])
        arr[alpha == 0] = 0
    return np.ascontiguousarray(arr)


def _read_tiff_image(path: Path) -> np.ndarray:
    import rasterio
    from rasterio.enums import ColorInterp, MaskFlags
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                check_pixels(path, src.width, src.height)
                keep = [
                    i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha
                ] or list(range(1, src.count + 1))
                data = src.read(keep)
                has_mask = any(
                    MaskFlags.all_valid not in flags for flags in src.mask_flag_enums
                )
                valid = src.dataset_mask() > 0 if has_mask else None
    except (RasterioError, OSError) as exc:
        raise _corrupt(path, exc) from None

    image = np.moveaxis(data, 0, -1)
    if image.dtype not in _KEPT_DTYPES:
        image = image.astype(np.float32)
    image = np.ascontiguousarray(image)
    if valid is not None and not valid.all():
        image[~valid] = np.nan if image.dtype.kind == "f" else 0
    return image


# ---------------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------------


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a binary lake mask.

    Accepted: single-channel rasters, or RGB(A) rasters whose colour channels
    are equal (alpha is ignored), holding only 0/1 or only 0/255 (a mask of
    only 0, only 1 or only 255 is fine too).

    Args:
        path: mask file (``.png``/``.jpg``/``.jpeg`` via PIL, ``.tif``/``.tiff`` via
            rasterio, first band only for TIFF).

    Returns:
        ``(H, W)`` ``uint8`` array, 1 = lake, 0 = background.

    Raises:
        InputError: missing, corrupt, coloured or non-binary mask.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        arr = _read_tiff_mask(path)
    else:
        arr = _read_pil_mask(path)

    if arr.ndim == 3:
        colour = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if not (colour == colour[..., :1]).all():
            raise InputError(
                f"{path}: mask has different values in its colour channels; "
                f"re-export it as one channel with 0 = background, 255 = lake"
            )
        arr = colour[..., 0]

    values = np.unique(arr)
    value_set = {float(v) for v in values}
    if not (value_set <= {0.0, 1.0} or value_set <= {0.0, 255.0}):
        shown = ", ".join(_fmt_value(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise InputError(
            f"{path}: mask has values [{shown}] but a binary mask holds only 0/1 or 0/255; "
            f"re-export it as 0 = background, 255 = lake"
        )
    return (arr > 0).astype(np.uint8)


def _fmt_value(v: np.generic) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _read_pil_mask(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            check_pixels(path, *opened.size)  # from the header: a decompression bomb is never decoded
            opened.load()
            im: Image.Image = opened
            if im.mode == "1":
                return np.asarray(im).astype(np.uint8)
            if im.mode in ("LA", "PA"):
                return np.asarray(im)[..., 0]
            if im.mode in ("CMYK", "YCbCr"):
                im = im.convert("RGB")
            # "P" (palette) masks: the palette indices are the class values.
            return np.asarray(im)
    except InputError:
        raise  # too many pixels: the message says so, the file is not corrupt
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _corrupt(path, exc) from None


def _read_tiff_mask(path: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                data = src.read()
    except (RasterioError, OSError) as exc:
        raise _corrupt(path, exc) from None
    if data.dtype.kind == "f" and np.isnan(data).any():
        data = np.nan_to_num(data, nan=0.0)
    return data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)


# ---------------------------------------------------------------------------------------------
# no-data
# ---------------------------------------------------------------------------------------------


def valid_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that hold data.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` array, any dtype.

    Returns:
        ``(H, W)`` bool array: False where every channel is 0 (black no-data
        wedges, transparent or masked pixels) or any channel is NaN or infinite.
    """
    if image.ndim == 2:
        image = image[..., None]
    valid = (image != 0).any(axis=-1)
    if image.dtype.kind == "f":
        valid &= np.isfinite(image).all(axis=-1)
    return valid


def list_image_files(paths: list[Path]) -> list[Path]:
    """Image files named in ``paths``: files as given, folders expanded (sorted, by suffix).

    Raises:
        InputError: a path does not exist, or paths were given but hold no image.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder; give image files or folders of images")
    if paths and not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, paths))}")
    return files
