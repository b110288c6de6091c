"""Areas of interest: checking a lon/lat bounding box and choosing the one grid its scenes are read onto.

A bbox is ``(west, south, east, north)`` in WGS84 degrees. Its grid is 10 m in
the UTM zone of its centre (EPSG 326zz north, 327zz south), snapped outwards to
whole 10 m so that it lines up with the Sentinel-2 tiles of that zone (their
corners are whole multiples of 10 m): pixels of the same zone are read as they
are, pixels of a neighbouring zone are reprojected onto it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid

MAX_SIDE_KM = 110.0
"""Largest bbox side fetched at once (a Sentinel-2 tile is 110 km wide)."""

UTM_LAT_RANGE = (-80.0, 84.0)
"""Latitudes UTM covers."""


@dataclass(frozen=True)
class BBox:
    """A checked lon/lat box (degrees)."""

    west: float
    south: float
    east: float
    north: float

    @property
    def center(self) -> tuple[float, float]:
        """(lon, lat) of the centre."""
        return ((self.west + self.east) / 2.0, (self.south + self.north) / 2.0)

    def as_list(self) -> list[float]:
        """``[west, south, east, north]``."""
        return [self.west, self.south, self.east, self.north]

    def area_km2(self) -> float:
        """Geodesic area on the WGS84 ellipsoid."""
        import pyproj
        from shapely.geometry import box

        area, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(box(self.west, self.south, self.east, self.north))
        return abs(area) / 1e6


def check_bbox(west: float, south: float, east: float, north: float) -> BBox:
    """A :class:`BBox`, or one line saying what is wrong with it.

    Raises:
        InputError: a value that is not a number or out of range, an empty box (west = east or
            south = north), an inverted one (south > north), one across the antimeridian
            (west > east), one beyond UTM's latitudes, or one larger than :data:`MAX_SIDE_KM`.
    """
    text = f"--bbox {west:g} {south:g} {east:g} {north:g}"
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InputError(f"{text}: every value must be a finite number (W S E N in degrees)")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InputError(f"{text}: longitudes must be in -180..180 and latitudes in -90..90 (W S E N in degrees)")
    if west == east or south == north:
        raise InputError(f"{text}: the box is empty ({'west equals east' if west == east else 'south equals north'}); "
                         "give W S E N with W < E and S < N")
    if south > north:
        raise InputError(f"{text}: the box is inverted (south {south:g} is north of north {north:g}); "
                         "give W S E N with S < N")
    if west > east:
        raise InputError(f"{text}: west {west:g} is east of east {east:g}, so the box crosses the antimeridian "
                         "(or W and E are swapped); split it into one box on each side of 180 degrees")
    lo, hi = UTM_LAT_RANGE
    if south < lo or north > hi:
        raise InputError(f"{text}: latitudes beyond {lo:g}..{hi:g} are outside UTM; glofwatch fetches only there")
    box = BBox(float(west), float(south), float(east), float(north))
    lon, lat = box.center
    width_km = (east - west) * 111.32 * math.cos(math.radians(lat))
    height_km = (north - south) * 110.57
    if max(width_km, height_km) > MAX_SIDE_KM:
        raise InputError(f"{text}: the box is {width_km:.0f} x {height_km:.0f} km; fetch at most {MAX_SIDE_KM:g} km "
                         "on a side (split it into smaller boxes)")
    return box


def utm_zone(lon: float) -> int:
    """UTM zone number (1..60) of a longitude.

    Example:
        >>> utm_zone(88.2), utm_zone(-180.0), utm_zone(180.0)
        (45, 1, 60)
    """
    return min(60, int(math.floor((lon + 180.0) / 6.0)) + 1)


def utm_crs(box: BBox) -> str:
    """``EPSG:326zz`` (north) or ``EPSG:327zz`` (south) for the zone of the box's centre."""
    lon, lat = box.center
    return f"EPSG:{(32600 if lat >= 0 else 32700) + utm_zone(lon)}"


def zones(box: BBox) -> list[int]:
    """The UTM zones the box spans, west to east."""
    return list(range(utm_zone(box.west), utm_zone(min(box.east, 179.999999)) + 1))


def bbox_grid(box: BBox, crs: str | None = None, resolution_m: float = 10.0) -> GeoGrid:
    """The grid of ``box`` in ``crs`` (default :func:`utm_crs`), snapped outwards to whole ``resolution_m``."""
    from rasterio.warp import transform_bounds

    crs = crs or utm_crs(box)
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, *box.as_list(), densify_pts=21)
    r = resolution_m
    left, bottom = math.floor(left / r) * r, math.floor(bottom / r) * r
    right, top = math.ceil(right / r) * r, math.ceil(top / r) * r
    width, height = int(round((right - left) / r)), int(round((top - bottom) / r))
    return GeoGrid(crs, Affine(r, 0.0, left, 0.0, -r, top), height, width, nodata=0)
