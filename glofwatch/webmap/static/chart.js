/* glofwatch web map: the area-over-time chart, an inline SVG (no chart library). */
"use strict";

(function (GW) {
  const NS = "http://www.w3.org/2000/svg";

  function s(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  const day = (d) => Date.parse(d + "T00:00:00Z") / 86400000;

  /**
   * Area (km2) per date with its uncertainty: a shaded band of area +/- uncertainty,
   * error bars, the line and one point per observation (the one shown on the map in red).
   * points: [{date: "YYYY-MM-DD", area_km2, area_uncertainty_km2}], current: a date or null.
   */
  GW.areaChart = function (points, current) {
    const W = 360, H = 170, L = 52, R = 12, T = 12, B = 30;
    const pts = points.filter((p) => GW.isNum(p.area_km2) && p.date);
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
    svg.appendChild(s("title", {}, "Lake area over time, km\u00b2, with its uncertainty"));
    if (!pts.length) {
      svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no observations"));
      return svg;
    }
    const unc = (p) => (GW.isNum(p.area_uncertainty_km2) ? p.area_uncertainty_km2 : 0);
    const x0 = day(pts[0].date), x1 = day(pts[pts.length - 1].date);
    const span = Math.max(x1 - x0, 1);
    const top = Math.max(...pts.map((p) => p.area_km2 + unc(p))) * 1.1 || 1;
    const X = (p) => (pts.length === 1 ? L + (W - L - R) / 2 : L + ((day(p.date) - x0) / span) * (W - L - R));
    const Y = (v) => T + (1 - Math.max(v, 0) / top) * (H - T - B);

    svg.appendChild(s("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    svg.appendChild(s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    for (const f of [0, 0.5, 1]) {
      const v = top * f;
      svg.appendChild(s("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end" }, v === 0 ? "0" : GW.km2(v)));
    }
    const first = pts[0].date, last = pts[pts.length - 1].date;
    svg.appendChild(s("text", { x: L, y: H - B + 14, "text-anchor": "start" }, first));
    if (last !== first) svg.appendChild(s("text", { x: W - R, y: H - B + 14, "text-anchor": "end" }, last));

    const upper = pts.map((p) => `${X(p)},${Y(p.area_km2 + unc(p))}`);
    const lower = pts.map((p) => `${X(p)},${Y(p.area_km2 - unc(p))}`).reverse();
    if (pts.length > 1) svg.appendChild(s("polygon", { class: "band", points: upper.concat(lower).join(" ") }));
    svg.appendChild(s("polyline", { class: "line", points: pts.map((p) => `${X(p)},${Y(p.area_km2)}`).join(" ") }));
    for (const p of pts) {
      if (unc(p) > 0) {
        svg.appendChild(s("line", { class: "err", x1: X(p), x2: X(p), y1: Y(p.area_km2 - unc(p)), y2: Y(p.area_km2 + unc(p)) }));
      }
      const dot = s("circle", { cx: X(p), cy: Y(p.area_km2), r: 3.5, class: p.date === current ? "now" : "" });
      dot.appendChild(s("title", {}, `${p.date}: ${GW.km2(p.area_km2)} \u00b1 ${GW.km2(unc(p))} km\u00b2`));
      svg.appendChild(dot);
    }
    return svg;
  };
})(window.GW);
