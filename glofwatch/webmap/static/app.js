/* glofwatch web map: the map, its layers, the date slider, the legend and the hooks tests use. */
"use strict";

(function (GW) {
  const h = GW.h;
  const state = { ready: false, count: 0, date: null, dates: [], selected: null, error: null, loads: 0 };
  const renderer = L.canvas({ padding: 0.5, tolerance: 4 });
  const map = L.map("map", { preferCanvas: true, renderer: renderer, zoomSnap: 0.25, worldCopyJump: false });
  map.attributionControl.setPrefix(false);
  map.setView([28, 86.5], 8);

  const imagery = L.layerGroup().addTo(map);
  const imageryByDate = new Map();
  let byId = new Map();
  let request = 0;

  function style(feature) {
    const colour = GW.COLOURS[feature.properties.level || "none"];
    return { renderer: renderer, color: colour, weight: 2, opacity: 1, fillColor: colour, fillOpacity: 0.35 };
  }

  const lakes = L.geoJSON(null, {
    renderer: renderer,
    style: style,
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, Object.assign(style(feature), { radius: 6 })),
    onEachFeature: (feature, layer) => {
      if (feature.id !== null && feature.id !== undefined) byId.set(feature.id, layer);
      layer.on("click", (ev) => select(feature, layer, ev.latlng));
    },
  }).addTo(map);

  function highlight(layer) {
    if (state.selectedLayer && state.selectedLayer !== layer) lakes.resetStyle(state.selectedLayer);
    state.selectedLayer = layer;
    if (layer) layer.setStyle({ color: "#ffffff", weight: 4 });
  }

  async function select(feature, layer, latlng) {
    const props = feature.properties;
    state.selected = props.lake_id;
    highlight(layer);
    const popup = L.popup({ maxWidth: 320, autoPanPadding: [40, 40] })
      .setLatLng(latlng || layer.getBounds().getCenter())
      .setContent(GW.popupContent(props, null))
      .openOn(map);
    if (!props.tracked) {
      GW.renderOutline(props);
      return;
    }
    try {
      const [detail, series] = await Promise.all([
        GW.api("/api/lakes/" + props.lake_id), GW.api("/api/lakes/" + props.lake_id + "/series"),
      ]);
      if (state.selected !== props.lake_id) return;
      popup.setContent(GW.popupContent(props, detail));
      GW.renderLake(props, detail, series);
    } catch (err) {
      GW.renderLakeError(err.message);
    }
  }

  /** Show one date's outlines (null: the latest outline of every tracked lake). */
  async function loadLakes(date) {
    const mine = ++request;
    const fc = await GW.api("/api/lakes" + (date ? "?date=" + encodeURIComponent(date) : ""));
    if (mine !== request) return;
    byId = new Map();
    if (date !== state.date) map.closePopup();  // its numbers were those of the other date
    lakes.clearLayers();
    state.selectedLayer = null;
    lakes.addData(fc);
    state.count = lakes.getLayers().length;
    state.date = date;
    state.loads += 1;
    if (state.selected !== null && byId.has(state.selected)) highlight(byId.get(state.selected));
    showImagery(date);
  }

  function showImagery(date) {
    const dates = [...imageryByDate.keys()].filter((d) => d !== "").sort();
    let pick = dates[dates.length - 1];
    if (date) {
      const before = dates.filter((d) => d <= date);
      pick = before.length ? before[before.length - 1] : dates[0];
    }
    imagery.clearLayers();
    for (const [d, overlays] of imageryByDate) {
      if (d === pick || d === "") overlays.forEach((o) => imagery.addLayer(o));
    }
    const label = document.querySelector(".legend .imagery");
    if (label) label.textContent = pick ? "Imagery: Sentinel-2 true colour, " + pick : "No imagery";
  }

  function setupSlider(dates) {
    const slider = document.getElementById("date-slider");
    const label = document.getElementById("date-label");
    slider.max = String(dates.length);
    slider.value = String(dates.length);
    slider.disabled = dates.length === 0;
    const dateAt = (i) => (i >= dates.length ? null : dates[i]);
    const show = () => { const d = dateAt(+slider.value); label.textContent = d || "latest (all tracked lakes)"; return d; };
    show();
    let timer = null;
    slider.addEventListener("input", () => {
      const d = show();
      clearTimeout(timer);
      timer = setTimeout(() => loadLakes(d).catch(fail), 120);
    });
    return { set: (i) => { slider.value = String(i); slider.dispatchEvent(new Event("input")); } };
  }

  function legend() {
    const box = L.control({ position: "bottomright" });
    box.onAdd = () => h("div", { class: "legend" }, h("h4", {}, "Alert level"),
      ["red", "orange", "yellow", "green", "none"].map((l) =>
        h("div", {}, h("i", { class: l }), (l === "none" ? "no level" : l + ": " + GW.MEANING[l] + " hazard"))),
      h("div", { class: "imagery" }, ""));
    box.addTo(map);
  }

  function summary(info) {
    const lv = info.levels || {};
    const parts = [info.n_lakes + " lakes"];
    const counts = ["red", "orange", "yellow", "green"].filter((l) => lv[l]).map((l) => lv[l] + " " + l);
    if (counts.length) parts.push(counts.join(", "));
    parts.push(info.alerts.active + " active alerts");
    parts.push(info.dates.length + " dates");
    if (info.alerts.generated) parts.push("alerts of " + info.alerts.generated.slice(0, 16).replace("T", " "));
    document.getElementById("summary").textContent = parts.join(" \u00b7 ");
  }

  async function showLake(lakeId) {
    if (!byId.has(lakeId)) {
      slider.set(state.dates.length);
      await loadLakes(null);
    }
    const layer = byId.get(lakeId);
    if (!layer) return;
    const bounds = layer.getBounds ? layer.getBounds() : L.latLngBounds([layer.getLatLng()]);
    map.fitBounds(bounds, { maxZoom: 15, padding: [60, 60] });
    select(layer.feature, layer, bounds.getCenter());
  }

  function fail(err) {
    state.error = err.message;
    document.getElementById("summary").textContent = "error: " + err.message;
  }

  let slider = null;

  async function start() {
    const info = await GW.api("/api/info");
    state.dates = info.dates;
    summary(info);
    legend();
    const scenes = await GW.api("/api/scenes");
    for (const s of scenes) {
      if (!s.overlay_url) continue;
      const overlay = L.imageOverlay(s.overlay_url, s.bounds, {
        interactive: false, alt: "scene " + s.name, attribution: "Imagery: Copernicus Sentinel-2 (scenes of the served folder)",
      });
      const key = s.date || "";
      if (!imageryByDate.has(key)) imageryByDate.set(key, []);
      imageryByDate.get(key).push(overlay);
    }
    L.control.layers(null, { "Scene imagery": imagery, "Lake outlines": lakes }, { collapsed: true }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    slider = setupSlider(info.dates);
    if (info.bounds) {
      const [w, s, e, n] = info.bounds;
      map.fitBounds([[s, w], [n, e]], { padding: [30, 30], maxZoom: 15 });
    } else if (scenes.length) {
      map.fitBounds(scenes[0].bounds);
    }
    await loadLakes(null);
    const alerts = await GW.api("/api/alerts");
    GW.renderAlerts(alerts, info, showLake);
    document.getElementById("token-panel").hidden = !info.writes_enabled;
    document.getElementById("token-form").addEventListener("submit", (ev) => ev.preventDefault());
    GW.setupPredict(info);
    GW.renderNotes(info);
    state.ready = true;
  }

  /** Hooks for tests and for analysts at the console. */
  window.glofwatch = {
    map: map,
    state: state,
    showLake: showLake,
    /** Rendered outline of a lake as [[south, west], [north, east]], or null. */
    outline: (lakeId) => {
      const layer = byId.get(lakeId);
      if (!layer || !layer.getBounds) return null;
      const b = layer.getBounds();
      return [[b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]];
    },
    /** Pixel position (in the map container) of the centre of a lake's outline. */
    pointOf: (lakeId) => {
      const layer = byId.get(lakeId);
      if (!layer) return null;
      const p = map.latLngToContainerPoint(layer.getBounds ? layer.getBounds().getCenter() : layer.getLatLng());
      const r = document.getElementById("map").getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
  };

  start().catch(fail);
})(window.GW);
