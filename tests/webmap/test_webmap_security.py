"""What the web map refuses: path traversal, writes without the token, oversized or wrong uploads, CORS."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from webmap_fixtures import TOKEN, auth

from glofwatch.webmap.app import create_app
from glofwatch.webmap.model import Analysis

pytestmark = pytest.mark.server


class ThresholdModel:
    """Stand-in for the --model run: lake where the mean of the bands is dark."""

    key = "stub"

    def describe(self) -> dict:
        return {"run": "stub", "model": "threshold", "bands": ["B04", "B03", "B02"], "source": "rgb8", "threshold": 0.5}

    def analyse(self, image: np.ndarray, valid=None, explain: bool = True) -> Analysis:
        prob = (image.mean(axis=-1) < 80).astype(np.float32)
        return Analysis(prob, prob.astype(np.uint8), prob if explain else None, "stub")


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def one_line_json(res) -> str:
    assert res.headers["content-type"].startswith("application/json"), res.headers
    doc = res.json()
    assert set(doc) == {"detail"} and isinstance(doc["detail"], str) and "\n" not in doc["detail"]
    return doc["detail"]


@pytest.fixture()
def writable(served_copy, vendor_ready):
    """An app on a private copy of the folder, with the token, a stand-in model and small upload limits."""
    app = create_app(served_copy, token=TOKEN, max_upload_bytes=256 * 1024, max_pixels=128 * 128)
    app.state.webmap.model = ThresholdModel()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, served_copy


@pytest.mark.parametrize("path", [
    "/static/..%2F..%2Fapp.py", "/static/%2e%2e/%2e%2e/app.py", "/static/../../../pyproject.toml",
    "/static/vendor/..%2F..%2F..%2Fcatalog.py", "/api/alerts/..%2F..%2Frisk%2Fbreakdown.json.xml",
    "/api/alerts/..%2Fstate.xml", "/api/alerts/...xml", "/api/alerts/%2Fetc%2Fpasswd.xml",
    "/api/scenes/..%2F..%2Fmaps/overlay.png", "/api/lakes/1/thumbs/..%2F..%2Fsummary.png",
    "/..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
])  # fmt: skip
def test_paths_cannot_leave_the_served_folder(client, path) -> None:
    res = client.get(path)
    assert res.status_code == 404, (path, res.status_code, res.text[:200])
    one_line_json(res)
    assert "root:" not in res.text and "import" not in res.text


def test_cap_files_linked_outside_are_refused(served_copy, tmp_path, vendor_ready) -> None:
    outside = tmp_path / "secret.xml"
    outside.write_text("<secret/>")
    cap = next((served_copy / "alerts" / "cap").glob("*lake1*.xml"))
    cap.unlink()
    cap.symlink_to(outside)
    with TestClient(create_app(served_copy)) as c:
        alert = next(a for a in c.get("/api/alerts").json()["alerts"] if a["lake_id"] == 1)
        assert alert["cap_url"] is None
        res = c.get(f"/api/alerts/{alert['identifier']}.xml")
        assert res.status_code == 404 and "secret" not in res.text


def test_writes_need_a_configured_token(served_copy, vendor_ready, monkeypatch) -> None:
    monkeypatch.delenv("GLOFWATCH_TOKEN", raising=False)
    with TestClient(create_app(served_copy), raise_server_exceptions=False) as c:
        ident = c.get("/api/alerts").json()["alerts"][0]["identifier"]
        for res in (c.post(f"/api/alerts/{ident}/ack", headers=auth()), c.post("/api/predict", headers=auth())):
            assert res.status_code == 403
            assert "--token" in one_line_json(res) and "GLOFWATCH_TOKEN" in res.json()["detail"]
        assert c.get("/api/info").json()["writes_enabled"] is False
    assert not (served_copy / ".webmap" / "acks.json").exists()


def test_token_is_checked_and_the_ack_stored_atomically(writable) -> None:
    c, folder = writable
    ident = c.get("/api/alerts").json()["alerts"][0]["identifier"]
    url = f"/api/alerts/{ident}/ack"
    for headers in ({}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}):
        res = c.post(url, headers=headers, json={"by": "duty officer"})
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer", headers
        one_line_json(res)
    assert not (folder / ".webmap" / "acks.json").exists()
    res = c.post(url, headers=auth(), json={"by": "duty  officer", "note": "called the district\noffice"})
    assert res.status_code == 200, res.text
    assert res.json()["by"] == "duty officer" and res.json()["note"] == "called the district office"
    stored = json.loads((folder / ".webmap" / "acks.json").read_text())
    assert stored["acks"][ident]["by"] == "duty officer"
    assert not list((folder / ".webmap").glob(".acks.json.tmp-*"))
    alert = next(a for a in c.get("/api/alerts").json()["alerts"] if a["identifier"] == ident)
    assert alert["ack"]["acknowledged"] == res.json()["acknowledged"]
    assert c.post("/api/alerts/nope/ack", headers=auth()).status_code == 404
    assert c.post(url, headers=auth(), json={"by": "x" * 101}).status_code == 422


def test_token_from_the_environment(served_copy, vendor_ready, monkeypatch) -> None:
    monkeypatch.setenv("GLOFWATCH_TOKEN", "from-env")
    with TestClient(create_app(served_copy)) as c:
        ident = c.get("/api/alerts").json()["alerts"][0]["identifier"]
        assert c.post(f"/api/alerts/{ident}/ack", headers=auth()).status_code == 401
        assert c.post(f"/api/alerts/{ident}/ack", headers=auth("from-env")).status_code == 200


def test_predict_answers_base64_pngs(writable) -> None:
    c, _ = writable
    img = np.full((64, 48, 3), 160, np.uint8)
    img[10:30, 10:20] = 30
    res = c.post("/api/predict", headers=auth(), files={"file": ("crop.png", png_bytes(img), "image/png")})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert (doc["width"], doc["height"], doc["lake_pixels"]) == (48, 64, 200)
    import base64

    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(doc["mask_png"]))))
    assert mask.shape == (64, 48) and (mask[10:30, 10:20] == 255).all() and mask.sum() == 200 * 255
    for key in ("overlay_png", "gradcam_png"):
        assert Image.open(io.BytesIO(base64.b64decode(doc[key]))).size == (48, 64)
    raw = c.post("/api/predict", headers={**auth(), "Content-Type": "image/png"}, content=png_bytes(img))
    assert raw.status_code == 200 and raw.json()["lake_pixels"] == 200


def test_uploads_are_limited_in_bytes_type_and_pixels(writable) -> None:
    c, _ = writable
    post = lambda data, name="x.png": c.post("/api/predict", headers=auth(), files={"file": (name, data, "image/png")})  # noqa: E731
    big = post(b"\x89PNG\r\n\x1a\n" + bytes(400 * 1024))
    assert big.status_code == 413 and "MiB" in one_line_json(big)

    def chunks():  # no Content-Length: the limit counts the bytes as they arrive
        for _ in range(40):
            yield bytes(10 * 1024)

    streamed = c.post("/api/predict", headers={**auth(), "Content-Type": "image/png"}, content=chunks())
    assert streamed.status_code == 413
    one_line_json(streamed)
    between = post(b"\x89PNG\r\n\x1a\n" + bytes(270 * 1024))  # over the file limit, under the form slack
    assert between.status_code == 413
    for data, name in ((b"%PDF-1.7 not an image", "x.pdf"), (b"hello", "x.png"), (b"GIF89a......", "x.gif")):
        res = post(data, name)
        assert res.status_code == 415 and "PNG, JPEG or TIFF" in one_line_json(res)
    wide = post(png_bytes(np.zeros((100, 200, 3), np.uint8)))  # 20,000 px over 16,384
    assert wide.status_code == 413 and "100" in one_line_json(wide) and "pixels" in wide.json()["detail"]
    broken = post(png_bytes(np.zeros((32, 32, 3), np.uint8))[:60])
    assert broken.status_code == 400
    one_line_json(broken)
    gray = post(png_bytes(np.zeros((32, 32), np.uint8)))
    assert gray.status_code == 400 and "channel" in one_line_json(gray)
    nofile = c.post("/api/predict", headers=auth(), files={"other": ("x.png", b"abc", "image/png")})
    assert nofile.status_code == 400 and "'file'" in one_line_json(nofile)
    empty = c.post("/api/predict", headers={**auth(), "Content-Type": "image/png"}, content=b"")
    assert empty.status_code == 400


def test_predict_without_a_model_says_how(client) -> None:
    res = client.post("/api/predict", headers=auth(), files={"file": ("x.png", b"\x89PNG", "image/png")})
    assert res.status_code == 409 and "--model" in one_line_json(res)


@pytest.mark.parametrize("query", [
    "/api/lakes?bbox=a,b,c,d", "/api/lakes?bbox=1,2,3", "/api/lakes?bbox=10,0,5,1", "/api/lakes?bbox=0,95,1,96",
    "/api/lakes?bbox=nan,0,1,1", "/api/lakes?level=purple", "/api/lakes?date=yesterday", "/api/lakes?date=2020-01-01",
    "/api/lakes?limit=0", "/api/lakes?limit=abc", "/api/lakes/abc", "/api/lakes/-1", "/api/lakes/99999999999999999999",
    "/api/lakes?date=2020-13-45", "/api/lakes/1/thumbs/x.png", "/api/alerts/%00.xml", "/api/scenes/%ff/overlay.png",
])  # fmt: skip
def test_bad_input_is_a_one_line_4xx(client, query) -> None:
    res = client.get(query)
    assert 400 <= res.status_code < 500, (query, res.status_code)
    one_line_json(res)


def test_no_cors_headers_unless_asked(client, served, vendor_ready) -> None:
    origin = {"Origin": "http://evil.example"}
    res = client.get("/api/info", headers=origin)
    assert res.status_code == 200 and not any(k.lower().startswith("access-control") for k in res.headers)
    pre = client.options("/api/info", headers={**origin, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
    assert "default-src 'self'" in res.headers["content-security-policy"]
    assert res.headers["x-content-type-options"] == "nosniff"
    with TestClient(create_app(served, cors_origins=["http://localhost:3000"])) as c:
        ok = c.get("/api/info", headers={"Origin": "http://localhost:3000"})
        assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "access-control-allow-origin" not in c.get("/api/info", headers=origin).headers


def test_bad_cors_origin_is_refused(served, vendor_ready) -> None:
    from glofwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="origin like"):
        create_app(served, cors_origins=["localhost:3000/app"])
