/*
 * Antre kiosk (/kiosk/<site>): choose an agency and a service, read the service standard
 * (requirements, fee, completion time, queue), take a ticket, print it.
 *
 * Plain ES2019, no framework, no request outside the MPP's own APIs. A kiosk device is
 * set up once by opening /kiosk/<site>#token=<device token>: the token goes to
 * localStorage["antre.kioskToken"] and leaves the address bar. Without a token the
 * ticket is issued through the public web channel (when the MPP allows it).
 */
(function () {
  "use strict";

  const TOKEN_KEY = "antre.kioskToken";
  const REFRESH_MS = 30000; // kiosk data (queue lengths, open/closed)
  const TICKET_RESET_SECONDS = 30; // the ticket screen goes back to the start
  const IDLE_RESET_MS = 120000; // a half-finished choice is abandoned
  const REQUEST_TIMEOUT_MS = 20000;

  const PRIORITY = {
    disability: "Penyandang disabilitas", elderly: "Lansia", pregnant: "Ibu hamil",
    child: "Anak", disaster_victim: "Korban bencana",
  };
  const UNITS = { minutes: "menit", hours: "jam", working_days: "hari kerja", days: "hari" };
  const CLOSED_BECAUSE = {
    break: "sedang istirahat", holiday: "libur hari ini", closed_day: "tutup hari ini",
    before_opening: "belum buka", after_closing: "sudah tutup untuk hari ini",
  };
  const KINDS = {
    local_office: "Perangkat daerah", national_body: "Instansi pusat",
    state_company: "BUMN", regional_company: "BUMD", bank: "Bank",
  };
  const FIELDS = {
    phone: "Nomor HP", priority: "Prioritas", service: "Layanan", site: "MPP", lang: "Bahasa",
  };

  const { $, placeholder, baseUrl, setText, waitText, ApiError, callApi } = window.Antre;
  const body = document.body;
  const SITE = placeholder(body.dataset.site);
  const QUEUE = baseUrl(body.dataset.queueUrl);

  const state = {
    data: null, services: new Map(), agencies: new Map(), signature: "",
    screen: null, agency: null, service: null, from: "home",
    busy: false, qrUrl: null, qrPromise: null, resetAt: 0, lastActivity: Date.now(),
    loading: null,
  };

  // -- small helpers -------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  /** Lower case, without accents: "Pèrekaman KTP" -> "perekaman ktp". */
  function fold(text) {
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function rupiah(amount) {
    if (!amount) return "Gratis";
    return "Rp " + String(Math.round(amount)).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  function duration(time) {
    if (!time || !time.amount) return "-";
    return time.amount + " " + (UNITS[time.unit] || time.unit);
  }

  function wait(minutes) {
    return waitText(minutes) || "-";
  }

  function people(count) {
    return count === null || count === undefined ? "-" : count + " orang";
  }

  /**
   * A moment for display. A time with an explicit offset (the site's local time, as the
   * API gives next_open) keeps its wall clock; a UTC time is shown in the kiosk's zone.
   */
  function moment(iso) {
    const local = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?[+-]\d{2}:\d{2}$/
      .exec(iso || "");
    if (local) {
      const date = new Date(Date.UTC(+local[1], +local[2] - 1, +local[3], +local[4], +local[5]));
      return { date, zone: { timeZone: "UTC" } };
    }
    const date = new Date(iso);
    return isNaN(date.getTime()) ? null : { date, zone: {} };
  }

  function formatDay(m) {
    return new Intl.DateTimeFormat("id-ID", {
      weekday: "long", day: "numeric", month: "long", year: "numeric", ...m.zone,
    }).format(m.date);
  }

  function formatTime(m) {
    return new Intl.DateTimeFormat("id-ID", {
      hour: "2-digit", minute: "2-digit", hour12: false, ...m.zone,
    }).format(m.date);
  }

  function closedMessage(site) {
    let text = site.name + " " + (CLOSED_BECAUSE[site.reason] || "sedang tutup") +
      (site.label ? " (" + site.label + ")" : "") + ".";
    const next = moment(site.next_open);
    if (next) text += " Buka kembali " + formatDay(next) + " pukul " + formatTime(next) + ".";
    return text;
  }

  // -- the kiosk's device token ----------------------------------------------------------

  function kioskToken() {
    try {
      return localStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  /** /kiosk/BWI#token=... stores the token and takes it out of the address bar. */
  function takeTokenFromUrl() {
    const hash = location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    if (!params.has("token")) return;
    const token = (params.get("token") || "").trim();
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage blocked: the kiosk issues through the web channel
    }
    history.replaceState(history.state, "", location.pathname + location.search);
  }

  // -- API -----------------------------------------------------------------------------

  /** A queue API call: JSON, or a blob (the QR code's SVG); opts.auth sends the kiosk's token. */
  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json, image/svg+xml" };
    if (opts.auth) {
      const token = kioskToken();
      if (token) headers.Authorization = "Bearer " + token;
    }
    return callApi(QUEUE + path, {
      method: opts.method, json: opts.json, headers, timeout: opts.timeout || REQUEST_TIMEOUT_MS,
      timeoutMessage: opts.timeoutMessage
        || "Server antrean tidak menjawab. Silakan coba lagi atau hubungi petugas.",
      offlineMessage: "Tidak dapat terhubung ke server antrean. Silakan coba lagi atau hubungi petugas.",
    }, readAnswer);
  }

  async function readAnswer(response) {
    try {
      const type = response.headers.get("Content-Type") || "";
      if (response.ok) return type.indexOf("json") >= 0 ? await response.json() : await response.blob();
      let details = null;
      if (type.indexOf("json") >= 0) {
        try {
          details = await response.json();
        } catch (e) {
          details = null;
        }
      }
      const message = details && typeof details.message === "string" && details.message
        ? details.message
        : "Terjadi gangguan pada server antrean (kode " + response.status +
          "). Silakan coba lagi atau hubungi petugas.";
      throw new ApiError(message, response.status, details);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError("Jawaban server antrean terputus. Silakan coba lagi.", 0);
    }
  }

  // -- errors --------------------------------------------------------------------------

  /** Shows ``message`` (and field messages) in the one error box, placed in ``slot``. */
  function showError(message, fields, slot) {
    const box = $("error");
    const home = slot ? $(slot) : null;
    if (home) home.append(box);
    else $("closed").after(box);
    box.replaceChildren(el("p", { text: message }));
    const lines = Object.entries(fields || {}).map(([name, messages]) =>
      el("li", { text: (FIELDS[name] || name) + ": " + [].concat(messages).join(" ") }));
    if (lines.length) box.append(el("ul", null, lines));
    box.hidden = false;
    box.scrollIntoView({ block: "center", behavior: "auto" });
  }

  function hideError() {
    const box = $("error");
    box.hidden = true;
    box.replaceChildren();
  }

  function setPhoneError(text) {
    const input = $("phone");
    const note = $("phone-error");
    if (text) {
      note.textContent = text;
      note.hidden = false;
      input.setAttribute("aria-invalid", "true");
    } else {
      note.textContent = "";
      note.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  }

  // -- data ----------------------------------------------------------------------------

  function load() {
    if (state.loading) return state.loading;
    if (!SITE) {
      $("loading").hidden = true;
      showError("Alamat anjungan tidak lengkap: kode MPP tidak ada. Hubungi petugas.");
      return Promise.resolve();
    }
    state.loading = api("/api/queue/kiosk/" + encodeURIComponent(SITE))
      .then((data) => {
        const first = !state.data;
        apply(data);
        $("loading").hidden = true;
        $("retry-wrap").hidden = true;
        if (first) {
          hideError();
          show("home", { focus: false });
        }
      })
      .catch((err) => {
        if (!state.data) { // nothing to show yet: say why, offer to retry
          $("loading").hidden = true;
          $("retry-wrap").hidden = false;
          showError(err.message);
        }
      })
      .finally(() => {
        state.loading = null;
      });
    return state.loading;
  }

  function apply(data) {
    state.data = data;
    state.services = new Map();
    state.agencies = new Map();
    for (const agency of data.agencies || []) {
      state.agencies.set(agency.code, agency);
      for (const service of agency.services || []) {
        state.services.set(service.code, { service, agency, folded: fold(service.name) });
      }
    }
    renderSite(data.site);
    const signature = JSON.stringify((data.agencies || []).map((a) =>
      [a.code, a.name, (a.services || []).map((s) => [s.code, s.name])]));
    if (state.agency && !state.agencies.has(state.agency)) state.agency = null;
    if (state.service && !state.services.has(state.service)) {
      state.service = null;
      if (state.screen === "details") show(state.agency ? "agency" : "home");
    }
    if (signature !== state.signature) {
      state.signature = signature;
      rerender();
    } else {
      updateLive();
    }
  }

  function renderSite(site) {
    setText($("site-name"), site.name);
    document.title = "Ambil Nomor Antrean - " + site.name;
    const badge = $("site-state");
    badge.hidden = false;
    badge.className = "badge " + (site.open ? "badge--open" : "badge--closed");
    setText(badge, site.open ? "Buka" : site.reason === "break" ? "Istirahat" : "Tutup");
    const closed = $("closed");
    if (site.open) {
      closed.hidden = true;
    } else {
      closed.replaceChildren(
        el("strong", { className: "alert__title", text: closedMessage(site) }),
        el("span", { text: "Nomor antrean dapat diambil saat MPP buka. Persyaratan layanan tetap dapat dilihat." }));
      closed.hidden = false;
    }
  }

  // -- screens -------------------------------------------------------------------------

  const TITLES = { home: "home-title", agency: "agency-title", details: "service-title", ticket: "ticket-title" };

  function show(name, options) {
    const opts = options || {};
    for (const screen of Object.keys(TITLES)) $("screen-" + screen).hidden = screen !== name;
    state.screen = name;
    if (!opts.keepError) hideError();
    // Only the shown screen holds service buttons, so every data-testid is unique.
    if (name !== "home") $("search-results").replaceChildren();
    if (name !== "agency") $("service-list").replaceChildren();
    if (name === "home") renderHome();
    if (name === "agency") renderAgency();
    window.scrollTo(0, 0);
    if (opts.focus !== false) $(TITLES[name]).focus({ preventScroll: true });
  }

  function focusedTestId() {
    const active = document.activeElement;
    return active && active.getAttribute ? active.getAttribute("data-testid") : null;
  }

  /** Focuses the visible element with this data-testid; false when there is none. */
  function refocus(testId) {
    if (!testId) return false;
    const node = document.querySelector('[data-testid="' + CSS.escape(testId) + '"]');
    if (!node || node.offsetParent === null) return false;
    node.focus({ preventScroll: false });
    return true;
  }

  function rerender() {
    const focused = focusedTestId();
    if (state.screen === "home") renderHome();
    if (state.screen === "agency") renderAgency();
    if (state.screen === "details") updateLive();
    refocus(focused);
  }

  function renderHome() {
    const grid = $("agency-grid");
    const agencies = (state.data && state.data.agencies) || [];
    grid.replaceChildren(...agencies.map((agency) => el("button", {
      type: "button", className: "btn btn--tile", "data-testid": "agency-" + agency.code,
      onclick: () => openAgency(agency.code),
    },
    el("span", { className: "btn__title", text: agency.name }),
    el("span", {
      className: "btn__meta",
      text: agency.services.length + " layanan" + (KINDS[agency.kind] ? " · " + KINDS[agency.kind] : ""),
    }))));
    if (!agencies.length) {
      grid.append(el("p", { className: "lead", text: "Belum ada layanan yang tersedia di MPP ini." }));
    }
    renderSearch();
  }

  function liveLine(service) {
    const parts = [people(service.waiting) + " menunggu"];
    if (service.estimated_wait_minutes !== null && service.estimated_wait_minutes !== undefined) {
      parts.push("tunggu " + wait(service.estimated_wait_minutes));
    }
    parts.push(rupiah(service.fee));
    return parts.join(" · ");
  }

  function serviceButton(entry, withAgency, from) {
    const service = entry.service;
    return el("button", {
      type: "button", className: "btn btn--tile", "data-testid": "service-" + service.code,
      onclick: () => openService(service.code, from),
    },
    el("span", { className: "btn__title", text: service.name }),
    withAgency ? el("span", { className: "btn__meta", text: entry.agency.name }) : null,
    el("span", { className: "btn__meta", "data-live": service.code, text: liveLine(service) }));
  }

  function renderSearch() {
    const words = fold($("search").value).split(/\s+/).filter(Boolean);
    const results = $("search-results");
    results.replaceChildren();
    if (!words.length) {
      $("search-area").hidden = true;
      $("agency-grid").hidden = false;
      setText($("search-count"), "");
      return;
    }
    const hits = [];
    for (const entry of state.services.values()) {
      if (words.every((word) => entry.folded.indexOf(word) >= 0)) hits.push(entry);
    }
    hits.sort((a, b) => a.service.name.localeCompare(b.service.name, "id"));
    results.append(...hits.map((entry) => serviceButton(entry, true, "home")));
    $("agency-grid").hidden = true;
    $("search-area").hidden = false;
    $("search-empty").hidden = hits.length > 0;
    setText($("search-count"), hits.length ? hits.length + " layanan ditemukan." : "Layanan tidak ditemukan.");
  }

  function openAgency(code) {
    state.agency = code;
    show("agency");
  }

  function renderAgency() {
    const agency = state.agencies.get(state.agency);
    if (!agency) return;
    setText($("agency-title"), agency.name);
    $("service-list").replaceChildren(...agency.services.map((service) =>
      serviceButton(state.services.get(service.code), false, "agency")));
  }

  function updateLive() {
    for (const node of document.querySelectorAll("[data-live]")) {
      const entry = state.services.get(node.getAttribute("data-live"));
      if (entry) setText(node, liveLine(entry.service));
    }
    if (state.screen === "details") renderLiveFacts();
  }

  // -- the service standard ----------------------------------------------------------

  function openService(code, from) {
    const entry = state.services.get(code);
    if (!entry) return;
    state.service = code;
    state.from = from;
    if (from === "agency") state.agency = entry.agency.code;
    renderDetails(entry);
    resetForm();
    show("details");
    load(); // fresh queue numbers while the citizen reads
  }

  function textList(tag, items, empty) {
    if (!items || !items.length) return el("p", { text: empty });
    return el(tag, null, items.map((item) => el("li", { text: item })));
  }

  function renderDetails(entry) {
    const service = entry.service;
    setText($("details-agency"), entry.agency.name);
    setText($("service-title"), service.name);
    setText($("details-fee"), rupiah(service.fee));
    setText($("details-time"), duration(service.completion_time));
    $("details-requirements").replaceWith(Object.assign(
      textList("ul", service.requirements, "Tidak ada persyaratan khusus."),
      { id: "details-requirements" }));
    $("details-requirements").setAttribute("aria-labelledby", "requirements-title");
    const more = [];
    if (service.procedure && service.procedure.length) {
      more.push(el("h3", { text: "Prosedur" }), textList("ol", service.procedure));
    }
    if (service.product) more.push(el("h3", { text: "Produk layanan" }), el("p", { text: service.product }));
    if (service.legal_basis && service.legal_basis.length) {
      more.push(el("h3", { text: "Dasar hukum" }), textList("ul", service.legal_basis));
    }
    if (service.complaint_channel) {
      more.push(el("h3", { text: "Pengaduan, saran dan masukan" }), el("p", { text: service.complaint_channel }));
    }
    $("details-more").hidden = !more.length;
    $("details-more").open = false;
    $("details-more-body").replaceChildren(...more);
    renderLiveFacts();
  }

  function renderLiveFacts() {
    const entry = state.services.get(state.service);
    if (!entry) return;
    const service = entry.service;
    setText($("details-waiting"), people(service.waiting));
    setText($("details-estimate"), wait(service.estimated_wait_minutes));
    setText($("details-counters"), service.open_counters ? service.open_counters + " loket" : "Belum ada");
    const quota = service.daily_quota;
    $("details-quota-wrap").hidden = !quota;
    if (quota) {
      const left = Math.max(0, quota - (service.issued_today || 0));
      setText($("details-quota"), left ? "Sisa " + left + " dari " + quota : "Habis (" + quota + ")");
    }
  }

  function resetForm() {
    $("take-form").reset();
    $("phone").value = "";
    setPhoneError(null);
  }

  function setBusy(busy) {
    state.busy = busy;
    const button = $("take-ticket");
    button.disabled = busy;
    button.setAttribute("aria-busy", busy ? "true" : "false");
    setText(button, busy ? "Mengambil nomor…" : "Ambil Nomor Antrean");
  }

  async function takeTicket(event) {
    event.preventDefault();
    if (state.busy) return; // one tap, one ticket
    const entry = state.services.get(state.service);
    if (!entry) return;
    const priority = $("take-form").elements.priority.value || null;
    const phone = $("phone").value.trim();
    const request = { service: entry.service.code, priority, lang: "id" };
    if (SITE) request.site = SITE;
    if (phone) request.phone = phone;
    hideError();
    setPhoneError(null);
    setBusy(true);
    let ticket;
    try {
      ticket = await api("/api/queue/tickets", {
        method: "POST", json: request, auth: true,
        timeoutMessage: "Server antrean tidak menjawab. Nomor mungkin sudah terbit: tanyakan " +
          "petugas sebelum mengambil nomor lagi.",
      });
    } catch (err) {
      setBusy(false);
      const fields = (err.details && err.details.fields) || null;
      if (fields && fields.phone) {
        setPhoneError([].concat(fields.phone).join(" "));
        $("phone").focus({ preventScroll: true });
      }
      showError(err.message, fields, "details-error-slot");
      load(); // closed, quota used up: show the kiosk as it is now
      return;
    }
    setBusy(false);
    showTicket(ticket, entry, priority);
  }

  // -- the ticket ----------------------------------------------------------------------

  function statusLink(ticket) {
    // The secret stays in the fragment: browsers never send it to a server.
    return location.origin + "/tiket/" + encodeURIComponent(ticket.ticket_id) + "#" + ticket.secret;
  }

  function showTicket(ticket, entry, priority) {
    const link = statusLink(ticket);
    setText($("t-site"), state.data ? state.data.site.name : "");
    setText($("t-number"), ticket.ticket_number);
    setText($("t-service"), entry.service.name);
    setText($("t-agency"), entry.agency.name);
    const group = ticket.priority || priority;
    $("t-priority").hidden = !group;
    setText($("t-priority"), group ? "Prioritas: " + (PRIORITY[group] || group) : "");
    setText($("t-position"), ticket.position === null || ticket.position === undefined ? "-" : String(ticket.position));
    setText($("t-estimate"), wait(ticket.estimated_wait_minutes));
    const issued = moment(ticket.issued_at) || moment(new Date().toISOString());
    setText($("t-date"), new Intl.DateTimeFormat("id-ID", { day: "2-digit", month: "2-digit", year: "numeric" }).format(issued.date));
    setText($("t-time"), formatTime(issued));
    const note = $("t-messages");
    const messages = ticket.messages;
    note.hidden = !messages;
    if (messages) {
      note.className = "ticket__fine no-print";
      setText(note, messages.status === "subscribed" && messages.phone
        ? "Pemberitahuan antrean akan dikirim ke " + messages.phone + "."
        : "Pemberitahuan ke nomor HP sedang tidak tersedia. Pantau antrean dengan kode QR.");
    }
    $("t-link").href = link;
    $("ticket-title").replaceChildren("Nomor antrean Anda: ",
      el("span", { className: "nowrap", text: ticket.ticket_number }));
    const img = $("t-qr");
    img.hidden = true;
    img.removeAttribute("src");
    revokeQr();
    state.qrPromise = api("/api/queue/qr", { method: "POST", json: { text: link } })
      .then((blob) => {
        state.qrUrl = URL.createObjectURL(blob);
        img.src = state.qrUrl;
        img.hidden = false;
        return img.decode ? img.decode().catch(() => undefined) : undefined;
      })
      .catch(() => {
        img.hidden = true; // the ticket stands; the link below still works
      });
    resetForm();
    show("ticket");
    startCountdown();
  }

  function revokeQr() {
    if (state.qrUrl) URL.revokeObjectURL(state.qrUrl);
    state.qrUrl = null;
  }

  async function printTicket() {
    if (state.qrPromise) await state.qrPromise; // never print a ticket without its QR code
    window.print();
    startCountdown();
  }

  function startCountdown() {
    state.resetAt = Date.now() + TICKET_RESET_SECONDS * 1000;
    tick();
  }

  function tick() {
    if (state.screen === "ticket") {
      const left = Math.max(0, Math.ceil((state.resetAt - Date.now()) / 1000));
      setText($("reset-note"), "Layar kembali ke awal dalam " + left + " detik.");
      if (left <= 0) finish();
    } else if ((state.screen === "agency" || state.screen === "details") &&
               Date.now() - state.lastActivity > IDLE_RESET_MS) {
      finish(); // nobody finished choosing: never leave a phone number on screen
    } else if (state.screen === "home" && $("search").value &&
               Date.now() - state.lastActivity > IDLE_RESET_MS) {
      $("search").value = "";
      renderSearch();
    }
  }

  /** Back to the start: forget the ticket (its link carries the secret) and the form. */
  function finish() {
    revokeQr();
    state.qrPromise = null;
    $("t-qr").removeAttribute("src");
    $("t-link").href = "#";
    for (const id of ["t-number", "t-service", "t-agency", "t-position", "t-estimate", "t-date", "t-time", "t-messages"]) {
      setText($(id), "");
    }
    resetForm();
    $("search").value = "";
    state.agency = null;
    state.service = null;
    show("home");
    load();
  }

  // -- clock ---------------------------------------------------------------------------

  function clock() {
    const now = { date: new Date(), zone: {} };
    setText($("clock"), new Intl.DateTimeFormat("id-ID", { weekday: "long", day: "numeric", month: "long" })
      .format(now.date) + " · " + formatTime(now));
  }

  // -- wiring --------------------------------------------------------------------------

  /** One step back, focusing the button the citizen came through. */
  function back() {
    let to;
    let from;
    if (state.screen === "agency") {
      to = "home";
      from = "agency-" + state.agency;
    } else if (state.screen === "details") {
      to = state.from === "agency" && state.agency ? "agency" : "home";
      from = "service-" + state.service;
      state.service = null;
    } else {
      return;
    }
    show(to, { focus: false });
    if (!refocus(from)) $(TITLES[to]).focus({ preventScroll: true });
  }

  function start() {
    takeTokenFromUrl();
    setText($("device-mode"), kioskToken() ? "Perangkat: anjungan terdaftar." : "Perangkat: kanal web.");
    $("search").addEventListener("input", renderSearch);
    $("agency-back").addEventListener("click", back);
    $("details-back").addEventListener("click", back);
    $("take-form").addEventListener("submit", takeTicket);
    $("phone").addEventListener("input", () => setPhoneError(null));
    $("print").addEventListener("click", printTicket);
    $("done").addEventListener("click", finish);
    $("retry").addEventListener("click", () => {
      hideError();
      $("loading").hidden = false;
      $("retry-wrap").hidden = true;
      load();
    });
    const active = () => {
      state.lastActivity = Date.now();
      if (state.screen === "ticket") startCountdown();
    };
    for (const type of ["pointerdown", "keydown", "input"]) document.addEventListener(type, active, true);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && (state.screen === "agency" || state.screen === "details")) back();
    });
    window.addEventListener("afterprint", startCountdown);
    clock();
    setInterval(clock, 1000);
    setInterval(tick, 1000);
    setInterval(() => {
      if (!document.hidden && !state.busy && state.screen !== "ticket") load();
    }, REFRESH_MS);
    load();
  }

  start();
})();
