/* Antre display board: plain ES2019, no framework, no build step, no external request.
 *
 * Announcements arrive by Server-Sent Events and are played ONE AFTER ANOTHER, never
 * overwriting each other (two counters calling at once was the complaint):
 *   show as current -> chime (Web Audio, two sine tones) -> speak text[lang] with the
 *   browser's own speechSynthesis (local voice preferred: no cloud TTS) -> next.
 * Without a suitable voice, or before sound is enabled by a click, the sentence is shown
 * large and each call is held for HOLD_MS instead, so the queue still advances.
 *
 * Test hook: window.antreDisplay.queued() / announced() / current().
 */
(function () {
  "use strict";

  const HOLD_MS = 4000;           // a call shown without voice stays this long
  const SPEAK_TIMEOUT_MS = 8000;  // safety net when the engine never fires "end"
  const GAP_MS = 600;             // breath between two announcements
  const RECENT_ROWS = 8;          // "Panggilan terakhir" rows
  const RETRY_MS = 5000;          // new EventSource after the browser gave up on one
  const FETCH_TIMEOUT_MS = 5000;

  // The board's languages (the first is the default); every text below has its words in
  // each of them, in this order.
  const LANGS = ["id", "en"];
  const LOCALES = { id: "id-ID", en: "en-GB" };  // dates and times
  // Voice languages: "in" and "ind" are older/ISO-639-2 codes for Indonesian (old Android).
  const VOICE_LANGS = { id: ["id", "in", "ind"], en: ["en", "eng"] };
  const PREFERRED_VOICE = { id: "id-id", en: "en-gb" };
  const TEXT = {
    mall: ["Mal Pelayanan Publik", "Public Service Mall"],
    title: ["Layar Panggilan", "Call display"],
    ticket: ["Nomor Antrean", "Ticket number"],
    counter: ["Loket", "Counter"],
    recent: ["Panggilan terakhir", "Recent calls"],
    recall: ["Panggilan ulang", "Second call"],
    recallShort: ["ulang", "again"],
    waiting: ["Menunggu panggilan…", "Waiting for the next call…"],
    enableSound: ["Klik untuk mengaktifkan suara", "Click to enable sound"],
    pending: [
      (n) => `${n} panggilan berikutnya`,
      (n) => (n === 1 ? "1 more call waiting" : `${n} more calls waiting`),
    ],
  };
  // The connection's states, as the status line shows them (its data-state).
  const STATUS_TEXT = {
    connecting: ["Menyambung…", "Connecting…"],
    open: ["Terhubung", "Connected"],
    reconnecting: ["Menyambung ulang…", "Reconnecting…"],
  };

  // -- Site and language: filled in by the server, else taken from the URL --------------
  const body = document.body;
  const unfilled = (v) => !v || /^\{\{.*\}\}$/.test(v);
  const SITE = unfilled(body.dataset.site)
    ? decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "")
    : body.dataset.site;
  let lang = body.dataset.lang;
  if (!LANGS.includes(lang)) lang = new URLSearchParams(location.search).get("lang");
  const LANG = LANGS.includes(lang) ? lang : LANGS[0];
  const inLang = (texts) => Object.fromEntries(
    Object.entries(texts).map(([key, words]) => [key, words[LANGS.indexOf(LANG)]]));
  const T = inLang({ ...TEXT, ...STATUS_TEXT });
  const LOCALE = LOCALES[LANG];
  const API = `/api/notify/display/${encodeURIComponent(SITE)}`;

  const $ = (id) => document.getElementById(id);
  const el = {
    current: $("current"), ticket: $("current-ticket"), counter: $("current-counter"),
    agency: $("current-agency"), service: $("current-service"), spoken: $("spoken"),
    recall: $("recall-badge"), recent: $("recent-list"), pending: $("pending"),
    status: $("status"), statusText: $("status-text"), gate: $("sound-gate"),
    button: $("sound-button"), time: $("clock-time"), date: $("clock-date"),
  };

  document.documentElement.lang = LANG;
  document.title = `${T.title} – MPP ${SITE}`;
  $("site-code").textContent = `MPP ${SITE}`;
  document.querySelectorAll("[data-i18n]").forEach((node) => {
    node.textContent = T[node.dataset.i18n];
  });

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- State ------------------------------------------------------------------------------
  const queue = [];        // announcements waiting for their turn
  const announced = [];    // seqs, in the order they were shown as current
  const seen = new Set();  // "seq|at" of everything queued or shown: no call twice
  let history = [];        // calls shown before the current one, newest first
  let current = null;
  let floor = null;        // newest call known at load: it and older ones are not announced
  let ready = false;       // /recent answered (or failed); events before that wait in `early`
  const early = [];
  let running = false;

  const key = (a) => `${a.seq}|${a.at}`;
  const valid = (a) => a && typeof a.seq === "number" && typeof a.ticket_number === "string";
  // Old = at or before the load-time floor. The time check keeps a board working if the
  // server's sequence ever restarts (a lower seq, but a newer call).
  const isOld = (a) => floor !== null && a.seq <= floor.seq && !(Date.parse(a.at) > Date.parse(floor.at));

  // The counter's number like services/notify/speech.py: first integer of the name, else
  // the trailing integer of the code ("BWI-L05" -> 5); else the name as it is.
  function counterLabel(a) {
    const inName = /[0-9]+/.exec(a.counter_name || "");
    const inCode = /[0-9]+$/.exec((a.counter || "").trim());
    const found = inName || inCode;
    return found ? `${T.counter} ${parseInt(found[0], 10)}` : (a.counter_name || a.counter || "");
  }
  const spokenText = (a) => (a.text && a.text[LANG]) || "";

  // -- Rendering ----------------------------------------------------------------------------
  function renderCurrent() {
    const a = current;
    el.ticket.textContent = a ? a.ticket_number : "–";
    el.counter.textContent = a ? counterLabel(a) : "";
    el.counter.classList.toggle("long", el.counter.textContent.length > 12);  // a name, not "Loket 5"
    el.agency.textContent = a ? (a.agency_name || a.agency || "") : T.waiting;
    el.service.textContent = a ? (a.service_name || a.service || "") : "";
    el.recall.hidden = !(a && a.kind === "recall");
    el.spoken.textContent = a ? spokenText(a) : "";
  }

  function renderHistory() {
    el.recent.textContent = "";
    history.forEach((a) => {
      const li = document.createElement("li");
      const ticket = document.createElement("span");
      ticket.className = "r-ticket";
      ticket.textContent = a.ticket_number;
      const counter = document.createElement("span");
      counter.className = "r-counter";
      counter.textContent = counterLabel(a);
      if (a.kind === "recall") {
        const tag = document.createElement("span");
        tag.className = "r-recall";
        tag.textContent = ` (${T.recallShort})`;
        counter.appendChild(tag);
      }
      li.append(ticket, counter);
      el.recent.appendChild(li);
    });
  }

  function renderPending() {
    el.pending.hidden = queue.length === 0;
    el.pending.textContent = queue.length ? T.pending(queue.length) : "";
  }

  function show(a, live) {
    if (current) history = [current].concat(history).slice(0, RECENT_ROWS);
    current = a;
    if (live) announced.push(a.seq);
    renderCurrent();
    renderHistory();
    renderPending();
    if (live) {  // restart the highlight animation
      el.current.classList.remove("flash");
      void el.current.offsetWidth;
      el.current.classList.add("flash");
    }
  }

  // -- Sound: chime and voice ------------------------------------------------------------
  const synth = window.speechSynthesis || null;
  const sound = { on: false, ctx: null };
  let voice = null;
  let utterance = null;  // kept referenced: Chrome may collect one mid-speech, never firing "end"

  function pickVoice() {
    if (!synth) return null;
    const wanted = VOICE_LANGS[LANG];
    const norm = (v) => (v.lang || "").toLowerCase().replace("_", "-");
    const score = (v) => (v.localService ? 4 : 0) + (norm(v) === PREFERRED_VOICE[LANG] ? 2 : 0) + (v.default ? 1 : 0);
    const voices = synth.getVoices().filter((v) => wanted.some((w) => norm(v) === w || norm(v).startsWith(`${w}-`)));
    voices.sort((x, y) => score(y) - score(x));  // local (offline) voices first
    return voices[0] || null;
  }
  if (synth) {
    voice = pickVoice();
    synth.addEventListener("voiceschanged", () => { voice = pickVoice(); });
  }

  function audioContext() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!sound.ctx && Ctx) sound.ctx = new Ctx();
    return sound.ctx;
  }

  // "Ding-dong": two short sine tones, A5 then E5, with soft attack and decay.
  function chime() {
    const ctx = sound.ctx;
    if (!ctx) return Promise.resolve();
    if (ctx.state !== "running") { ctx.resume().catch(() => {}); return Promise.resolve(); }
    const t0 = ctx.currentTime + 0.05;
    [[880, 0], [659.25, 0.45]].forEach(([freq, offset]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const start = t0 + offset;
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.4, start + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.6);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.65);
    });
    return sleep(1200);
  }

  // Resolves true once the sentence was (at least partly) spoken, false if it never was.
  function speak(text, v) {
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      let started = false;
      let done = false;
      const finish = (ok) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (utterance === u) utterance = null;
        resolve(ok);
      };
      u.voice = v;
      u.lang = v.lang;
      u.rate = 0.9;
      u.onstart = () => { started = true; };
      u.onend = () => finish(true);
      u.onerror = () => finish(started);
      const timer = setTimeout(() => { synth.cancel(); finish(started); },
        Math.max(SPEAK_TIMEOUT_MS, text.length * 110));
      utterance = u;
      if (synth.speaking || synth.pending) synth.cancel();  // nothing stuck may block this one
      synth.speak(u);
    });
  }

  async function announce(a) {
    const began = Date.now();
    const text = spokenText(a);
    if (sound.on && !voice) voice = pickVoice();
    const v = sound.on && text ? voice : null;
    el.spoken.classList.toggle("prominent", !v);
    if (sound.on) await chime();
    if (v && await speak(text, v)) return;
    el.spoken.classList.add("prominent");
    await sleep(Math.max(HOLD_MS - (Date.now() - began), 1000));  // ~HOLD_MS on screen in all
  }

  // One at a time, in order; a call arriving meanwhile waits in `queue`.
  async function run() {
    if (running) return;
    running = true;
    try {
      while (queue.length) {
        const a = queue.shift();
        show(a, true);
        await announce(a);
        if (queue.length) await sleep(GAP_MS);
      }
    } finally {
      running = false;
    }
  }

  function accept(a) {
    if (!valid(a)) return;
    if (!ready) { early.push(a); return; }
    if (seen.has(key(a)) || isOld(a)) return;
    seen.add(key(a));
    queue.push(a);
    queue.sort((x, y) => x.seq - y.seq);
    renderPending();
    run();
  }

  // Browsers keep audio off until a gesture: one click (or key) anywhere enables it.
  function enableSound() {
    const ctx = audioContext();
    if (ctx && ctx.state !== "running") ctx.resume().catch(() => {});
    if (synth) voice = pickVoice();
    sound.on = true;
    el.gate.hidden = true;
    document.removeEventListener("pointerdown", enableSound);
    document.removeEventListener("keydown", enableSound);
  }
  el.button.addEventListener("click", enableSound);
  document.addEventListener("pointerdown", enableSound);
  document.addEventListener("keydown", enableSound);
  // A kiosk browser started with autoplay allowed needs no click at all.
  try {
    if (audioContext() && sound.ctx.state === "running") enableSound();
  } catch (err) { /* no Web Audio: voice only */ }

  // -- Server: recent calls, then the live stream ------------------------------------------
  async function fetchRecent() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(`${API}/recent?limit=10`, { cache: "no-store", signal: abort.signal });
      if (!response.ok) return null;
      const data = await response.json();
      return Array.isArray(data.items) ? data.items.filter(valid) : null;
    } catch (err) {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  function setStatus(state) {
    el.status.dataset.state = state;
    el.statusText.textContent = T[state];
  }

  let disconnected = false;
  function connect() {
    // The browser resends Last-Event-ID on its own reconnects, and the server resumes after it.
    const source = new EventSource(`${API}/stream`);
    source.addEventListener("open", () => {
      setStatus("open");
      if (disconnected) { disconnected = false; fillGap(); }
    });
    source.addEventListener("announcement", (event) => {
      try { accept(JSON.parse(event.data)); } catch (err) { /* a malformed message is skipped */ }
    });
    source.addEventListener("error", () => {
      disconnected = true;
      setStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {  // the browser gave up (e.g. HTTP 502)
        source.close();
        setTimeout(connect, RETRY_MS);
      }
    });
  }

  // After an outage, /recent catches what a fresh stream (without Last-Event-ID) would miss.
  async function fillGap() {
    const items = await fetchRecent();
    if (items) items.slice().reverse().forEach(accept);  // oldest first
  }

  async function start() {
    connect();
    const items = (await fetchRecent()) || [];  // newest first
    items.forEach((a) => seen.add(key(a)));
    if (items.length) {
      // The last call is shown (not announced again), the ones before it fill the list.
      floor = items.reduce((max, a) => (a.seq > max.seq ? a : max), items[0]);
      history = items.slice(1, RECENT_ROWS + 1);
      current = items[0];
    }
    renderCurrent();
    renderHistory();
    ready = true;
    early.splice(0).forEach(accept);
  }

  // -- Clock (the browser's local time) ------------------------------------------------------
  const timeFormat = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit" });
  const dateFormat = new Intl.DateTimeFormat(LOCALE,
    { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  function tick() {
    const now = new Date();
    el.time.textContent = timeFormat.format(now);
    el.time.dateTime = now.toISOString();
    el.date.textContent = dateFormat.format(now);
  }
  tick();
  setInterval(tick, 1000);

  window.antreDisplay = {
    queued: () => queue.length,
    announced: () => announced.slice(),
    current: () => (current ? JSON.parse(JSON.stringify(current)) : null),
  };

  start();
}());
