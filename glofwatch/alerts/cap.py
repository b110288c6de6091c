"""Common Alerting Protocol 1.2 messages: the alert polygon and the XML.

Element order, enumerations and the ``sent`` format follow the OASIS CAP 1.2
schema (``urn:oasis:names:tc:emergency:cap:1.2``): times are
``YYYY-MM-DDThh:mm:ss+00:00`` (never ``Z``), a polygon is space-separated
``lat,lon`` pairs in WGS84, closed, with at least four points.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from glofwatch.errors import ConfigError

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
_BAD_ID_CHARS = re.compile(r"[\s,<&]")


def format_sent(when: dt.datetime) -> str:
    """CAP time: UTC, whole seconds, ``+00:00`` offset."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def check_sender(sender: str) -> str:
    """Return ``sender`` if CAP allows it (non-empty, no spaces, commas, ``<`` or ``&``)."""
    if not sender or _BAD_ID_CHARS.search(sender):
        raise ConfigError(f"sender '{sender}' must be non-empty without spaces, commas, '<' or '&', "
                          "e.g. --sender glofwatch@dhm.gov.np")
    return sender


def reference(sender: str, identifier: str, sent: str) -> str:
    """The ``references`` entry of an earlier message: ``sender,identifier,sent``."""
    return f"{sender},{identifier},{sent}"


@dataclass
class CapMessage:
    """One CAP alert with one info block and one area.

    Attributes:
        identifier: unique id of this message.
        sender: id of the originator.
        sent: CAP time text (see :func:`format_sent`).
        status: Actual, Exercise, System, Test or Draft.
        msg_type: Alert, Update or Cancel.
        references: earlier messages, ``sender,identifier,sent`` (space separated), or None.
        lake_id: the lake the message is about.
        level: green, yellow, orange or red.
        event, urgency, severity, certainty: CAP info values.
        response_types: CAP responseType values.
        headline, description, instruction: texts for people.
        area_desc: CAP areaDesc.
        polygon: CAP polygon text.
        parameters: valueName -> value.
        categories: CAP categories.
        note: CAP note (why an Update or Cancel was sent).
        cap_file: path of the XML, relative to the alerts folder.
    """

    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    references: str | None
    lake_id: int
    level: str
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: list[str]
    headline: str
    description: str
    instruction: str
    area_desc: str
    polygon: str
    parameters: dict[str, str] = field(default_factory=dict)
    categories: list[str] = field(default_factory=lambda: ["Geo", "Env"])
    note: str = ""
    cap_file: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``alerts.json``."""
        return asdict(self)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def to_xml(msg: CapMessage) -> bytes:
    """The CAP 1.2 XML document of ``msg`` (UTF-8, with XML declaration, indented)."""
    if msg.status not in STATUSES or msg.msg_type not in MSG_TYPES:
        raise ConfigError(f"CAP status '{msg.status}' / msgType '{msg.msg_type}' is not allowed; "
                          f"status is one of {', '.join(STATUSES)}")
    ET.register_namespace("", CAP_NS)
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    for tag, text in (("identifier", msg.identifier), ("sender", msg.sender), ("sent", msg.sent),
                      ("status", msg.status), ("msgType", msg.msg_type), ("scope", "Public")):
        _sub(alert, tag, text)
    if msg.note:
        _sub(alert, "note", msg.note)
    if msg.references:
        _sub(alert, "references", msg.references)
    info = _sub(alert, "info")
    _sub(info, "language", "en-US")
    for category in msg.categories:
        _sub(info, "category", category)
    _sub(info, "event", msg.event)
    for response in msg.response_types:
        _sub(info, "responseType", response)
    for tag, text in (("urgency", msg.urgency), ("severity", msg.severity), ("certainty", msg.certainty),
                      ("senderName", "glofwatch GLOF early warning"), ("headline", msg.headline),
                      ("description", msg.description), ("instruction", msg.instruction)):
        if text:
            _sub(info, tag, text)
    for name, value in msg.parameters.items():
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", msg.area_desc)
    if msg.polygon:
        _sub(area, "polygon", msg.polygon)
    ET.indent(alert, space="  ")
    body = ET.tostring(alert, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def cap_polygon(geom: Any, crs: Any, max_points: int = 100, min_area_m2: float = 900.0,
                buffer_m: float = 50.0) -> str:
    """The CAP polygon of a lake outline: ``"lat,lon lat,lon ..."`` in WGS84, closed, 4 to ``max_points`` points.

    Holes are dropped and a multipolygon becomes its convex hull; an outline
    smaller than ``min_area_m2`` (or a point or line) is buffered by ``buffer_m``;
    a big one is simplified (Douglas-Peucker, tolerance doubling from 1 m) until
    it has at most ``max_points`` points.

    Args:
        geom: the outline (shapely), in ``crs``.
        crs: its CRS (anything pyproj takes).
        max_points: most points of the polygon, the closing one included (>= 5).
        min_area_m2: outlines below this area are buffered.
        buffer_m: buffer distance for tiny outlines.
    """
    import geopandas as gpd
    from shapely.geometry import Polygon

    series = gpd.GeoSeries([geom], crs=crs)
    metric = series.crs if series.crs.is_projected else series.estimate_utm_crs()
    shape = series.to_crs(metric).iloc[0]
    shape = shape.buffer(0) if shape.geom_type in ("Polygon", "MultiPolygon") else shape
    if shape.geom_type != "Polygon":
        shape = shape.convex_hull
    if shape.geom_type != "Polygon" or shape.area < min_area_m2:
        shape = shape.buffer(buffer_m, quad_segs=4)
    ring = Polygon(shape.exterior)
    tolerance = 1.0
    simple = ring
    while len(simple.exterior.coords) > max(max_points, 5):
        simple = ring.simplify(tolerance, preserve_topology=True)
        if simple.geom_type != "Polygon" or simple.is_empty or len(simple.exterior.coords) < 4:
            simple = ring.convex_hull.simplify(tolerance, preserve_topology=True)
        tolerance *= 2.0
    lonlat = gpd.GeoSeries([simple], crs=metric).to_crs("EPSG:4326").iloc[0]
    pairs: list[str] = []
    for lon, lat in lonlat.exterior.coords:
        text = f"{lat:.6f},{lon:.6f}"
        if not pairs or pairs[-1] != text:
            pairs.append(text)
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    if len(pairs) < 4:
        return cap_polygon(shape.buffer(buffer_m, quad_segs=4), metric, max_points, min_area_m2, buffer_m)
    return " ".join(pairs)
