/* Antre reporting dashboard: plain ES2019, no framework, no build step, no external request.
 *
 * Reads GET {REPORTING_URL}/api/reporting/daily?site=&date= and
 * GET {REPORTING_URL}/api/reporting/ikm?site=&from=&to= (from = first day of the month,
 * to = the shown day) with "Authorization: Bearer <credential>", every 30 s, and draws
 * them with AntreCharts (charts.js).
 *
 * The credential (report-viewer API key "ak_..." or an admin / agency-admin token) comes
 * from #key=<credential> (then kept in localStorage["antre.reportKey"] and removed from
 * the URL) or from localStorage; without one, or when the API answers 401/403, the key
 * form is shown.
 *
 * "Today" is the site's day, as the API answers it: until another date is picked, the
 * page asks without a date and follows the site's calendar (also across midnight).
 *
 * Test hooks: body[data-state] = loading | ready | key | error; every tile has its raw
 * API figure in data-value (counts; seconds for waiting times; a 0-1 share for SLA; the
 * index for IKM), empty when there is none.
 */
(function () {
  "use strict";

  const REFRESH_MS = 30000;
  const FETCH_TIMEOUT_MS = 15000;
  const STORAGE_KEY = "antre.reportKey";

  const IKM_ELEMENTS = [
    ["u1", "Persyaratan"],
    ["u2", "Sistem, Mekanisme, dan Prosedur"],
    ["u3", "Waktu Penyelesaian"],
    ["u4", "Biaya/Tarif"],
    ["u5", "Produk Spesifikasi Jenis Pelayanan"],
    ["u6", "Kompetensi Pelaksana"],
    ["u7", "Perilaku Pelaksana"],
    ["u8", "Penanganan Pengaduan, Saran dan Masukan"],
    ["u9", "Sarana dan Prasarana"],
  ];
  // The summary tiles, in order: name (data-testid "tile-<name>", class "tile-<name>"), label.
  const TILES = [
    ["issued", "Diterbitkan"],
    ["served", "Dilayani"],
    ["waiting", "Menunggu"],
    ["no-show", "Tidak hadir"],
    ["cancelled", "Dibatalkan"],
    ["mean", "Rata-rata tunggu"],
    ["p90", "Waktu tunggu p90"],
    ["sla", "Sesuai target"],
    ["ikm", "IKM"],
  ];
  const MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
    "September", "Oktober", "November", "Desember"];
  const DAYS = ["Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"];
  const NO_DATA = "Belum ada data";

  // -- Where we are: filled in by the server, else taken from the URL -------------------
  const body = document.body;
  const unfilled = (v) => !v || /^\{\{.*\}\}$/.test(v);
  const fromBody = (name) => (unfilled(body.dataset[name]) ? "" : body.dataset[name].replace(/\/+$/, ""));
  const SITE = unfilled(body.dataset.site)
    ? decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "")
    : body.dataset.site;
  const API = fromBody("reportingUrl");

  const $ = (id) => document.getElementById(id);
  const tile = (name) => document.querySelector(`[data-testid="tile-${name}"]`);
  const el = {
    site: $("site-label"), dayLong: $("day-long"), date: $("date"), refresh: $("refresh"),
    forget: $("forget-key"), updated: $("updated"), closed: $("closed"), message: $("message"),
    keyPanel: $("key-panel"), keyForm: $("key-form"), keyInput: $("key-input"),
    keyError: $("key-error"), main: $("main"), hours: $("chart-hours"),
    agServed: $("chart-agencies-served"), agP90: $("chart-agencies-p90"), ikm: $("chart-ikm"),
    ikmPeriod: $("ikm-period"), rows: $("agency-rows"), total: $("agency-total"),
    caption: $("agency-caption"),
    tiles: $("tiles"), busiest: $("busiest"), csvDaily: $("csv-daily"), csvIkm: $("csv-ikm"),
    downloadStatus: $("download-status"),
  };

  document.title = `Dasbor Laporan – MPP ${SITE}`;
  el.site.textContent = SITE;

  // Each tile: its label, its value ("–" until the report says) and a note.
  el.tiles.append(...TILES.map(([name, label]) => {
    const node = document.createElement("li");
    node.className = `tile tile-${name}`;
    node.dataset.testid = `tile-${name}`;
    node.dataset.value = "";
    for (const [part, text] of [["label", label], ["value", "–"], ["note", ""]]) {
      const span = document.createElement("span");
      span.className = `tile-${part}`;
      span.textContent = text;
      node.appendChild(span);
    }
    return node;
  }));

  // -- Numbers, the Indonesian way: 1.234; 12,5; 87,5% ------------------------------------
  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  // At most `max` decimals, trailing zeros dropped down to `min`.
  function num(value, max, min) {
    if (typeof value !== "number" || !isFinite(value)) return "–";
    max = max || 0;
    min = min === undefined ? 0 : min;
    let text = Math.abs(value).toFixed(max);
    let [whole, frac = ""] = text.split(".");
    while (frac.length > min && frac.endsWith("0")) frac = frac.slice(0, -1);
    text = group(whole) + (frac ? `,${frac}` : "");
    return (value < 0 && /[1-9]/.test(text) ? "-" : "") + text;
  }
  const int = (v) => num(v, 0);
  const minutes = (seconds) => (typeof seconds === "number" ? num(seconds / 60, 1) : "–");
  // A waiting time: minutes, or seconds while under one minute ("12,5 menit", "40 detik").
  function duration(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return ["–", ""];
    if (seconds < 60) return [num(seconds, seconds < 10 ? 1 : 0), "detik"];
    return [minutes(seconds), "menit"];
  }
  const durationText = (seconds) => duration(seconds).join(" ").trim();
  // Axis ticks: as many decimals as the step needs (0,25 / 0,5 / 1).
  const tickNumber = (v, step) => num(v, step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) + 0.0001)
    + (String(step).replace(/^0\.0*/, "").length > 1 ? 1 : 0)));
  const percent = (share) => (typeof share === "number" ? `${num(share * 100, 1)}%` : "–");
  const pad = (n) => String(n).padStart(2, "0");
  const hourLabel = (h) => `${pad(h)}.00`;

  // -- Dates ("YYYY-MM-DD", read as calendar days, never shifted by a time zone) -----------
  function parts(day) {
    const [y, m, d] = day.split("-").map(Number);
    return { y, m, d };
  }
  function longDay(day) {
    const { y, m, d } = parts(day);
    const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
    return `${DAYS[weekday]}, ${d} ${MONTHS[m - 1]} ${y}`;
  }
  const monthStart = (day) => `${day.slice(0, 8)}01`;
  function period(first, last) {
    const a = parts(first);
    const b = parts(last);
    if (first === last) return `${b.d} ${MONTHS[b.m - 1]} ${b.y}`;
    if (a.y === b.y && a.m === b.m) return `${a.d}–${b.d} ${MONTHS[b.m - 1]} ${b.y}`;
    return `${a.d} ${MONTHS[a.m - 1]} ${a.y} – ${b.d} ${MONTHS[b.m - 1]} ${b.y}`;
  }
  const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v || "");

  function clock(timezone) {
    const now = new Date();
    try {
      const f = new Intl.DateTimeFormat("en-GB", { timeZone: timezone || undefined, hour: "2-digit",
        minute: "2-digit", second: "2-digit", hourCycle: "h23" });
      const p = {};
      f.formatToParts(now).forEach((x) => { p[x.type] = x.value; });
      return `${p.hour}:${p.minute}:${p.second}`;
    } catch (e) {
      return `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    }
  }

  // -- The credential -------------------------------------------------------------------------
  let memoryKey = "";
  function storedKey() {
    try { return localStorage.getItem(STORAGE_KEY) || memoryKey; } catch (e) { return memoryKey; }
  }
  function storeKey(value) {
    memoryKey = value || "";
    try {
      if (value) localStorage.setItem(STORAGE_KEY, value);
      else localStorage.removeItem(STORAGE_KEY);
    } catch (e) { /* storage disabled: kept in memory for this page */ }
  }
  // True when the URL brought a key (it is then stored and removed from the URL).
  function keyFromHash() {
    if (!location.hash) return false;
    const params = new URLSearchParams(location.hash.slice(1));
    const key = params.get("key");
    if (key === null) return false;
    if (key.trim()) storeKey(key.trim());
    params.delete("key");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return Boolean(key.trim());
  }
  keyFromHash();

  // -- API ----------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function call(path, asBlob) {
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS) : null;
    let response;
    try {
      response = await fetch(API + path, {
        headers: { Authorization: `Bearer ${storedKey()}`, Accept: asBlob ? "text/csv" : "application/json" },
        cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
        signal: controller ? controller.signal : undefined,
      });
    } catch (e) {
      throw new ApiError(0, "Server laporan tidak dapat dihubungi.");
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (!response.ok) {
      let message = "";
      try { message = (await response.json()).message || ""; } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    return asBlob ? response : response.json();
  }

  const query = (params) => Object.keys(params).filter((k) => params[k])
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join("&");

  // -- State ---------------------------------------------------------------------------------------
  const state = {
    date: null,         // the picked day; null: the site's today (follows the calendar)
    today: null,        // the site's today, as last answered
    report: null,
    ikm: null,
    ikmError: false,
    loading: 0,         // sequence number of the newest load: older answers are dropped
    timer: null,
    loadedAt: 0,        // when the last answer arrived (ms)
  };
  const initial = new URLSearchParams(location.search).get("date");
  if (isDay(initial)) state.date = initial;

  function setState(name) {
    body.dataset.state = name;
  }

  function showMessage(text) {
    el.message.textContent = text || "";
    el.message.hidden = !text;
  }

  function showKeyForm(problem) {
    setState("key");
    el.keyPanel.hidden = false;
    el.main.hidden = true;
    el.forget.hidden = true;
    el.keyError.textContent = problem || "";
    showMessage("");
    el.keyInput.value = "";
    el.keyInput.focus();
  }

  function hideKeyForm() {
    el.keyPanel.hidden = true;
    el.main.hidden = false;
    el.forget.hidden = false;
    el.keyError.textContent = "";
  }

  function problemText(error) {
    if (error.status === 0) return `${error.message} Mencoba lagi dalam ${REFRESH_MS / 1000} detik.`;
    if (error.status === 404) return `Lokasi “${SITE}” tidak dikenal. ${error.message || ""}`.trim();
    if (error.status === 400) return `Permintaan ditolak: ${error.message || "data tidak sah"}.`;
    return `Laporan gagal dimuat (HTTP ${error.status})${error.message ? `: ${error.message}` : "."}`;
  }

  function isAuthError(error) {
    return error.status === 401 || error.status === 403;
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      if (document.hidden) { schedule(); return; }  // refreshed when shown again
      load();
    }, REFRESH_MS);
  }

  async function load() {
    clearTimeout(state.timer);
    if (!storedKey()) { showKeyForm(""); return; }
    hideKeyForm();
    const seq = (state.loading += 1);
    if (!state.report) setState("loading");
    el.refresh.disabled = true;
    try {
      const report = await call(`/api/reporting/daily?${query({ site: SITE, date: state.date })}`);
      if (seq !== state.loading) return;
      if (!state.date) state.today = report.date;
      let ikm = null;
      let ikmError = false;
      try {
        ikm = await call(`/api/reporting/ikm?${query({ site: SITE, from: monthStart(report.date), to: report.date })}`);
      } catch (error) {
        if (isAuthError(error)) throw error;
        ikmError = true;
      }
      if (seq !== state.loading) return;
      state.report = report;
      state.ikm = ikm;
      state.ikmError = ikmError;
      state.loadedAt = Date.now();
      render();
      showMessage(ikmError ? "IKM gagal dimuat; angka lain tetap terbaru." : "");
      el.updated.textContent = `Diperbarui ${clock(report.timezone)}`;
      setState("ready");
    } catch (error) {
      if (seq !== state.loading) return;
      if (isAuthError(error)) {
        storeKey("");
        showKeyForm(error.status === 401
          ? "Kunci tidak diterima atau sudah kedaluwarsa. Tempel kunci yang berlaku."
          : "Kunci ini tidak berhak membaca laporan.");
        return;
      }
      showMessage(problemText(error));
      setState(state.report ? "ready" : "error");
    } finally {
      if (seq === state.loading) el.refresh.disabled = false;
    }
    schedule();
  }

  // -- Rendering -----------------------------------------------------------------------------------
  function setTile(name, raw, value, note, extra) {
    const node = tile(name);
    node.dataset.value = typeof raw === "number" && isFinite(raw) ? String(raw) : "";
    const valueNode = node.querySelector(".tile-value");
    valueNode.textContent = "";
    valueNode.append(value);
    if (extra) valueNode.appendChild(extra);
    node.querySelector(".tile-note").textContent = note || "";
    node.classList.toggle("tile-none", node.dataset.value === "");
  }

  function unit(text) {
    const span = document.createElement("span");
    span.className = "tile-unit";
    span.textContent = ` ${text}`;
    return span;
  }

  function gradeBadge(grade, label) {
    const span = document.createElement("span");
    span.className = `grade grade-${String(grade).toLowerCase()}`;
    span.textContent = grade;
    if (label) span.title = label;
    return span;
  }

  function renderTiles(report, ikm) {
    const t = report.totals;
    const today = report.date === state.today;
    setTile("issued", t.issued, int(t.issued), t.transfers_in ? `termasuk ${int(t.transfers_in)} pindahan layanan` : "tiket diterbitkan");
    setTile("served", t.served, int(t.served), t.transferred ? `${int(t.transferred)} dipindahkan ke layanan lain` : "selesai dilayani");
    setTile("waiting", t.waiting, int(t.waiting),
      `${today ? "saat ini" : "tersisa"}; ${int(t.in_service)} sedang dipanggil/dilayani`);
    setTile("no-show", t.no_show, int(t.no_show), "tidak datang saat dipanggil");
    setTile("cancelled", t.cancelled, int(t.cancelled), "dibatalkan sebelum dilayani");
    const w = t.waiting_time;
    const mean = duration(w.mean);
    const p90 = duration(w.p90);
    setTile("mean", w.mean, mean[0], w.median !== null ? `median ${durationText(w.median)}` : NO_DATA,
      mean[1] ? unit(mean[1]) : null);
    setTile("p90", w.p90, p90[0], w.max !== null ? `90% dipanggil dalam waktu ini · terlama ${durationText(w.max)}` : NO_DATA,
      p90[1] ? unit(p90[1]) : null);
    const sla = t.within_target;
    setTile("sla", sla.share, percent(sla.share),
      sla.of ? `${int(sla.count)} dari ${int(sla.of)} tiket dipanggil tepat waktu` : NO_DATA);

    const overall = ikm && ikm.overall;
    if (overall && typeof overall.ikm === "number") {
      setTile("ikm", overall.ikm, num(overall.ikm, 2, 2),
        `${overall.grade_label} · ${int(overall.respondents)} responden · ${period(ikm.from, ikm.to)}`,
        gradeBadge(overall.grade, overall.grade_label));
    } else {
      setTile("ikm", null, "–", state.ikmError ? "IKM gagal dimuat"
        : `${NO_DATA} · ${period(monthStart(report.date), report.date)}`);
    }
  }

  // Hours from the first to the last with any ticket, gaps filled with zero.
  function hourRows(report) {
    const by = {};
    report.hours.forEach((h) => { if (typeof h.hour === "number") by[h.hour] = h; });
    const keys = Object.keys(by).map(Number);
    if (!keys.length) return [];
    const rows = [];
    for (let h = Math.min(...keys); h <= Math.max(...keys); h += 1) {
      rows.push(by[h] || { hour: h, issued: 0, served: 0 });
    }
    return rows;
  }

  const agencyName = (a) => a.name || a.agency;

  function renderCharts() {
    const report = state.report;
    if (!report) return;
    const rows = hourRows(report);
    AntreCharts.bars(el.hours, {
      title: `Antrean per jam, ${longDay(report.date)}`,
      categories: rows.map((h) => hourLabel(h.hour)),
      series: [
        { name: "Diterbitkan", values: rows.map((h) => h.issued), className: "series-issued" },
        { name: "Dilayani", values: rows.map((h) => h.served), className: "series-served" },
      ],
      yLabel: "Tiket", format: int, integer: true, valueLabels: true, fontSize: 14, height: 280,
      emptyText: NO_DATA,
    });

    const agencies = report.agencies;
    const names = agencies.map(agencyName);
    AntreCharts.bars(el.agServed, {
      title: "Tiket dilayani per instansi", horizontal: true, legend: false,
      categories: names,
      series: [{ name: "Dilayani", values: agencies.map((a) => a.served), className: "series-served" }],
      yLabel: "Tiket", format: int, integer: true, valueLabels: true, fontSize: 14, emptyText: NO_DATA,
    });
    AntreCharts.bars(el.agP90, {
      title: "Waktu tunggu p90 per instansi (menit)", horizontal: true, legend: false,
      categories: names,
      series: [{ name: "Tunggu p90", className: "series-p90",
        values: agencies.map((a) => (a.waiting_time.p90 === null ? null : a.waiting_time.p90 / 60)) }],
      yLabel: "Menit", format: (v) => durationText(v * 60), tickFormat: tickNumber,
      valueLabels: true, fontSize: 14, emptyText: NO_DATA,
    });

    const overall = state.ikm && state.ikm.overall;
    const nrr = overall && overall.nrr;
    const grades = (overall && overall.element_grades) || {};
    const summary = nrr
      ? `IKM ${num(overall.ikm, 2, 2)} (${overall.grade}, ${overall.grade_label}), ${int(overall.respondents)} responden. `
        + `Nilai rata-rata per unsur: ${IKM_ELEMENTS.map(([code, name]) => `${code.toUpperCase()} ${name} `
        + `${num(nrr[code], 4, 2)} (${grades[code] || "–"})`).join("; ")}.`
      : null;
    AntreCharts.bars(el.ikm, {
      title: "IKM per unsur (NRR 1–4)", horizontal: true, legend: false, max: 4, summary,
      categories: IKM_ELEMENTS.map(([code, name]) => `${code.toUpperCase()} ${name}`),
      series: [{ name: "Nilai rata-rata", className: "series-ikm",
        values: IKM_ELEMENTS.map(([code]) => (nrr ? nrr[code] : null)) }],
      format: (v) => num(v, 2, 2),
      valueText: (v, j) => `${num(v, 2, 2)} ${grades[IKM_ELEMENTS[j][0]] || ""}`.trim(),
      yLabel: "NRR (1–4)", valueLabels: true, fontSize: 14, labelWidth: 330,
      emptyText: state.ikmError ? "IKM gagal dimuat" : `${NO_DATA} survei untuk periode ini`,
    });
    const from = state.ikm ? state.ikm.from : monthStart(report.date);
    const to = state.ikm ? state.ikm.to : report.date;
    el.ikmPeriod.textContent = `Nilai rata-rata (NRR, skala 1–4) per unsur, ${period(from, to)}`
      + (overall && overall.respondents ? `, ${int(overall.respondents)} responden.` : ".");
  }

  function cell(row, text, className, tag) {
    const td = document.createElement(tag || "td");
    if (className) td.className = className;
    if (typeof text === "string") td.textContent = text;
    else if (text) td.appendChild(text);
    row.appendChild(td);
    return td;
  }

  function ikmCell(result) {
    if (!result || typeof result.ikm !== "number") return document.createTextNode("–");
    const frag = document.createDocumentFragment();
    frag.append(`${num(result.ikm, 2, 2)} `);
    frag.appendChild(gradeBadge(result.grade, result.grade_label));
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = ` ${result.grade_label}`;
    frag.appendChild(label);
    return frag;
  }

  function figuresRow(row, figures, ikmResult) {
    cell(row, int(figures.issued), "num");
    cell(row, int(figures.served), "num");
    cell(row, int(figures.no_show), "num");
    cell(row, int(figures.cancelled), "num");
    cell(row, durationText(figures.waiting_time.mean), "num");
    cell(row, durationText(figures.waiting_time.p90), "num");
    cell(row, percent(figures.within_target.share), "num");
    cell(row, ikmCell(ikmResult), "num");
  }

  function renderTable(report, ikm) {
    el.caption.textContent = `Angka per instansi, ${longDay(report.date)}; IKM ${ikm
      ? period(ikm.from, ikm.to) : "tidak tersedia"}.`;
    const ikmOf = {};
    ((ikm && ikm.agencies) || []).forEach((a) => { ikmOf[a.agency] = a; });
    el.rows.textContent = "";
    el.total.textContent = "";
    if (!report.agencies.length) {
      const row = document.createElement("tr");
      const td = cell(row, NO_DATA, "empty");
      td.colSpan = 9;
      el.rows.appendChild(row);
      return;
    }
    report.agencies.forEach((a) => {
      const row = document.createElement("tr");
      const th = cell(row, agencyName(a), "name", "th");
      th.scope = "row";
      if (a.name) {
        const code = document.createElement("span");
        code.className = "code";
        code.textContent = a.agency;
        th.append(" ");
        th.appendChild(code);
      }
      figuresRow(row, a, ikmOf[a.agency]);
      el.rows.appendChild(row);
    });
    const row = document.createElement("tr");
    const th = cell(row, "Semua instansi", "name", "th");
    th.scope = "row";
    figuresRow(row, report.totals, ikm && ikm.overall);
    el.total.appendChild(row);
  }

  function renderBusiest(report) {
    el.busiest.textContent = "";
    const byHour = {};
    report.hours.forEach((h) => { byHour[h.hour] = h; });
    const hours = (report.busiest_hours || []).filter((h) => byHour[h] && byHour[h].issued > 0);
    if (!hours.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = NO_DATA;
      el.busiest.appendChild(li);
      return;
    }
    const total = report.totals.issued || 0;
    hours.forEach((h) => {
      const data = byHour[h];
      const li = document.createElement("li");
      const when = document.createElement("strong");
      when.textContent = `${hourLabel(h)}–${hourLabel((h + 1) % 24)}`;
      const what = document.createElement("span");
      const share = total ? ` (${percent(data.issued / total)} dari semua tiket)` : "";
      const wait = data.waiting_time && data.waiting_time.mean !== null
        ? `, rata-rata tunggu ${durationText(data.waiting_time.mean)}` : "";
      what.textContent = `${int(data.issued)} tiket diterbitkan${share}${wait}`;
      li.append(when, " ", what);
      el.busiest.appendChild(li);
    });
  }

  function render() {
    const { report, ikm } = state;
    if (document.activeElement !== el.date) el.date.value = report.date;  // not while typing
    if (state.today) el.date.max = state.today;
    el.dayLong.textContent = longDay(report.date) + (report.timezone ? ` · ${report.timezone}` : "");
    el.closed.hidden = !report.closed;
    renderTiles(report, ikm);
    renderCharts();
    renderTable(report, ikm);
    renderBusiest(report);
  }

  // Charts are drawn at their container's width (so text keeps its size): redraw on resize.
  let lastWidth = 0;
  let resizeFrame = 0;
  function onResize() {
    const width = el.hours.clientWidth;
    if (Math.abs(width - lastWidth) < 8) return;
    lastWidth = width;
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(renderCharts);
  }
  if (typeof ResizeObserver === "function") new ResizeObserver(onResize).observe(el.main);
  else window.addEventListener("resize", onResize);

  // -- CSV downloads: the same header, saved through a Blob link -----------------------------------
  async function download(button, path, fallbackName) {
    if (!state.report) return;
    button.disabled = true;
    el.downloadStatus.textContent = "Menyiapkan berkas…";
    try {
      const response = await call(path, true);
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const match = /filename="?([^";]+)"?/.exec(disposition);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = match ? match[1] : fallbackName;
      link.hidden = true;
      document.body.appendChild(link);
      link.click();
      setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      el.downloadStatus.textContent = `Berkas ${link.download} diunduh.`;
    } catch (error) {
      if (isAuthError(error)) { storeKey(""); showKeyForm("Kunci tidak berlaku lagi. Tempel kunci yang berlaku."); return; }
      el.downloadStatus.textContent = problemText(error);
    } finally {
      button.disabled = false;
    }
  }

  el.csvDaily.addEventListener("click", () => {
    const day = state.report.date;
    download(el.csvDaily, `/api/reporting/daily.csv?${query({ site: SITE, date: day })}`, `antre-${SITE}-${day}.csv`);
  });
  el.csvIkm.addEventListener("click", () => {
    const day = state.report.date;
    const first = monthStart(day);
    download(el.csvIkm, `/api/reporting/ikm.csv?${query({ site: SITE, from: first, to: day })}`,
      `antre-ikm-${SITE}-${first}-${day}.csv`);
  });

  // -- Controls ----------------------------------------------------------------------------------------
  let dateTimer = 0;
  el.date.addEventListener("change", () => {
    clearTimeout(dateTimer);  // typing a year fires "change" per digit: wait for a pause
    dateTimer = setTimeout(() => {
      const value = el.date.value;
      if (!isDay(value) || value < "2000-01-01") return;  // cleared or half typed
      state.date = state.today && value === state.today ? null : value;
      load();
    }, 400);
  });
  el.refresh.addEventListener("click", () => load());
  el.forget.addEventListener("click", () => {
    storeKey("");
    state.loading += 1;  // answers still under way are dropped
    clearTimeout(state.timer);
    showKeyForm("");
  });
  el.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = el.keyInput.value.trim();
    if (!key) { el.keyError.textContent = "Kunci belum diisi."; return; }
    storeKey(key);
    el.keyInput.value = "";
    load();
  });
  window.addEventListener("hashchange", () => {  // a #key=... link opened in this tab
    if (keyFromHash()) load();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden || !storedKey() || body.dataset.state === "key") return;
    if (Date.now() - state.loadedAt >= REFRESH_MS) load();
  });

  load();
}());
