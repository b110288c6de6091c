"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): the page works offline.

uvicorn serves the tiny folder on 127.0.0.1 and a free port. Page functions are
passed as arrow functions: the page's Content-Security-Policy forbids the
``eval`` Playwright would use for bare expressions. The test loads the
page, counts the drawn lakes, clicks lake 1 and reads its popup, moves the date
slider and sees the outline shrink to that date's, acknowledges an alert with
the token, and saves a screenshot. Every request the page makes is recorded,
and any that would leave loopback is aborted and fails the test.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from webmap_fixtures import DATES, TOKEN, write_many_lakes

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update"]  # fmt: skip
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture()
def browser():
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        pytest.fail("Chromium is missing: install Debian's browser with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `.venv/bin/pip install playwright==1.65.2` "
                    "(no browser download: the test uses /usr/bin/chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")),
                              args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOOPBACK_HOSTS


def test_map_page_end_to_end(served_copy: Path, browser, tmp_path: Path, vendor_ready) -> None:
    from glofwatch.webmap.app import create_app
    from glofwatch.webmap.server import ThreadedServer

    requested: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []

    def guard(route) -> None:
        if _loopback(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with ThreadedServer(create_app(served_copy, token=TOKEN)) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 860})
        context.route("**/*", guard)
        page = context.new_page()
        page.on("request", lambda r: requested.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.wait_for_function("() => window.glofwatch && window.glofwatch.state.ready", timeout=30_000)

        state = page.evaluate("window.glofwatch.state")
        assert state["count"] == 5 and state["date"] is None and state["error"] is None
        colours = page.evaluate("""() => { const out = {};
            window.glofwatch.map.eachLayer(l => { if (l.feature) out[l.feature.id] = l.options.color; });
            return out; }""")
        assert colours == {"1": "#d7191c", "2": "#f07f10", "3": "#f2c500", "4": "#2e9e44", "5": "#2e9e44"}
        assert "red: very high hazard" in page.inner_text(".legend")
        assert page.locator("#alert-list li").count() == 3
        caps = page.eval_on_selector_all("#alert-list a.cap-link", "els => els.map(e => e.getAttribute('href'))")
        assert len(caps) == 3 and all(h.startswith("/api/alerts/") and h.endswith(".xml") for h in caps)

        point = page.evaluate("window.glofwatch.pointOf(1)")
        page.mouse.click(point["x"], point["y"])
        page.wait_for_function("() => { const p = document.querySelector('.leaflet-popup-content');"
                               " return p && p.textContent.includes('Coverage'); }", timeout=10_000)
        popup = page.inner_text(".leaflet-popup-content")
        assert "Lake 1" in popup and "0.0400 \u00b1 0.00400 km\u00b2" in popup
        assert "0.80 of 1" in popup and "+33.0 %/yr" in popup and "growing" in popup
        panel = page.locator("#lake-panel")
        assert panel.locator("table.criteria tbody tr").count() == 3
        assert panel.locator("svg.chart circle").count() == 3
        page.wait_for_function("() => [...document.querySelectorAll('#lake-panel .thumbs img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)
        assert panel.locator(".thumbs img").count() == 2
        assert "--model" in panel.locator(".thumbs figure[data-kind=gradcam]").inner_text()
        page.screenshot(path=str(tmp_path / "lake.png"))

        latest = page.evaluate("window.glofwatch.outline(1)")
        loads = state["loads"]
        page.locator("#date-slider").fill("0")
        page.wait_for_function(f"() => window.glofwatch.state.date === '{DATES[0]}' "
                               f"&& window.glofwatch.state.loads > {loads}", timeout=10_000)
        assert page.inner_text("#date-label") == DATES[0]
        assert page.evaluate("window.glofwatch.state.count") == 4  # lake 4 was not there yet
        earlier = page.evaluate("window.glofwatch.outline(1)")
        (s0, w0), (n0, e0) = latest
        (s1, w1), (n1, e1) = earlier
        assert (e1 - w1) < 0.8 * (e0 - w0) and (n1 - s1) < 0.8 * (n0 - s0)  # 150 m then, 200 m now
        assert abs(w1 - w0) < 1e-4 and abs(n1 - n0) < 1e-4  # it grew from its north-west corner (within 10 m)

        page.fill("#token", TOKEN)
        item = page.locator("#alert-list li").first
        item.get_by_role("button", name="acknowledge").click()
        page.wait_for_function("() => document.querySelector('#alert-list li .ack-status').textContent"
                               ".startsWith('acknowledged')", timeout=10_000)
        assert (served_copy / ".webmap" / "acks.json").is_file()

        shot = tmp_path / "map.png"
        page.screenshot(path=str(shot), full_page=True)
        context.close()

    assert errors == []
    assert blocked == [], blocked
    assert requested and all(_loopback(u) for u in requested), [u for u in requested if not _loopback(u)]
    assert any("/static/vendor/leaflet/leaflet.js" in u for u in requested)
    assert any("/overlay.png" in u for u in requested)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(float)
    assert img.shape[0] >= 800 and img.shape[1] >= 1400
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3)[::97], axis=0)) > 50  # not blank


def test_5000_lakes_draw_quickly(tmp_path: Path, browser, vendor_ready) -> None:
    import time

    from glofwatch.webmap.app import create_app
    from glofwatch.webmap.server import ThreadedServer

    root = write_many_lakes(tmp_path / "many", n=5000, vertices=64)
    with ThreadedServer(create_app(root)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        t0 = time.perf_counter()
        page.goto(server.url + "/")
        page.wait_for_function("() => window.glofwatch && window.glofwatch.state.ready", timeout=60_000)
        ready_s = time.perf_counter() - t0
        assert page.evaluate("window.glofwatch.state.count") == 5000
        assert page.locator(".leaflet-overlay-pane canvas").count() == 1  # one canvas, not 5,000 SVG paths
        assert page.locator(".leaflet-overlay-pane path").count() == 0
        t0 = time.perf_counter()
        page.evaluate("() => { window.glofwatch.showLake(2500); return true; }")
        page.wait_for_function("() => { const p = document.querySelector('.leaflet-popup-content');"
                               " return p && p.textContent.includes('Lake 2500'); }", timeout=20_000)
        click_s = time.perf_counter() - t0
        page.close()
    assert ready_s < 20 and click_s < 5, (ready_s, click_s)
