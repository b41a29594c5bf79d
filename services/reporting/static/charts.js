/* AntreCharts: a small bar-chart library for Antre's pages, drawn as inline SVG.
 * Written for Antre; plain ES2019, no dependency, no external request.
 *
 *   AntreCharts.bars(container, options) -> the <svg> element (it replaces the
 *   container's children)
 *
 * options:
 *   categories   ["08.00", "09.00", ...]     labels along the category axis
 *   series       [{name, values, className}] one bar per series and category; a value
 *                                             of null is "no data" (no bar drawn);
 *                                             negative values are drawn as 0
 *   horizontal   false                       true: categories down the left, bars to the right
 *   title        ""                          the chart's <title> (its accessible name)
 *   summary      (generated)                 the chart's <desc>; by default every figure:
 *                                             "Diterbitkan: 08.00 12, 09.00 30. ..."
 *   yLabel       ""                          the value axis' label (unit), e.g. "Tiket"
 *   xLabel       ""                          the category axis' label
 *   max          (from the data)             fixed top of the value axis (e.g. 4 for NRR)
 *   format       String                      value -> text, for labels and tooltips
 *   tickFormat   format                      (value, step) -> text of an axis tick
 *   integer      false                       whole-number ticks only (counts)
 *   valueLabels  false                       write each bar's value next to it
 *   valueText    format                      value, index, series -> text of that label
 *   categoryTitles  categories               longer names for tooltips and the summary
 *   legend       true                        draw a legend of the series
 *   emptyText    "Belum ada data"            shown when there is nothing to draw
 *   width        container width (>= 320)    width in viewBox units (= CSS pixels when drawn
 *                                             at the container's width, so text keeps its size)
 *   height       260 (vertical)              total height; horizontal charts grow with rows
 *   fontSize     13
 *   labelWidth   (measured, <= 40% width)    horizontal: room for the category labels;
 *                                             longer labels are shortened with "…" (the
 *                                             full text stays in their <title>)
 *   maxBarWidth  64                          vertical: bars never get wider than this
 *
 * The SVG has role="img", a <title> and a <desc> (aria-labelledby / aria-describedby)
 * holding the figures, and a <title> per bar as a tooltip. It scales with its container
 * (viewBox, width 100%). Colours come only from CSS classes, so a page (or forced-colors
 * / high-contrast mode) decides them:
 *   .ac-chart            the <svg>
 *   .ac-bar              every bar, plus .ac-series-<i> and the series' className
 *   .ac-swatch           legend swatches (same series classes as the bars)
 *   .ac-grid, .ac-axis   grid lines and axis lines
 *   .ac-tick, .ac-label, .ac-legend-text, .ac-value, .ac-empty   texts
 *
 *   AntreCharts.ticks(max, count, integer) -> {max, step, values}: "nice" round ticks
 *   from 0 (steps of 1, 2, 2.5 or 5 times a power of ten; whole steps when integer).
 */
