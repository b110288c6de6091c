"""Which crops belong together: groups for splits that keep a scene on one side.

Crops cut from one scene share lakes, light and haze; a random per-crop split
puts neighbours on both sides of it and flatters the test score. A grouping
gives every crop a group name, and :mod:`glofwatch.data.split` keeps each
group whole on one side.

A grouping is written as one string (``--group-by`` on the command line,
``group_by`` in a config):

- ``none``: every crop is its own group (a plain per-crop split);
- ``regex:PATTERN``: the first capture group of ``PATTERN`` searched in the file
  stem (the whole match when the pattern has no group), e.g.
  ``regex:^(T\\d{2}[A-Z]{3})_`` for crops named after their Sentinel-2 tile;
- ``csv:PATH``: a CSV file with the columns ``name,group`` (``name`` is the
  image file name or its stem);
- ``footprint``: georeferenced crops (GeoTIFF with a CRS) whose footprints
  overlap or touch are one group (connected components of the overlap graph),
  so crops cut from one scene stay together;
- ``duplicates``: crops that are copies of one another under a flip or a
  rotation by a multiple of 90 degrees (offline augmentation) are one group,
  found by comparing 16 x 16 thumbnails under the 8 symmetries of the square
  (mean absolute difference below 2 of 255). The 410 real Himalayan crops hold
  82 such groups of 4 (an original and 3 flipped or rotated copies): a per-crop
  split puts copies of one crop on both sides.

Example:
    >>> GroupSpec.parse("regex:^(scene\\d+)_").kind
    'regex'
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glofwatch.errors import ConfigError, InputError

GROUP_KINDS = ("none", "regex", "csv", "footprint", "duplicates")
GROUP_HELP = ("none, regex:PATTERN (first group of a pattern on the file stem), csv:FILE (name,group), footprint "
              "(overlapping georeferenced crops) or duplicates (flipped/rotated copies)")
THUMB = 16
DUPLICATE_MAD = 2.0


@dataclass(frozen=True)
class GroupSpec:
    """A parsed grouping (see the module docstring).

    Attributes:
        kind: one of :data:`GROUP_KINDS`.
        arg: the pattern (regex) or the CSV path (csv); empty otherwise.
    """

    kind: str = "none"
    arg: str = ""

    @classmethod
    def parse(cls, text: str | None) -> GroupSpec:
        """Parse ``none``, ``regex:PATTERN``, ``csv:PATH`` or ``footprint``.

        Raises:
            ConfigError: unknown kind, empty argument or a pattern that does not compile.
        """
        text = (text or "none").strip()
        kind, _, arg = text.partition(":")
        kind = kind.strip().lower()
        if kind not in GROUP_KINDS:
            raise ConfigError(f"group_by '{text}' is unknown; use {GROUP_HELP}")
        if kind in ("none", "footprint", "duplicates"):
            if arg:
                raise ConfigError(f"group_by '{text}': '{kind}' takes no argument; use {GROUP_HELP}")
            return cls(kind)
        if not arg:
            raise ConfigError(f"group_by '{text}': give the {'pattern' if kind == 'regex' else 'CSV file'} after "
                              f"'{kind}:', e.g. {'regex:^(scene[0-9]+)_' if kind == 'regex' else 'csv:groups.csv'}")
        if kind == "regex":
            try:
                re.compile(arg)
            except re.error as exc:
                raise ConfigError(f"group_by '{text}': the pattern does not compile ({exc}); fix the regex") from None
        return cls(kind, arg)

    @property
    def grouped(self) -> bool:
        """True unless every crop is its own group."""
        return self.kind != "none"

    def __str__(self) -> str:
        return self.kind if not self.arg else f"{self.kind}:{self.arg}"


def group_labels(spec: GroupSpec | str, images: Sequence[Path]) -> list[str]:
    """One group name per image file.

    Args:
        spec: the grouping (a :class:`GroupSpec` or its string form).
        images: image files, in the order of the data set.

    Returns:
        Group names, one per image (``none``: the file stem).

    Raises:
        InputError: a file name the pattern does not match, a file missing from
            the CSV, or (footprint) a crop without georeference.
    """
    spec = GroupSpec.parse(spec) if isinstance(spec, str) else spec
    images = [Path(p) for p in images]
    if spec.kind == "none":
        return [p.stem for p in images]
    if spec.kind == "regex":
        return _regex_groups(spec.arg, images)
    if spec.kind == "csv":
        return _csv_groups(Path(spec.arg), images)
    if spec.kind == "duplicates":
        return _duplicate_groups(images)
    return _footprint_groups(images)


def _regex_groups(pattern: str, images: list[Path]) -> list[str]:
    rx = re.compile(pattern)
    out = []
    for p in images:
        m = rx.search(p.stem)
        if m is None:
            raise InputError(f"{p}: file name does not match the grouping pattern '{pattern}'; "
                             "fix the pattern or rename the file")
        out.append(next((g for g in m.groups() if g is not None), m.group(0)) if m.groups() else m.group(0))
    return out


def _csv_groups(path: Path, images: list[Path]) -> list[str]:
    if not path.is_file():
        raise InputError(f"{path}: grouping CSV not found; give a file with the columns name,group")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"name", "group"} <= set(rows[0]):
        raise InputError(f"{path}: needs a header line 'name,group' and one row per image; fix the file")
    by_name: dict[str, str] = {}
    for row in rows:
        name, group = (row.get("name") or "").strip(), (row.get("group") or "").strip()
        if name and group:
            by_name[name] = group
            by_name.setdefault(Path(name).stem, group)
    out = []
    for p in images:
        group = by_name.get(p.name, by_name.get(p.stem))
        if group is None:
            raise InputError(f"{path}: no group for {p.name}; add a row '{p.name},GROUP'")
        out.append(group)
    return out


def crop_footprints(images: Sequence[Path]) -> tuple[np.ndarray, list[str]]:
    """Bounds (n, 4: left, bottom, right, top) and CRS of georeferenced crops.

    Raises:
        InputError: a crop that is not a georeferenced raster.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    bounds, crss = [], []
    for p in images:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(p) as src:
                    crs, b = src.crs, src.bounds
        except (RasterioError, OSError):
            crs = None
        if crs is None:
            raise InputError(f"{p}: not georeferenced (no CRS), so footprint grouping cannot place it; "
                             "use --group-by regex:PATTERN or csv:FILE")
        bounds.append((b.left, b.bottom, b.right, b.top))
        crss.append(crs.to_string())
    return np.asarray(bounds, dtype=np.float64).reshape(-1, 4), crss


