"""The lake pixels of a mask, numbered and grouped by lake, with no scene-size label raster.

A mapped Sentinel-2 tile holds about 1.6 M lake pixels among 121 M. Labelling the whole
raster (``scipy.ndimage.label``) and finding each label's box (``find_objects``) scan all
121 M pixels and keep a 242 MB label raster; :class:`LakePixels` numbers the lake pixels
alone (:func:`glofwatch.connectivity.label_pixels`) and :class:`LakeGroups` holds, for the
lakes kept, their pixels in raster order and their boxes. Lakes are 4-connected and numbered
as :func:`glofwatch.connectivity.label_lakes` numbers them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glofwatch.connectivity import label_pixels


@dataclass(frozen=True)
class LakeGroups:
    """Pixels of some lakes, lake by lake.

    Attributes:
        rows, cols: the pixels' rows and columns, lake after lake, each lake's in raster order.
        starts: lake ``i``'s pixels are ``rows[starts[i]:starts[i + 1]]`` (``len(lakes) + 1`` entries).
        r0, r1, c0, c1: each lake's box, rows ``r0:r1`` and columns ``c0:c1``.
    """

    rows: np.ndarray
    cols: np.ndarray
    starts: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray

    def __len__(self) -> int:
        return len(self.starts) - 1

    def raster(self, i: int, pad: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
        """Lake ``i`` as a boolean raster of its box grown by ``pad`` px, and the raster's (row, col) origin."""
        r0, c0 = int(self.r0[i]) - pad, int(self.c0[i]) - pad
        one = np.zeros((int(self.r1[i]) + pad - r0, int(self.c1[i]) + pad - c0), dtype=bool)
        s, e = self.starts[i], self.starts[i + 1]
        one[self.rows[s:e] - r0, self.cols[s:e] - c0] = True
        return one, (r0, c0)


@dataclass(frozen=True)
class LakePixels:
    """Every lake pixel of a mask and the number of its lake.

    Attributes:
        at: flat (row-major) indices of the lake pixels, ascending.
        lake: the lake number (1..n) of each pixel of ``at``.
        n: number of lakes.
        shape: the mask's (height, width).
    """

    at: np.ndarray
    lake: np.ndarray
    n: int
    shape: tuple[int, int]

    @classmethod
    def of(cls, mask: np.ndarray, value: int = 1) -> LakePixels:
        """The pixels of ``mask`` equal to ``value`` (1: lake), numbered by 4-connected lake.

        Example:
            >>> m = np.array([[1, 1, 0], [0, 0, 2], [1, 0, 1]], np.uint8)
            >>> px = LakePixels.of(m)
            >>> px.at.tolist(), px.lake.tolist(), px.n
            ([0, 1, 6, 8], [1, 1, 2, 3], 3)
        """
        h, w = mask.shape
        at = np.flatnonzero(mask.reshape(-1) == value)
        return cls.from_indices(at, (h, w))

    @classmethod
    def from_indices(cls, at: np.ndarray, shape: tuple[int, int]) -> LakePixels:
        """The pixels at flat indices ``at`` (ascending, each once) of a raster of ``shape``, numbered by lake."""
        lake, n = label_pixels(at, shape[1])
        return cls(np.asarray(at), lake, n, (int(shape[0]), int(shape[1])))

    def sizes(self) -> np.ndarray:
        """Pixels per lake number 0..n (0 counts nothing)."""
        return np.bincount(self.lake, minlength=self.n + 1)

    def rows_slice(self, r0: int, r1: int) -> slice:
        """The slice of :attr:`at` (and :attr:`lake`) holding the pixels of rows ``r0:r1``."""
        w = self.shape[1]
        a, b = np.searchsorted(self.at, [r0 * w, r1 * w])
        return slice(int(a), int(b))

    def groups(self, lakes: np.ndarray) -> LakeGroups:
        """The pixels and boxes of the lake numbers in ``lakes`` (ascending), in that order.

        Example:
            >>> m = np.zeros((4, 5), np.uint8); m[0, 0] = 1; m[1:3, 2:5] = 1; m[3, 3] = 1
            >>> g = LakePixels.of(m).groups(np.array([2]))
            >>> int(g.r0[0]), int(g.r1[0]), int(g.c0[0]), int(g.c1[0])
            (1, 4, 2, 5)
        """
        lakes = np.asarray(lakes, dtype=np.int64)
        if lakes.size and (np.any(lakes[1:] <= lakes[:-1]) or lakes[0] < 1 or lakes[-1] > self.n):
            raise ValueError(f"LakePixels.groups: give lake numbers 1..{self.n}, ascending, each once")
        wanted = np.zeros(self.n + 1, dtype=bool)
        wanted[lakes] = True
        pick = np.flatnonzero(wanted[self.lake])
        pick = pick[np.argsort(self.lake[pick], kind="stable")]  # lake after lake, raster order within
        flat = self.at[pick].astype(np.int64, copy=False)
        w = self.shape[1]
        rows, cols = flat // w, flat % w
        starts = np.searchsorted(self.lake[pick], np.append(lakes, self.n + 1))
        if lakes.size == 0:
            empty = np.zeros(0, np.int64)
            return LakeGroups(rows, cols, starts, empty, empty, empty, empty)
        first, last = starts[:-1], starts[1:] - 1
        return LakeGroups(rows, cols, starts, rows[first], rows[last] + 1,
                          np.minimum.reduceat(cols, first), np.maximum.reduceat(cols, first) + 1)
