/* glofwatch web map: the side panel (lake details, alerts, model upload) and the lake popup. */
"use strict";

(function (GW) {
  const h = GW.h;

  function row(label, value) {
    return h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value));
  }

  /** Area with its uncertainty, e.g. "0.0400 ± 0.0040 km²". */
  function areaText(area, unc) {
    if (!GW.isNum(area)) return "\u2013";
    return GW.km2(area) + (GW.isNum(unc) ? " \u00b1 " + GW.km2(unc) : "") + " km\u00b2";
  }

  function changeText(a) {
    if (!GW.isNum(a.change_km2)) return "\u2013";
    const unc = GW.isNum(a.change_uncertainty_km2) ? " \u00b1 " + GW.km2(a.change_uncertainty_km2) : "";
    return GW.signed(a.change_km2, GW.km2) + unc + " km\u00b2";
  }

  /** The key numbers of a lake: used in the popup and at the top of the panel. */
  function keyTable(props, detail) {
    const a = (detail && detail.attributes) || {};
    const onDate = props.date && detail && props.date !== a.last_date;
    const area = onDate ? props.area_km2 : detail ? detail.area_km2 : props.area_km2;
    const unc = onDate ? props.area_uncertainty_km2 : detail ? detail.area_uncertainty_km2 : props.area_uncertainty_km2;
    const score = detail && detail.breakdown ? detail.breakdown.hazard_score : props.hazard_score;
    const rank = a.rank !== undefined ? a.rank : props.rank;
    return h("table", { class: "kv" },
      row("Area", areaText(area, unc) + (props.date ? " (" + props.date + ")" : "")),
      row("Growth", GW.signed(a.growth_pct_per_year !== undefined ? a.growth_pct_per_year : props.growth_pct_per_year,
        (v) => v.toFixed(1)) + " %/yr"),
      detail ? row("Change", changeText(a)) : null,
      row("Status", a.status || props.status || "\u2013"),
      row("Hazard score", GW.isNum(score) ? GW.num(score) + " of 1" + (GW.isNum(rank) ? " (rank " + rank + ")" : "") : "unknown"),
      detail && detail.breakdown ? row("Coverage", GW.num(100 * detail.breakdown.coverage, 0) + " % of the criterion weight known") : null,
      detail ? row("Observations", String(detail.n_observations)) : null);
  }

  /** Popup content for a clicked outline (detail may be null while it loads, or for untracked outlines). */
  GW.popupContent = function (props, detail) {
    const title = props.lake_id !== null && props.lake_id !== undefined ? "Lake " + props.lake_id : "Mapped outline";
    const box = h("div", { class: "lake-popup" }, h("h3", {}, title + " ", GW.badge(props.level)), keyTable(props, detail));
    if (!props.tracked) box.appendChild(h("p", { class: "hint" }, "Not tracked: mapped on " + props.date + " only."));
    else if (!detail) box.appendChild(h("p", { class: "hint" }, "loading details..."));
    return box;
  };

  function criteriaTable(breakdown) {
    const rule = (c) => {
      if (c.classes && c.classes.length) return (c.op || "in") + " " + c.classes.join(", ");
      return c.threshold !== null && c.threshold !== undefined ? (c.op || "") + " " + c.threshold + " " + (c.unit || "") : "";
    };
    const value = (c) => (c.value === null || c.value === undefined ? "unknown"
      : (typeof c.value === "number" ? String(+c.value.toPrecision(4)) : String(c.value)) + " " + (c.unit || ""));
    const rows = (breakdown.criteria || []).map((c) =>
      h("tr", { class: String(c.status || "").replace(" ", "-"), title: c.note || c.source || "" },
        h("td", {}, String(c.name).replace(/_/g, " ")), h("td", {}, value(c)), h("td", {}, rule(c)),
        h("td", {}, c.status), h("td", { class: "num" }, GW.num(c.score)), h("td", { class: "num" }, GW.num(c.weight)),
        h("td", { class: "num" }, GW.num(c.contribution, 3))));
    return h("table", { class: "criteria" },
      h("thead", {}, h("tr", {}, ["Criterion", "Value", "Rule", "Status", "Score", "Wt", "Contrib."].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows));
  }

  function missing(text) {
    return h("div", { class: "missing" }, text);
  }

  function thumbs(detail) {
    const labels = { image: "Image", prediction: "Prediction", gradcam: "Grad-CAM" };
    const grid = h("div", { class: "thumbs" });
    for (const kind of ["image", "prediction", "gradcam"]) {
      const t = (detail.thumbs || {})[kind] || { available: false, note: "not available" };
      let pic;
      if (t.available) {
        pic = h("img", { src: t.url, alt: labels[kind] + " of lake " + detail.lake_id, loading: "lazy" });
        pic.addEventListener("error", () => pic.replaceWith(missing("could not be drawn")));
      } else {
        pic = missing(t.note);
      }
      grid.appendChild(h("figure", { "data-kind": kind }, pic, h("figcaption", {}, labels[kind])));
    }
    const first = Object.values(detail.thumbs || {}).find((t) => t.scene);
    return [grid, first ? h("p", { class: "hint" }, "Scene " + first.scene + (first.date ? ", " + first.date : "")) : null];
  }

  /** Fill the side panel with one lake's details. */
  GW.renderLake = function (props, detail, series) {
    const panel = document.getElementById("lake-panel");
    panel.replaceChildren(h("h2", {}, "Lake " + detail.lake_id + " ", GW.badge(detail.level)));
    panel.appendChild(keyTable(props, detail));
    if (detail.alert) {
      const a = detail.alert;
      panel.appendChild(h("p", { class: "alert-line" }, GW.badge(a.level), " " + a.headline + " ",
        a.cap_url ? h("a", { href: a.cap_url, target: "_blank", rel: "noopener" }, "CAP XML") : null));
    }
    panel.appendChild(h("h3", {}, "Area over time (km\u00b2, \u00b1 uncertainty)"));
    panel.appendChild(GW.areaChart(series ? series.points : [], props.date || null));
    panel.appendChild(h("h3", {}, "Hazard breakdown"));
    if (detail.breakdown) {
      panel.appendChild(h("p", { class: "hint" }, "Score " + GW.num(detail.breakdown.hazard_score) + " = sum of contributions / weight known" +
        (detail.criteria && detail.criteria.criteria_name ? " (" + detail.criteria.criteria_name + ")" : "")));
      panel.appendChild(criteriaTable(detail.breakdown));
    } else {
      panel.appendChild(h("p", { class: "hint" }, "No hazard assessment for this lake (run `glofwatch risk`)."));
    }
    panel.appendChild(h("h3", {}, "Thumbnails"));
    panel.appendChild(h("div", {}, thumbs(detail)));
  };

  GW.renderOutline = function (props) {
    const panel = document.getElementById("lake-panel");
    panel.replaceChildren(h("h2", {}, "Mapped outline"), keyTable(props, null),
      h("p", { class: "hint" }, "This outline comes from a map output and is not tracked over time."));
  };

  GW.renderLakeError = function (message) {
    document.getElementById("lake-panel").replaceChildren(h("h2", {}, "Lake"), h("p", { class: "error" }, message));
  };

  const ORDER = { red: 0, orange: 1, yellow: 2, green: 3 };

  /** The list of active alerts with their CAP links and acknowledgement buttons. */
  GW.renderAlerts = function (doc, info, onShow) {
    const list = document.getElementById("alert-list");
    const active = (doc.alerts || []).filter((a) => a.active)
      .sort((a, b) => (ORDER[a.level] ?? 9) - (ORDER[b.level] ?? 9) || String(b.sent).localeCompare(String(a.sent)));
    document.getElementById("alert-count").textContent = "(" + active.length + ")";
    if (!active.length) {
      list.replaceChildren(h("li", { class: "hint" }, info.sources.alerts ? "none in force" : "no alerts output (run `glofwatch alerts`)"));
      return;
    }
    list.replaceChildren(...active.map((a) => alertItem(a, info, onShow)));
  };

  function ackText(ack) {
    return "acknowledged " + ack.acknowledged + (ack.by ? " by " + ack.by : "");
  }

  function alertItem(a, info, onShow) {
    const status = h("span", { class: "ack-status hint" }, a.ack ? ackText(a.ack) : "");
    const actions = h("div", { class: "actions" },
      a.lake_id !== null ? h("button", { class: "link", type: "button", onclick: () => onShow(a.lake_id) }, "show lake") : null,
      a.cap_url ? h("a", { href: a.cap_url, target: "_blank", rel: "noopener", class: "cap-link" }, "CAP XML") : null);
    const item = h("li", { class: a.ack ? "acked" : "", "data-identifier": a.identifier },
      GW.badge(a.level), " ", h("span", { class: "headline" }, a.headline || a.event),
      h("div", { class: "meta" }, [a.msg_type, "sent " + a.sent, a.urgency, a.certainty].filter(Boolean).join(" \u00b7 ")),
      actions, status);
    if (info.writes_enabled && !a.ack) {
      const button = h("button", { type: "button", class: "link" }, "acknowledge");
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const ack = await GW.api("/api/alerts/" + encodeURIComponent(a.identifier) + "/ack", {
            method: "POST", auth: true, headers: { "Content-Type": "application/json" }, body: JSON.stringify({}),
          });
          status.textContent = ackText(ack);
          item.classList.add("acked");
          button.remove();
        } catch (err) {
          status.textContent = err.message;
          status.className = "ack-status error";
          button.disabled = false;
        }
      });
      actions.appendChild(button);
    }
    return item;
  }

  /** The "run the model on an image" form (shown when the server has --model and a token). */
  GW.setupPredict = function (info) {
    if (!info.model || !info.writes_enabled) return;
    document.getElementById("predict-panel").hidden = false;
    const out = document.getElementById("predict-out");
    document.getElementById("predict-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = document.getElementById("predict-file").files[0];
      if (!file) return;
      const body = new FormData();
      body.append("file", file);
      out.replaceChildren(h("p", { class: "hint" }, "running " + info.model.model + "..."));
      try {
        const r = await GW.api("/api/predict", { method: "POST", auth: true, body: body });
        const img = (b64, alt) => (b64 ? h("img", { src: "data:image/png;base64," + b64, alt: alt }) : null);
        out.replaceChildren(
          h("p", {}, r.width + "\u00d7" + r.height + " px, " + GW.num(100 * r.lake_fraction, 1) + " % lake"),
          img(r.mask_png, "mask"), img(r.overlay_png, "overlay"), img(r.gradcam_png, "Grad-CAM"),
          r.note ? h("p", { class: "hint" }, r.note) : null);
      } catch (err) {
        out.replaceChildren(h("p", { class: "error" }, err.message));
      }
    });
  };

  GW.renderNotes = function (info) {
    if (!info.notes.length) return;
    document.getElementById("notes-panel").hidden = false;
    document.getElementById("notes").replaceChildren(...info.notes.map((n) => h("li", {}, n)));
  };
})(window.GW);
