"""Checks on uploaded images before any pixel is decoded: size in bytes, file type, pixel count.

The order matters for safety: the body is read with a byte limit (413), the
type is told from the file's first bytes, not its name or declared type
(415), the width and height come from the header alone (413 above
:data:`MAX_PIXELS`), and only then is the image decoded with
:func:`glofwatch.data.io.read_image`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest accepted upload (20 MiB)."""
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
"""Largest accepted image: 4096 x 4096 pixels."""
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
SUFFIX = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif"}


@dataclass
class UploadRejected(Exception):
    """An upload refused with an HTTP status and a one-line reason."""

    status: int
    detail: str

    def __str__(self) -> str:
        return self.detail


def too_large(size: int | None = None, limit: int = MAX_UPLOAD_BYTES) -> UploadRejected:
    """The 413 answer for a body over ``limit`` bytes."""
    got = f" ({size / 2**20:.1f} MiB)" if size else ""
    return UploadRejected(413, f"upload too large{got}: at most {limit // 2**20} MiB; send a smaller crop")


def sniff(data: bytes) -> str:
    """``png``, ``jpeg`` or ``tiff`` from the first bytes.

    Raises:
        UploadRejected: 415 for anything else.
    """
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    raise UploadRejected(415, "unsupported file type: send a PNG, JPEG or TIFF image")


def image_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) read from the header only.

    Raises:
        UploadRejected: 400 when the header cannot be read.
    """
    if kind == "tiff":
        import warnings

        from rasterio.errors import NotGeoreferencedWarning, RasterioError
        from rasterio.io import MemoryFile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with MemoryFile(data) as mem, mem.open() as ds:
                    return int(ds.width), int(ds.height)
        except (RasterioError, OSError, ValueError) as exc:
            raise UploadRejected(400, f"the TIFF cannot be read ({_first_line(exc)}); re-export it") from None
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header, decodes nothing
            return int(im.width), int(im.height)
    except Image.DecompressionBombError:
        raise UploadRejected(413, f"image has far more than {MAX_PIXELS} pixels; send a smaller crop") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UploadRejected(400, f"the {kind.upper()} cannot be read ({_first_line(exc)}); re-export it") from None


def check_pixels(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise a 413 :class:`UploadRejected` when ``width x height`` is over ``max_pixels``."""
    if width * height > max_pixels or width <= 0 or height <= 0:
        raise UploadRejected(413, f"image is {width}x{height} pixels: at most {max_pixels} pixels "
                                  f"(e.g. {MAX_SIDE}x{MAX_SIDE}); send a smaller crop")


def check_upload(data: bytes, limit: int = MAX_UPLOAD_BYTES,
                 max_pixels: int = MAX_PIXELS) -> tuple[str, tuple[int, int]]:
    """Run the byte, type and pixel checks on a whole upload; return (kind, (width, height))."""
    if len(data) > limit:
        raise too_large(len(data), limit)
    if not data:
        raise UploadRejected(400, "empty upload: send the image as the 'file' field of a multipart form")
    kind = sniff(data[:16])
    width, height = image_size(data, kind)
    check_pixels(width, height, max_pixels)
    return kind, (width, height)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
