"""The web map's JSON API on the tiny served folder: filters, one lake, series, alerts, CAP, scenes, thumbnails."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from webmap_fixtures import DATES, EXPECTED_LEVELS, lonlat_box

CAP_NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def ids(client, query: str = "") -> list[int]:
    res = client.get("/api/lakes" + query)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/geo+json")
    doc = res.json()
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == len(doc["features"])
    return sorted(f["id"] for f in doc["features"])


def test_info_counts_what_the_folder_holds(client) -> None:
    info = client.get("/api/info").json()
    assert info["n_lakes"] == 5 and info["dates"] == list(DATES)
    assert info["levels"] == {"red": 1, "orange": 1, "yellow": 1, "green": 2}
    assert info["sources"]["lakes"] == "risk" and info["sources"]["maps"] == 2
    assert info["alerts"]["active"] == 3 and info["writes_enabled"] is True and info["model"] is None
    w, s, e, n = info["bounds"]
    assert 86.3 < w < e < 86.5 and 27.9 < s < n < 28.1
    assert info["notes"] == []


def test_lakes_carry_their_alert_level(client) -> None:
    doc = client.get("/api/lakes").json()
    assert {f["id"]: f["properties"]["level"] for f in doc["features"]} == EXPECTED_LEVELS
    lake1 = next(f for f in doc["features"] if f["id"] == 1)
    assert lake1["geometry"]["type"] == "Polygon" and lake1["properties"]["area_km2"] == pytest.approx(0.04)
    assert lake1["properties"]["hazard_score"] == 0.8 and lake1["properties"]["tracked"] is True


@pytest.mark.parametrize(("box", "expected"), [
    ((0, 0, 1000, 2000), [1, 2, 5]),  # west half of the scene
    ((1000, 0, 2000, 1000), [3]),  # north-east quarter
    ((1000, 1000, 2000, 2000), [4]),  # south-east quarter
    ((0, 0, 2000, 2000), [1, 2, 3, 4, 5]),
    ((930, 0, 1170, 2000), []),  # the gap between lakes 5 and 3 (30 m margins: the grid is not north-up)
])  # fmt: skip
def test_bbox_filter_by_hand(client, box, expected) -> None:
    w, s, e, n = lonlat_box(*box)
    assert ids(client, f"?bbox={w},{s},{e},{n}") == expected


@pytest.mark.parametrize(("level", "expected"), [
    ("red", [1]), ("orange", [2]), ("yellow", [3]), ("green", [4, 5]), ("red,orange", [1, 2]), ("none", []),
])  # fmt: skip
def test_level_filter_by_hand(client, level, expected) -> None:
    assert ids(client, f"?level={level}") == expected


def test_date_filter_gives_that_dates_outlines(client) -> None:
    assert ids(client, f"?date={DATES[0]}") == [1, 2, 3, 5]  # lake 4 appears on the second date
    assert ids(client, f"?date={DATES[1]}") == [1, 2, 3, 4, 5]
    assert ids(client, f"?date={DATES[0]}&level=green") == [5]
    w, s, e, n = lonlat_box(0, 0, 1000, 2000)
    assert ids(client, f"?date={DATES[0]}&bbox={w},{s},{e},{n}&level=red,orange") == [1, 2]
    areas = {}
    for date in DATES:
        feature = next(f for f in client.get(f"/api/lakes?date={date}").json()["features"] if f["id"] == 1)
        assert feature["properties"]["date"] == date and feature["properties"]["level"] == "red"
        areas[date] = feature["properties"]["area_km2"]
    assert list(areas.values()) == pytest.approx([0.0225, 0.0324, 0.04])  # lake 1 grows: 150, 180, 200 m a side


def test_limit_truncates_and_says_so(client) -> None:
    doc = client.get("/api/lakes?limit=2").json()
    assert doc["numberMatched"] == 5 and doc["numberReturned"] == 2 and doc["truncated"] is True


def test_one_lake_with_its_breakdown_and_alert(client) -> None:
    doc = client.get("/api/lakes/1").json()
    assert doc["level"] == "red" and doc["area_km2"] == pytest.approx(0.04)
    assert doc["area_uncertainty_km2"] == pytest.approx(0.004)  # perimeter 800 m x half a 10 m pixel
    assert doc["attributes"]["status"] == "growing" and doc["attributes"]["growth_pct_per_year"] == 33.0
    assert doc["attributes"]["change_km2"] == pytest.approx(0.0076)
    breakdown = doc["breakdown"]
    assert breakdown["hazard_score"] == 0.8 and breakdown["coverage"] == 0.6
    assert [c["name"] for c in breakdown["criteria"]] == ["lake_area", "lake_growth", "dam_type"]
    assert [c["status"] for c in breakdown["criteria"]] == ["met", "graded", "unknown"]
    assert doc["criteria"]["criteria_hash"] == "abc123"
    assert doc["alert"]["level"] == "red" and doc["alert"]["cap_url"].endswith(".xml")
    assert doc["thumbs"]["image"]["available"] and doc["thumbs"]["prediction"]["available"]
    assert not doc["thumbs"]["gradcam"]["available"] and "--model" in doc["thumbs"]["gradcam"]["note"]
    assert doc["thumbs"]["image"]["date"] == DATES[2]  # the scene of the lake's last observation
    green = client.get("/api/lakes/5").json()
    assert green["level"] == "green" and green["alert"] is None


def test_series_with_uncertainty(client) -> None:
    doc = client.get("/api/lakes/1/series").json()
    assert [p["date"] for p in doc["points"]] == list(DATES)
    assert [p["area_km2"] for p in doc["points"]] == pytest.approx([0.0225, 0.0324, 0.04])
    assert [p["area_uncertainty_km2"] for p in doc["points"]] == pytest.approx([0.003, 0.0036, 0.004])
    assert doc["change_uncertainty_km2"] == 0.005 and doc["status"] == "growing"
    assert [p["date"] for p in client.get("/api/lakes/4/series").json()["points"]] == list(DATES[1:])
    assert client.get("/api/lakes/99/series").status_code == 404


def test_alerts_and_their_cap_xml(client) -> None:
    doc = client.get("/api/alerts").json()
    active = [a for a in doc["alerts"] if a["active"]]
    assert {a["lake_id"]: a["level"] for a in active} == {1: "red", 2: "orange", 3: "yellow"}
    assert doc["min_level"] == "yellow" and all(a["ack"] is None for a in active)
    for alert in active:
        res = client.get(alert["cap_url"])
        assert res.status_code == 200 and res.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(res.content)
        assert root.tag == f"{CAP_NS}alert"
        assert root.findtext(f"{CAP_NS}identifier") == alert["identifier"]
    assert client.get("/api/alerts/glofwatch.glof.lake9.1.20240902T060000.xml").status_code == 404


def test_scenes_and_their_overlays(client, served) -> None:
    scenes = client.get("/api/scenes").json()
    assert [s["date"] for s in scenes] == list(DATES[1:])
    lake = client.get("/api/lakes/1").json()["attributes"]
    for s in scenes:
        (south, west), (north, east) = s["bounds"]
        assert south < lake["centroid_lat"] < north and west < lake["centroid_lon"] < east
        assert s["crs"] == "EPSG:32645" and s["height"] == 200 and s["note"] == ""
        res = client.get(s["overlay_url"])
        assert res.status_code == 200 and res.headers["content-type"] == "image/png"
        img = np.asarray(Image.open(io.BytesIO(res.content)))
        assert img.ndim == 3 and img.shape[2] == 4 and max(img.shape[:2]) <= 2048
        alpha = img[..., 3]
        assert alpha[img.shape[0] // 2, img.shape[1] // 2] == 255  # the scene
        assert (alpha == 0).any()  # nodata corner and the margins of the warp are transparent
        assert (served / ".webmap" / "overlays" / f"{s['key']}.png").is_file()
    assert client.get("/api/scenes/nope/overlay.png").status_code == 404


def _png(res) -> np.ndarray:
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(res.content)).convert("RGB"))


def test_thumbnails_show_the_lake(client) -> None:
    image = _png(client.get("/api/lakes/2/thumbs/image.png"))
    assert max(image.shape[:2]) == 192
    h, w = image.shape[:2]
    centre = image[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].mean()
    assert centre < image[:10, :10].mean() - 40  # dark water in the middle, bright ground in the margin
    pred = _png(client.get("/api/lakes/2/thumbs/prediction.png"))
    outline = np.all(pred == (0, 229, 255), axis=-1)  # the lake's edge in cyan, its inside tinted
    rows, cols = np.nonzero(outline)
    assert abs(rows.mean() - h / 2) < 10 and abs(cols.mean() - w / 2) < 10
    inside = pred[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].astype(float).mean(axis=(0, 1))
    assert inside[2] > inside[0] + 60 and (image[h // 2, w // 2] != pred[h // 2, w // 2]).any()
    res = client.get("/api/lakes/2/thumbs/gradcam.png")
    assert res.status_code == 409 and "--model" in res.json()["detail"]
    assert client.get("/api/lakes/2/thumbs/heat.png").status_code == 404
    assert client.get("/api/lakes/77/thumbs/image.png").status_code == 404


def test_openapi_lists_the_routes(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/info", "/api/lakes", "/api/lakes/{lake_id}", "/api/lakes/{lake_id}/series",
                 "/api/lakes/{lake_id}/thumbs/{kind}.png", "/api/alerts", "/api/alerts/{identifier}.xml",
                 "/api/alerts/{identifier}/ack", "/api/scenes", "/api/scenes/{key}/overlay.png", "/api/predict"):
        assert path in paths, path
    assert "multipart/form-data" in paths["/api/predict"]["post"]["requestBody"]["content"]
    assert {p["name"] for p in paths["/api/lakes"]["get"]["parameters"]} >= {"bbox", "level", "date"}
    assert client.get("/docs").status_code == 404  # its page would load scripts from a CDN


def test_page_and_its_files_are_served_locally(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/leaflet/leaflet.js" in page.text and "http" not in page.text.replace('href="data:,"', "")
    for name in ("app.js", "panel.js", "chart.js", "util.js", "app.css", "vendor/leaflet/leaflet.css",
                 "vendor/leaflet/images/layers.png"):
        assert client.get(f"/static/{name}").status_code == 200, name
    for name in ("app.js", "panel.js", "util.js", "app.css"):
        text = client.get(f"/static/{name}").text
        assert "https://" not in text and "//cdn" not in text