def _footprint_groups(images: list[Path]) -> list[str]:
    """Connected components of the 'footprints overlap or touch' graph (per CRS)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    b, crss = crop_footprints(images)
    n = len(images)
    same_crs = np.asarray(crss)[:, None] == np.asarray(crss)[None, :]
    touch = ((b[:, None, 0] <= b[None, :, 2]) & (b[None, :, 0] <= b[:, None, 2])
             & (b[:, None, 1] <= b[None, :, 3]) & (b[None, :, 1] <= b[:, None, 3]) & same_crs)
    rows, cols = np.nonzero(touch)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return [f"footprint-{int(k)}" for k in labels]


def _thumbnail(path: Path) -> np.ndarray:
    """A (THUMB, THUMB, 3) float32 thumbnail of the first three bands, 0..255 (area-averaged)."""
    import cv2

    from glofwatch.data.io import read_image

    image = np.nan_to_num(read_image(path).astype(np.float32))[..., :3]
    if image.shape[2] < 3:
        image = np.repeat(image[..., :1], 3, axis=2)
    hi = float(np.percentile(image, 99.5)) if image.dtype != np.uint8 and image.max() > 255 else 255.0
    image = np.clip(image * (255.0 / max(hi, 1e-6)), 0, 255)
    return cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


def _duplicate_groups(images: list[Path]) -> list[str]:
    """Connected components of 'one crop is a flipped or rotated copy of the other' (see the module docstring)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import cdist

    thumbs = np.stack([_thumbnail(p) for p in images])
    flat = thumbs.reshape(len(images), -1)
    rows, cols = [], []
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(thumbs, k, axes=(1, 2))
            t = t[:, :, ::-1] if flip else t
            d = cdist(flat, t.reshape(len(images), -1), metric="cityblock") / flat.shape[1]
            if k == 0 and not flip:
                np.fill_diagonal(d, np.inf)
            i, j = np.nonzero(d < DUPLICATE_MAD)
            rows += i.tolist()
            cols += j.tolist()
    n = len(images)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return [f"copies-{int(k)}" for k in labels]