(function (root) {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  let counter = 0;

  function node(name, attrs, parent, text) {
    const el = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach((key) => {
      const value = attrs[key];
      if (value !== undefined && value !== null && value !== false) el.setAttribute(key, String(value));
    });
    if (text !== undefined) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function round(value) {
    return Math.round(value * 100) / 100;
  }

  // Round tick steps: 1, 2, 2.5 or 5 times a power of ten.
  function ticks(max, count, integer) {
    const wanted = Math.max(2, count || 5);
    if (!(max > 0) || !isFinite(max)) return { max: 1, step: 1, values: [0, 1] };
    const raw = max / wanted;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
    if (integer) step = step < 1 ? 1 : (Number.isInteger(step) ? step : Math.ceil(step));
    const top = Math.ceil(max / step - 1e-9) * step;
    const values = [];
    for (let i = 0; i * step <= top + step / 1e6; i += 1) values.push(Number((i * step).toPrecision(12)));
    return { max: top, step, values };
  }

  // Text width estimate (no layout needed, so a chart can be drawn while hidden).
  function textWidth(text, size) {
    let units = 0;
    for (const ch of String(text)) {
      if (/[ il.,:;'|!I1()\[\]]/.test(ch)) units += 0.32;
      else if (/[MW@%mw]/.test(ch)) units += 0.86;
      else if (/[A-Z0-9]/.test(ch)) units += 0.64;
      else units += 0.54;
    }
    return units * size;
  }

  function shorten(text, room, size) {
    text = String(text);
    if (textWidth(text, size) <= room) return text;
    let cut = text;
    while (cut.length > 1 && textWidth(cut + "…", size) > room) cut = cut.slice(0, -1);
    return cut.trimEnd() + "…";
  }

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function defaults(options) {
    const o = Object.assign({
      categories: [], series: [], horizontal: false, title: "", summary: null, yLabel: "",
      xLabel: "", max: null, format: (v) => String(v), valueLabels: false, valueText: null,
      categoryTitles: null, legend: true, emptyText: "Belum ada data", width: null,
      height: null, fontSize: 13, labelWidth: null, tickFormat: null, integer: false,
      maxBarWidth: 64,
    }, options || {});
    o.categories = (o.categories || []).map(String);
    o.series = (o.series || []).map((s, i) => ({
      name: s.name == null ? `Seri ${i + 1}` : String(s.name),
      values: o.categories.map((_, j) => (s.values && isNumber(s.values[j]) ? s.values[j] : null)),
      className: s.className || "",
    }));
    o.categoryTitles = o.categories.map((c, j) => (o.categoryTitles && o.categoryTitles[j]) || c);
    o.valueText = o.valueText || ((v) => o.format(v));
    o.tickFormat = o.tickFormat || ((v) => o.format(v));
    return o;
  }

  function describe(o) {
    if (o.summary) return o.summary;
    if (isEmpty(o)) return o.emptyText;
    return o.series.map((s) => {
      const items = o.categoryTitles.map((c, j) => `${c} ${s.values[j] === null ? "–" : o.format(s.values[j])}`);
      return `${s.name}${o.yLabel ? ` (${o.yLabel})` : ""}: ${items.join("; ")}.`;
    }).join(" ");
  }

  function isEmpty(o) {
    return !o.categories.length || !o.series.length
      || !o.series.some((s) => s.values.some((v) => v !== null && v !== 0));
  }

  function barClass(s, i) {
    return `ac-bar ac-series-${i}${s.className ? ` ${s.className}` : ""}`;
  }

  function tooltip(o, s, j) {
    const v = s.values[j];
    return `${o.categoryTitles[j]} – ${s.name}: ${v === null ? "tidak ada data" : o.format(v)}`
      + (v !== null && o.yLabel ? ` ${o.yLabel}` : "");
  }

  // Legend across the top; returns its height.
  function legend(svg, o, width) {
    if (!o.legend || !o.series.length) return 0;
    const size = o.fontSize;
    const g = node("g", { class: "ac-legend" }, svg);
    let x = 0;
    let y = 0;
    o.series.forEach((s, i) => {
      const w = size + 6 + textWidth(s.name, size) + 18;
      if (x > 0 && x + w > width) { x = 0; y += size + 8; }
      node("rect", { class: `ac-swatch ac-series-${i}${s.className ? ` ${s.className}` : ""}`,
        x, y: y + 1, width: size, height: size, rx: 2 }, g);
      node("text", { class: "ac-legend-text", x: x + size + 6, y: y + size - 1, "font-size": size }, g, s.name);
      x += w;
    });
    return y + size + 12;
  }

  function frame(container, o) {
    const width = Math.max(320, Math.round(o.width || container.clientWidth || 640));
    const id = `ac${(counter += 1)}`;
    const svg = node("svg", {
      xmlns: NS, class: "ac-chart", role: "img", width: "100%", focusable: "false",
      "aria-labelledby": `${id}-title`, "aria-describedby": `${id}-desc`,
      "font-size": o.fontSize,
    });
    node("title", { id: `${id}-title` }, svg, o.title || o.series.map((s) => s.name).join(", "));
    node("desc", { id: `${id}-desc` }, svg, describe(o));
    return { svg, width };
  }

  function finish(container, svg, width, height) {
    svg.setAttribute("viewBox", `0 0 ${width} ${round(height)}`);
    container.textContent = "";
    container.appendChild(svg);
    return svg;
  }

  function empty(container, o) {
    const { svg, width } = frame(container, o);
    const height = 120;
    node("text", { class: "ac-empty", x: width / 2, y: height / 2, "text-anchor": "middle",
      "dominant-baseline": "middle", "font-size": o.fontSize + 3 }, svg, o.emptyText);
    svg.classList.add("ac-is-empty");
    return finish(container, svg, width, height);
  }

  function dataMax(o) {
    let max = 0;
    o.series.forEach((s) => s.values.forEach((v) => { if (v !== null && v > max) max = v; }));
    return max;
  }

  function vertical(container, o) {
    const { svg, width } = frame(container, o);
    const size = o.fontSize;
    const height = o.height || 260;
    const top = legend(svg, o, width) + (o.valueLabels ? size + 4 : 6);
    const scale = ticks(isNumber(o.max) && o.max > 0 ? o.max : dataMax(o), 5, o.integer);
    if (isNumber(o.max) && o.max > 0) scale.max = Math.max(o.max, dataMax(o));
    const tickTexts = scale.values.map((v) => o.tickFormat(v, scale.step));
    const left = Math.ceil(Math.max(...tickTexts.map((t) => textWidth(t, size)))) + 10 + (o.yLabel ? size + 8 : 0);
    const bottom = size + 12 + (o.xLabel ? size + 8 : 0);
    const right = 8;
    const plotW = width - left - right;
    const plotH = Math.max(60, height - top - bottom);
    const y = (v) => top + plotH - (Math.max(0, v) / scale.max) * plotH;

    const grid = node("g", { class: "ac-grid-lines" }, svg);
    scale.values.forEach((v, i) => {
      if (v > scale.max + 1e-9) return;
      node("line", { class: "ac-grid", x1: left, x2: left + plotW, y1: round(y(v)), y2: round(y(v)) }, grid);
      node("text", { class: "ac-tick", x: left - 6, y: round(y(v)), "text-anchor": "end",
        "dominant-baseline": "middle" }, grid, tickTexts[i]);
    });
    if (o.yLabel) {
      node("text", { class: "ac-label", transform: `translate(${size},${round(top + plotH / 2)}) rotate(-90)`,
        "text-anchor": "middle" }, svg, o.yLabel);
    }

    const n = o.categories.length;
    const band = plotW / n;
    const barW = Math.min((band * 0.8) / o.series.length, o.maxBarWidth);
    const groupW = barW * o.series.length;
    const widest = Math.max(...o.categories.map((c) => textWidth(c, size))) + 6;
    const every = Math.max(1, Math.ceil(widest / band));
    const bars = node("g", { class: "ac-bars" }, svg);
    const labels = node("g", { class: "ac-categories" }, svg);
    o.categories.forEach((c, j) => {
      const x0 = left + band * j + (band - groupW) / 2;
      o.series.forEach((s, i) => {
        const v = s.values[j];
        if (v === null) return;
        const h = Math.max(0, y(0) - y(v));
        const rect = node("rect", { class: barClass(s, i), x: round(x0 + barW * i), y: round(y(v)),
          width: round(Math.max(1, barW - (o.series.length > 1 ? 1 : 0))), height: round(h) }, bars);
        node("title", {}, rect, tooltip(o, s, j));
        if (o.valueLabels && barW >= textWidth(o.valueText(v, j, s), size - 1) * 0.9) {
          node("text", { class: "ac-value", x: round(x0 + barW * (i + 0.5)), y: round(y(v) - 4),
            "text-anchor": "middle", "font-size": size - 1 }, bars, o.valueText(v, j, s));
        }
      });
      if (j % every === 0) {
        node("text", { class: "ac-tick", x: round(left + band * (j + 0.5)), y: top + plotH + size + 4,
          "text-anchor": "middle" }, labels, c);
      }
    });
    node("line", { class: "ac-axis", x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH }, svg);
    if (o.xLabel) {
      node("text", { class: "ac-label", x: left + plotW / 2, y: height - 4, "text-anchor": "middle" }, svg, o.xLabel);
    }
    return finish(container, svg, width, height);
  }

  function horizontal(container, o) {
    const { svg, width } = frame(container, o);
    const size = o.fontSize;
    const top = legend(svg, o, width) + 4;
    const scale = ticks(isNumber(o.max) && o.max > 0 ? o.max : dataMax(o), 4, o.integer);
    if (isNumber(o.max) && o.max > 0) scale.max = Math.max(o.max, dataMax(o));
    const widest = Math.max(...o.categories.map((c) => textWidth(c, size)));
    const labelW = Math.min(o.labelWidth || widest + 12, width * 0.4);
    const valueRoom = o.valueLabels
      ? Math.max(...o.series.map((s) => Math.max(0, ...s.values.map((v, j) =>
        (v === null ? 0 : textWidth(o.valueText(v, j, s), size - 1)))))) + 10
      : 0;
    const left = labelW;
    const right = Math.max(valueRoom, textWidth(o.tickFormat(scale.max, scale.step), size) / 2 + 4);
    const plotW = Math.max(80, width - left - right);
    const barH = Math.max(size + 3, 16);
    const rowH = barH * o.series.length + 10;
    const plotH = rowH * o.categories.length;
    const bottom = size + 12 + (o.yLabel ? size + 8 : 0);
    const height = top + plotH + bottom;
    const x = (v) => left + (Math.max(0, v) / scale.max) * plotW;

    const grid = node("g", { class: "ac-grid-lines" }, svg);
    scale.values.forEach((v) => {
      if (v > scale.max + 1e-9) return;
      node("line", { class: "ac-grid", x1: round(x(v)), x2: round(x(v)), y1: top, y2: top + plotH }, grid);
      node("text", { class: "ac-tick", x: round(x(v)), y: top + plotH + size + 4, "text-anchor": "middle" },
        grid, o.tickFormat(v, scale.step));
    });
    if (o.yLabel) {
      node("text", { class: "ac-label", x: left + plotW / 2, y: height - 4, "text-anchor": "middle" }, svg, o.yLabel);
    }
    const bars = node("g", { class: "ac-bars" }, svg);
    const labels = node("g", { class: "ac-categories" }, svg);
    o.categories.forEach((c, j) => {
      const y0 = top + rowH * j + 5;
      const label = node("text", { class: "ac-tick ac-category", x: left - 8, y: round(y0 + (barH * o.series.length) / 2),
        "text-anchor": "end", "dominant-baseline": "middle", "data-full": c }, labels, shorten(c, labelW - 12, size));
      node("title", {}, label, o.categoryTitles[j]);
      o.series.forEach((s, i) => {
        const v = s.values[j];
        if (v === null) return;
        const rect = node("rect", { class: barClass(s, i), x: left, y: round(y0 + barH * i),
          width: round(Math.max(0, x(v) - left)), height: barH - 2 }, bars);
        node("title", {}, rect, tooltip(o, s, j));
        if (o.valueLabels) {
          node("text", { class: "ac-value", x: round(x(v) + 5), y: round(y0 + barH * i + (barH - 2) / 2),
            "dominant-baseline": "middle", "font-size": size - 1 }, bars, o.valueText(v, j, s));
        }
      });
    });
    node("line", { class: "ac-axis", x1: left, x2: left, y1: top, y2: top + plotH }, svg);
    finish(container, svg, width, height);
    fitLabels(labels, labelW - 12);
    return svg;
  }

  // Once drawn, shorten the category labels the estimate let through (real font metrics).
  function fitLabels(group, room) {
    Array.prototype.forEach.call(group.querySelectorAll("text"), (label) => {
      const full = label.getAttribute("data-full") || "";
      let measured = typeof label.getComputedTextLength === "function" ? label.getComputedTextLength() : 0;
      if (!(measured > room)) return;
      let cut = full;
      while (cut.length > 1 && measured > room) {
        cut = cut.slice(0, -1);
        label.firstChild.nodeValue = `${cut.trimEnd()}…`;
        measured = label.getComputedTextLength();
      }
    });
  }

  function bars(container, options) {
    if (!container) throw new Error("AntreCharts.bars: no container");
    const o = defaults(options);
    if (isEmpty(o)) return empty(container, o);
    return o.horizontal ? horizontal(container, o) : vertical(container, o);
  }

  root.AntreCharts = Object.freeze({ bars, ticks, version: "1.0" });
}(window));
