"""CAP 1.2 XML: validates against the OASIS schema and carries the right polygon, times and severity."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import pytest
import xmlschema
from alerts_fixtures import UTM, X0, Y0, cap_xsd, lake, write_risk_dir
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box

from glofwatch.alerts.cap import cap_polygon, format_sent
from glofwatch.alerts.run import issue_alerts
from glofwatch.errors import ConfigError

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
SENT = dt.datetime(2024, 9, 2, 6, 30, 0, tzinfo=dt.UTC)


def pairs(polygon: str) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in p.split(",")) for p in polygon.split(" ")]  # type: ignore[misc]


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(cap_xsd()))


def test_alert_xml_validates_and_carries_severity_polygon_and_parameters(tmp_path: Path, schema) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.75), lake(2, 0.1)])
    run = issue_alerts(risk, tmp_path / "alerts", sender="dhm@example.org", status="Exercise", sent=SENT)
    assert [m.lake_id for m in run.messages] == [1]
    xml_path = tmp_path / "alerts" / run.messages[0].cap_file
    schema.validate(str(xml_path))  # raises on any schema violation
    root = ET.parse(xml_path).getroot()
    assert root.findtext("cap:sent", namespaces=NS) == "2024-09-02T06:30:00+00:00"
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:scope", namespaces=NS) == "Public"
    info = root.find("cap:info", NS)
    assert [c.text for c in info.findall("cap:category", NS)] == ["Geo", "Env"]
    assert info.findtext("cap:severity", namespaces=NS) == "Extreme"  # red
    assert "glacial lake 1" in info.findtext("cap:headline", namespaces=NS)
    assert "lake area" in info.findtext("cap:description", namespaces=NS)  # the top criterion
    params = {p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
              for p in info.findall("cap:parameter", NS)}
    assert (params["lake_id"], params["hazard_score"], params["level"]) == ("1", "0.750", "red")
    points = pairs(info.find("cap:area", NS).findtext("cap:polygon", namespaces=NS))
    assert points[0] == points[-1] and len(points) >= 4
    # lat,lon order: the lake lies at about 28.0 N, 86.4 E; its south-west corner is a vertex
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(X0 + 500.0, Y0 - 1200.0)
    assert all(27.9 < la < 28.1 and 86.3 < lo < 86.5 for la, lo in points)
    assert any(abs(la - lat) < 1e-6 and abs(lo - lon) < 1e-6 for la, lo in points)


def test_sent_is_utc_with_offset_never_z() -> None:
    nepal = dt.timezone(dt.timedelta(hours=5, minutes=45))
    assert format_sent(dt.datetime(2024, 9, 2, 12, 15, 30, 999, tzinfo=nepal)) == "2024-09-02T06:30:30+00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", format_sent(dt.datetime.now(dt.UTC)))


def test_big_outlines_are_simplified_and_tiny_ones_buffered() -> None:
    circle = Point(X0 + 1000, Y0 - 1000).buffer(800, quad_segs=500)  # 2001 vertices
    big = pairs(cap_polygon(circle, UTM, max_points=100))
    assert 4 <= len(big) <= 100 and big[0] == big[-1]
    tiny = pairs(cap_polygon(box(X0, Y0 - 2, X0 + 2, Y0), UTM))  # 4 m2
    assert tiny[0] == tiny[-1] and len(tiny) >= 4
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    ring = Polygon([to_utm.transform(lo, la) for la, lo in tiny])
    assert ring.area == pytest.approx(math.pi * 50**2, rel=0.1)  # 50 m buffer around a 2 m square
    triangle = pairs(cap_polygon(Polygon([(X0, Y0), (X0 + 100, Y0), (X0, Y0 - 100)]), UTM))
    assert len(triangle) == 4  # three corners, closed


def test_polygon_of_an_outline_stored_in_wgs84() -> None:
    lonlat = Polygon([(86.40, 28.00), (86.41, 28.00), (86.41, 28.01), (86.40, 28.01)])
    points = pairs(cap_polygon(lonlat, "EPSG:4326"))
    assert (28.0, 86.4) in points and (28.01, 86.41) in points


def test_a_lake_without_outline_gets_a_circle_around_its_centroid(tmp_path: Path, schema) -> None:
    row = lake(1, 0.8, geometry=None)
    risk = write_risk_dir(tmp_path / "risk", [row, lake(2, 0.1)])
    table_path = risk / "risk.gpkg"
    table = gpd.read_file(table_path, layer="lakes")
    table.loc[table["lake_id"] == 1, ["centroid_lon", "centroid_lat"]] = [86.4, 28.0]
    table.to_file(table_path, layer="lakes", driver="GPKG", engine="pyogrio")
    (msg,) = issue_alerts(risk, tmp_path / "alerts", sent=SENT).messages
    schema.validate(str(tmp_path / "alerts" / msg.cap_file))
    points = pairs(msg.polygon)
    assert points[0] == points[-1] and len(points) >= 4
    assert all(abs(la - 28.0) < 0.001 and abs(lo - 86.4) < 0.001 for la, lo in points)  # within 50 m


def test_bad_sender_and_status_are_one_line_errors(tmp_path: Path) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.75)])
    with pytest.raises(ConfigError, match="without spaces, commas"):
        issue_alerts(risk, tmp_path / "a", sender="DHM Nepal")
    with pytest.raises(ConfigError, match="unknown CAP status 'Excercise'; did you mean 'Exercise'"):
        issue_alerts(risk, tmp_path / "a", status="Excercise")
