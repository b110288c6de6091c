"""``--model RUN``: Grad-CAM thumbnails of a lake and ``POST /api/predict`` with the tiny trained run."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from fastapi.testclient import TestClient
from PIL import Image
from webmap_fixtures import TOKEN, auth

from glofwatch.webmap.app import create_app


@pytest.fixture()
def model_client(served_copy: Path, tiny_run: Path, vendor_ready):
    app = create_app(served_copy, token=TOKEN, model=tiny_run, device="cpu")
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, served_copy


def _image(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_gradcam_thumbnail_of_a_lake(model_client) -> None:
    c, folder = model_client
    info = c.get("/api/info").json()
    assert info["model"]["model"] == "tiny-unet" and len(info["model"]["bands"]) == 3
    thumbs = c.get("/api/lakes/2").json()["thumbs"]
    assert thumbs["gradcam"]["available"] and thumbs["gradcam"]["note"] == ""
    res = c.get(thumbs["gradcam"]["url"])
    assert res.status_code == 200, res.text
    img = np.asarray(Image.open(io.BytesIO(res.content)).convert("RGB"))
    assert max(img.shape[:2]) == 192 and img.std() > 5
    cached = list((folder / ".webmap" / "thumbs").rglob("2-*-gradcam-*.png"))
    assert len(cached) == 1
    assert c.get(thumbs["gradcam"]["url"]).content == res.content  # served from the cache


def test_predict_png_with_the_real_model(model_client) -> None:
    c, _ = model_client
    rgb = np.full((64, 64, 3), (130, 95, 60), np.uint8)
    rgb[20:44, 20:44] = (20, 45, 110)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    res = c.post("/api/predict", headers=auth(), files={"file": ("crop.png", buf.getvalue(), "image/png")})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert (doc["width"], doc["height"], doc["bands"], doc["converted"]) == (64, 64, 3, False)
    mask = _image(doc["mask_png"])
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
    assert doc["lake_pixels"] == int((mask == 255).sum())
    assert _image(doc["overlay_png"]).shape == (64, 64, 3)
    assert doc["gradcam_png"] is not None and _image(doc["gradcam_png"]).shape == (64, 64, 3)
    assert doc["note"].startswith("Grad-CAM target")


def _l2a_tiff(crs: str | None) -> bytes:
    data = np.full((4, 64, 64), 2500, np.uint16)
    data[:, 16:48, 16:48] = np.array([600, 500, 300, 200], np.uint16)[:, None, None]
    profile = dict(driver="GTiff", height=64, width=64, count=4, dtype="uint16", nodata=0,
                   transform=Affine(10, 0, 440000, 0, -10, 3100000))  # fmt: skip
    if crs:
        profile["crs"] = crs
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data)
            for i, band in enumerate(("B02", "B03", "B04", "B08")):
                ds.set_band_description(i + 1, band)
        return mem.read()


def test_predict_l2a_geotiff_is_converted_like_a_scene(model_client) -> None:
    c, _ = model_client
    tif = _l2a_tiff("EPSG:32645")
    res = c.post("/api/predict", headers=auth(), files={"file": ("crop.tif", tif, "image/tiff")})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["type"] == "tiff" and doc["converted"] is True and doc["bands"] == 3  # rendered to the model's bands
    assert _image(doc["overlay_png"]).shape == (64, 64, 3)
    plain = c.post("/api/predict", headers=auth(), files={"file": ("crop.tif", _l2a_tiff(None), "image/tiff")})
    assert plain.status_code == 400 and "band" in plain.json()["detail"]
