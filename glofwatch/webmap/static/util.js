/* glofwatch web map: shared helpers (DOM building, number formats, API calls). */
"use strict";

window.GW = window.GW || {};

(function (GW) {
  GW.LEVELS = ["red", "orange", "yellow", "green"];
  GW.COLOURS = { red: "#d7191c", orange: "#f07f10", yellow: "#f2c500", green: "#2e9e44", none: "#8c8c8c" };
  GW.MEANING = { red: "very high", orange: "high", yellow: "medium", green: "low", none: "no level" };

  /** Build an element: h("td", {class: "num"}, "text", child...). Text is never parsed as HTML. */
  GW.h = function (tag, attrs) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  };

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach((c) => append(el, c));
    else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  GW.isNum = (v) => typeof v === "number" && isFinite(v);

  /** A number with `digits` decimals, or an en dash when missing. */
  GW.num = function (v, digits) {
    return GW.isNum(v) ? v.toFixed(digits === undefined ? 2 : digits) : "\u2013";
  };

  /** An area in km2 with enough decimals for small lakes. */
  GW.km2 = function (v) {
    if (!GW.isNum(v)) return "\u2013";
    const digits = Math.abs(v) >= 1 ? 2 : Math.abs(v) >= 0.01 ? 4 : 5;
    return v.toFixed(digits);
  };

  GW.signed = (v, f) => (GW.isNum(v) ? (v > 0 ? "+" : "") + f(v) : "\u2013");

  GW.badge = function (level) {
    const name = level || "none";
    return GW.h("span", { class: "badge " + name, title: GW.MEANING[name] }, level || "no level");
  };

  /** The token typed in the side panel (kept for this browser tab only). */
  GW.token = function () {
    const el = document.getElementById("token");
    return el ? el.value.trim() : "";
  };

  /** fetch() on the same origin; rejects with the API's one-line detail on a 4xx/5xx answer. */
  GW.api = async function (path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    if (opts.auth) {
      const token = GW.token();
      if (token) opts.headers.Authorization = "Bearer " + token;
    }
    const res = await fetch(path, opts);
    const type = res.headers.get("content-type") || "";
    if (!res.ok) {
      let detail = res.status + " " + res.statusText;
      if (type.includes("json")) {
        try { detail = (await res.json()).detail || detail; } catch (e) { /* keep the status line */ }
      }
      const err = new Error(detail);
      err.status = res.status;
      throw err;
    }
    return type.includes("json") ? res.json() : res;
  };
})(window.GW);
