/* Antre counter console (konsol loket): plain ES2019, no framework, no build step, no
 * external request. The operator logs in (catalog), picks one of their counters, and
 * works the queue (queue service): call next, recall, start, complete, no-show, transfer,
 * pause, open, close. The state is read again every REFRESH_MS and after every action.
 *
 * The token lives in sessionStorage only (gone with the tab) and goes out as a bearer
 * header; a 401 from any call ends the session and shows the login form again.
 */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var FETCH_TIMEOUT_MS = 10000;
  var WAITING_LIMIT = 50;
  var STORE_SESSION = "antre.counter.session";
  var STORE_COUNTER = "antre.counter.selected";

  var PRIORITY = {
    disability: "Disabilitas", elderly: "Lansia", pregnant: "Ibu hamil", child: "Anak",
    disaster_victim: "Korban bencana",
  };
  var STATUS = {
    waiting: "Menunggu", called: "Dipanggil", serving: "Sedang dilayani",
    completed: "Selesai", no_show: "Tidak hadir", cancelled: "Dibatalkan",
    transferred: "Dialihkan",
  };
  var COUNTER_STATE = { open: "Buka", paused: "Jeda", closed: "Tutup" };
  var CHANNEL = { kiosk: "anjungan", web: "daring", appointment: "janji temu", api: "sistem",
    transfer: "pengalihan" };
  // The console's buttons, drawn into the page's two groups of them. A button's action is
  // its data-action and data-testid (id "btn-<action>"); look: its classes after cc-btn;
  // key: its keyboard shortcut; dialog: it asks in a dialog first.
  var BUTTONS = {
    "ticket-actions": [
      { action: "call-next", label: "Panggil Berikutnya", look: "primary cc-btn-action cc-wide", key: "N" },
      { action: "recall", label: "Panggil Ulang", look: "secondary cc-btn-action", key: "U" },
      { action: "no-show", label: "Tidak Hadir", look: "warning cc-btn-action", key: "T" },
      { action: "start", label: "Mulai Layani", look: "success cc-btn-action", key: "M" },
      { action: "complete", label: "Selesai", look: "success cc-btn-action", key: "S" },
      { action: "transfer", label: "Alihkan…", look: "secondary cc-btn-action cc-span", dialog: true },
    ],
    "counter-actions": [
      { action: "open", label: "Buka Loket", look: "secondary" },
      { action: "pause", label: "Jeda…", look: "secondary", dialog: true },
      { action: "close", label: "Tutup Loket…", look: "danger-outline", dialog: true },
    ],
  };

  // -- Configuration from the server (placeholders left unfilled count as empty) ----------
  var body = document.body;
  function filled(value) {
    return value && !/^\{\{.*\}\}$/.test(value) ? value : "";
  }
  function base(value) {
    return filled(value).replace(/\/+$/, "");
  }
  var SITE = filled(body.dataset.site);
  var CATALOG = base(body.dataset.catalogUrl);
  var QUEUE = base(body.dataset.queueUrl);

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    siteLabel: $("site-label"), sessionBar: $("session-bar"), operatorName: $("operator-name"),
    operatorAgency: $("operator-agency"), counterSelect: $("counter-select"), logout: $("logout"),
    message: $("message"), main: $("cc-main"),
    loginView: $("login-view"), loginForm: $("login-form"), username: $("username"),
    password: $("password"), loginButton: $("login-button"),
    consoleView: $("console-view"), currentPanel: $("current-panel"),
    counterTitle: $("counter-title"), counterState: $("counter-state"),
    counterStateText: $("counter-state-text"), counterServices: $("counter-services"),
    ticket: $("current-ticket"), ticketEmpty: $("current-empty"), facts: $("current-facts"),
    status: $("current-status"), service: $("current-service"), recalls: $("current-recalls"),
    called: $("current-called"), priorityRow: $("current-priority-row"),
    priority: $("current-priority"), originRow: $("current-origin-row"), origin: $("current-origin"),
    actionHint: $("action-hint"), waitingList: $("waiting-list"), waitingTotal: $("waiting-total"),
    updatedAt: $("updated-at"), pauseOther: $("pause-other"), transferIntro: $("transfer-intro"),
    transferService: $("transfer-service"), closeText: $("close-text"),
  };
  // The dialogs, by the action they ask about; the page names their parts
  // <action>-dialog, -form, -error (where there is one) and -submit.
  var forms = {};
  ["pause", "transfer", "close"].forEach(function (action) {
    forms[action] = { dialog: $(action + "-dialog"), form: $(action + "-form"),
      error: $(action + "-error"), submit: $(action + "-submit") };
  });
  var buttons = {};   // action -> its button
  var LABEL = {};     // action -> its label, for messages
  var SHORTCUTS = {}; // key (lower case) -> action
  Object.keys(BUTTONS).forEach(function (group) {
    BUTTONS[group].forEach(function (spec) {
      var button = make("button", "cc-btn cc-btn-" + spec.look);
      button.type = "button";
      button.id = "btn-" + spec.action;
      button.dataset.testid = spec.action;
      button.dataset.action = spec.action;
      button.disabled = true;
      button.appendChild(make("span", "cc-btn-label", spec.label));
      if (spec.key) {
        button.setAttribute("aria-keyshortcuts", spec.key);
        button.appendChild(make("kbd", null, spec.key)).setAttribute("aria-hidden", "true");
        SHORTCUTS[spec.key.toLowerCase()] = spec.action;
      }
      if (spec.dialog) button.setAttribute("aria-haspopup", "dialog");
      $(group).appendChild(button);
      buttons[spec.action] = button;
      LABEL[spec.action] = spec.label.replace("…", "").trim();
    });
  });

  // -- State ------------------------------------------------------------------------------
  var session = null;      // {token, username, role, agency, counters, name, expiresAt}
  var counterCode = null;  // the counter being worked
  var counterRecords = {}; // code -> catalog record (name, services, site)
  var services = {};       // service code -> catalog record, for the counter's site
  var servicesSite = null;
  var agencyNames = {};    // agency code -> name
  var timeZone = null;     // the site's, for clock times
  var status = null;       // the last GET /api/queue/counters/<code>
  var waiting = null;      // {items, total, error} in call order, or null before the first read
  var busy = false;        // an action is under way: buttons stay disabled
  var recallsNeeded = null; // recalls before a no-show, once the queue has said (409)
  var epoch = 0;           // bumped by every action, logout and counter switch
  var refreshTimer = null;
  var expiryTimer = null;

  // -- Messages -------------------------------------------------------------------------
  function say(text, kind) {
    el.message.dataset.kind = kind || "info";
    // Set even when equal, so a repeated message is read out again.
    el.message.textContent = "";
    el.message.textContent = text || "";
  }
  function sayError(error) {
    say(describe(error), "error");
  }
  function describe(error) {
    if (!error) return "Terjadi kesalahan.";
    var text = error.message || "Terjadi kesalahan.";
    var fields = error.body && error.body.fields;
    if (fields && typeof fields === "object") {
      var details = Object.keys(fields).map(function (name) {
        var value = fields[name];
        return (Array.isArray(value) ? value.join(" ") : String(value));
      }).filter(Boolean);
      if (details.length) text += " " + details.join(" ");
    }
    return text;
  }

  // -- HTTP -----------------------------------------------------------------------------
  function ApiError(status, code, message, data) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.body = data;
  }

  function request(url, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    var init = { method: options.method || "GET", headers: headers, cache: "no-store",
      credentials: "omit", referrerPolicy: "no-referrer" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (options.auth && session) headers.Authorization = "Bearer " + session.token;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = null;
    if (controller) {
      init.signal = controller.signal;
      timer = setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS);
    }
    var sentWith = session;
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.ok) return data;
        var message = data && data.message ? data.message
          : "Permintaan gagal (HTTP " + response.status + ").";
        var error = new ApiError(response.status, data && data.error, message, data);
        if (response.status === 401 && options.auth && sentWith && sentWith === session) {
          sessionExpired();
        }
        throw error;
      });
    }, function () {
      throw new ApiError(0, "network",
        "Tidak dapat terhubung ke server. Periksa jaringan, lalu coba lagi.", null);
    }).then(function (data) {
      clearTimeout(timer);
      return data;
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  function enc(value) { return encodeURIComponent(value); }
  function catalog(path) { return request(CATALOG + "/api/catalog" + path); }
  function queue(path, method, payload) {
    return request(QUEUE + "/api/queue" + path,
      { method: method || "GET", body: payload, auth: true });
  }

  // -- Formatting -------------------------------------------------------------------------
  function clock(iso) {
    if (!iso) return "";
    var moment = new Date(iso);
    if (isNaN(moment.getTime())) return "";
    var options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (timeZone) options.timeZone = timeZone;
    try {
      return moment.toLocaleTimeString("id-ID", options);
    } catch (e) {
      delete options.timeZone;
      return moment.toLocaleTimeString("id-ID", options);
    }
  }
  function minutesSince(iso) {
    var moment = new Date(iso);
    if (!iso || isNaN(moment.getTime())) return null;
    return Math.max(0, Math.floor((Date.now() - moment.getTime()) / 60000));
  }
  function duration(minutes) {
    if (minutes === null) return "";
    if (minutes < 1) return "< 1 mnt";
    if (minutes < 60) return minutes + " mnt";
    var hours = Math.floor(minutes / 60);
    return hours + " j " + (minutes % 60) + " mnt";
  }
  function serviceName(code) {
    var record = services[code];
    return record ? record.name : code;
  }
  function counterName(code) {
    var record = counterRecords[code];
    return record && record.name ? record.name : code;
  }
  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // -- Session ----------------------------------------------------------------------------
  function saveSession() {
    try {
      sessionStorage.setItem(STORE_SESSION, JSON.stringify(session));
    } catch (e) { /* private mode: the session lasts as long as the page */ }
  }
  function loadSession() {
    try {
      var stored = JSON.parse(sessionStorage.getItem(STORE_SESSION) || "null");
      if (stored && stored.token && stored.expiresAt > Date.now()) return stored;
    } catch (e) { /* unreadable: log in again */ }
    forgetSession();
    return null;
  }
  function forgetSession() {
    try {
      sessionStorage.removeItem(STORE_SESSION);
      sessionStorage.removeItem(STORE_COUNTER);
    } catch (e) { /* nothing stored */ }
  }

  function login(event) {
    event.preventDefault();
    var username = el.username.value.trim();
    var password = el.password.value;
    if (!username || !password) {
      say("Isi nama pengguna dan kata sandi.", "error");
      (username ? el.password : el.username).focus();
      return;
    }
    el.loginButton.disabled = true;
    say("Memeriksa akun…", "info");
    request(CATALOG + "/api/catalog/auth/login", {
      method: "POST", body: { username: username, password: password },
    }).then(function (answer) {
      if (answer.role !== "operator" && answer.role !== "admin") {
        throw new ApiError(403, "forbidden",
          "Konsol loket hanya untuk akun operator loket.", null);
      }
      session = {
        token: answer.token, username: answer.username, role: answer.role,
        agency: answer.agency || null, counters: answer.counters || [], name: answer.name || "",
        expiresAt: Date.now() + Math.max(60, Number(answer.expires_in) || 3600) * 1000,
      };
      saveSession();
      el.password.value = "";
      say("Selamat bertugas, " + (session.name || session.username) + ".", "success");
      return startConsole(true);
    }).catch(function (error) {
      session = null;
      el.password.value = "";
      if (error.status === 401) {
        say(error.message || "Nama pengguna atau kata sandi salah.", "error");
      } else {
        sayError(error);
      }
      el.password.focus();
    }).then(function () {
      el.loginButton.disabled = false;
    });
  }

  function endSession(message, kind) {
    epoch += 1;
    session = null;
    status = null;
    waiting = null;
    counterCode = null;
    clearTimeout(refreshTimer);
    clearTimeout(expiryTimer);
    refreshTimer = null;
    closeDialogs();
    forgetSession();
    showLogin();
    say(message, kind);
  }
  function sessionExpired() {
    endSession("Sesi berakhir, silakan masuk lagi.", "error");
  }
  function logout() {
    endSession("Anda telah keluar.", "info");
  }

  function showLogin() {
    body.dataset.view = "login";
    el.consoleView.hidden = true;
    el.sessionBar.hidden = true;
    el.loginView.hidden = false;
    document.title = "Konsol Loket – Antre";
    el.username.focus();
  }

  // -- Start: counters, names, services ---------------------------------------------------
  function startConsole(justLoggedIn) {
    var sessionNow = session;
    var remaining = session.expiresAt - Date.now();
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(function () {
      if (session === sessionNow) sessionExpired();
    }, Math.min(Math.max(remaining, 0), 2147483647));

    el.operatorName.textContent = session.name
      ? session.name + " (" + session.username + ")" : session.username;
    el.operatorAgency.textContent = session.agency || (session.role === "admin" ? "Admin" : "");
    if (session.agency) {
      loadAgencyName(session.agency).then(function (name) {
        if (session === sessionNow && name) el.operatorAgency.textContent = name;
      });
    }

    return listCounters().then(function (codes) {
      if (session !== sessionNow) return;
      if (!codes.length) {
        endSession(session.role === "admin"
          ? "Tidak ada loket aktif di MPP " + SITE + "."
          : "Akun ini belum ditugaskan ke loket mana pun; hubungi admin instansi.", "error");
        return;
      }
      var stored = null;
      try { stored = sessionStorage.getItem(STORE_COUNTER); } catch (e) { stored = null; }
      fillCounterSelect(codes);
      var chosen = codes.indexOf(stored) >= 0 ? stored : codes[0];
      body.dataset.view = "console";
      el.loginView.hidden = true;
      el.consoleView.hidden = false;
      el.sessionBar.hidden = false;
      // Counter names come later; the select shows codes until then.
      codes.forEach(function (code) {
        loadCounterRecord(code).then(function () {
          if (session === sessionNow) fillCounterSelect(codes);
        }, function () { /* the code stays as its label */ });
      });
      selectCounter(chosen, justLoggedIn);
    });
  }

  function listCounters() {
    if (session.role === "admin" && !session.counters.length) {
      var site = SITE ? "&site=" + enc(SITE) : "";
      return catalog("/counters?active=true&limit=500" + site).then(function (answer) {
        return answer.items.map(function (item) {
          counterRecords[item.code] = item;
          return item.code;
        });
      }).catch(function (error) {
        sayError(error);
        return [];
      });
    }
    return Promise.resolve(session.counters.slice());
  }

  function fillCounterSelect(codes) {
    var select = el.counterSelect;
    var current = counterCode || select.value;
    select.textContent = "";
    codes.forEach(function (code) {
      var option = make("option", null, counterName(code) === code
        ? code : counterName(code) + " (" + code + ")");
      option.value = code;
      select.appendChild(option);
    });
    if (current && codes.indexOf(current) >= 0) select.value = current;
    select.disabled = codes.length < 2;
    select.title = codes.length < 2 ? "Akun ini hanya bertugas di satu loket." : "";
  }

  function loadCounterRecord(code) {
    if (counterRecords[code] && counterRecords[code].services) {
      return Promise.resolve(counterRecords[code]);
    }
    return catalog("/counters/" + enc(code)).then(function (record) {
      counterRecords[code] = record;
      return record;
    });
  }

  function loadAgencyName(code) {
    if (agencyNames[code]) return Promise.resolve(agencyNames[code]);
    return catalog("/agencies/" + enc(code)).then(function (record) {
      agencyNames[code] = record.name;
      return record.name;
    }, function () { return null; });
  }

  function loadAgencyNames() {
    return catalog("/agencies?limit=500").then(function (answer) {
      answer.items.forEach(function (item) { agencyNames[item.code] = item.name; });
    }, function () { /* codes stay as labels */ });
  }

  function loadServices(site) {
    if (!site || servicesSite === site) return Promise.resolve(services);
    return catalog("/services?site=" + enc(site) + "&active=true&limit=500")
      .then(function (answer) {
        services = {};
        answer.items.forEach(function (item) { services[item.code] = item; });
        servicesSite = site;
        loadAgencyNames();
        return services;
      }, function () { return services; });
  }

  function loadSite(site) {
    if (!site) return Promise.resolve(null);
    return catalog("/sites/" + enc(site)).then(function (record) {
      timeZone = record.timezone || null;
      el.siteLabel.textContent = record.name || "MPP " + site;
      return record;
    }, function () {
      el.siteLabel.textContent = "MPP " + site;
      return null;
    });
  }

  function selectCounter(code, focusConsole) {
    epoch += 1;
    counterCode = code;
    status = null;
    waiting = null;
    el.counterSelect.value = code;
    try { sessionStorage.setItem(STORE_COUNTER, code); } catch (e) { /* not kept */ }
    render();
    var sessionNow = session;
    loadCounterRecord(code).then(function (record) {
      var site = record.site || SITE;
      return Promise.all([loadServices(site), timeZone ? null : loadSite(site)]);
    }, function (error) {
      if (error.status === 404) say("Loket " + code + " tidak ada di katalog.", "error");
      return Promise.all([loadServices(SITE), timeZone ? null : loadSite(SITE)]);
    }).then(function () {
      if (session !== sessionNow || counterCode !== code) return null;
      render();
      return refresh();
    }).then(function () {
      if (focusConsole && session === sessionNow) focusBestAction(true);
    });
  }

  // -- Reading the state -------------------------------------------------------------------
  function schedule() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      if (busy) schedule(); // the action reads the state itself when it is done
      else refresh();
    }, REFRESH_MS);
  }

  function refresh() {
    if (!session || !counterCode) return Promise.resolve();
    var mine = epoch;
    var code = counterCode;
    clearTimeout(refreshTimer);
    return queue("/counters/" + enc(code)).then(function (state) {
      if (mine !== epoch) return null;
      // The waiting tickets in the order call-next will call them (the priority rule).
      return queue("/counters/" + enc(code) + "/waiting?limit=" + WAITING_LIMIT)
        .then(function (answer) {
          return { items: answer.items, total: answer.total };
        }, function (error) {
          if (error.status === 401) throw error;
          return { items: [], total: 0, error: describe(error) };
        })
        .then(function (order) {
          if (mine !== epoch) return;
          status = state;
          waiting = order;
          el.updatedAt.textContent = "Diperbarui pukul " + clock(new Date().toISOString()) + ".";
          if (el.message.dataset.kind === "stale") say("", "info");
          render();
        });
    }).catch(function (error) {
      if (mine !== epoch || error.status === 401) return;
      if (error.status === 0) {
        say("Koneksi terputus; mencoba lagi setiap " + REFRESH_MS / 1000 + " detik…", "stale");
      } else {
        sayError(error);
      }
    }).then(function () {
      if (mine === epoch && session) schedule();
    });
  }

  // -- Drawing -----------------------------------------------------------------------------
  function allowed() {
    var state = status ? status.state : null;
    var ticket = status ? status.ticket : null;
    var called = !!ticket && ticket.status === "called";
    var serving = !!ticket && ticket.status === "serving";
    return {
      "call-next": state === "open" && !ticket,
      recall: called,
      start: called,
      "no-show": called,
      complete: serving,
      transfer: serving,
      open: state === "closed" || state === "paused",
      pause: state === "open",
      close: (state === "open" || state === "paused") && !serving,
    };
  }

  function render() {
    var ticket = status ? status.ticket : null;
    var state = status ? status.state : "unknown";
    var record = counterRecords[counterCode] || {};

    el.counterTitle.textContent = counterCode
      ? (record.name ? record.name + " · " + counterCode : "Loket " + counterCode) : "Loket";
    el.counterState.dataset.state = status ? state : "unknown";
    var stateText = status ? "Loket " + COUNTER_STATE[state].toLowerCase() : "Memuat…";
    if (status && state === "paused" && status.reason) stateText = "Jeda: " + status.reason;
    if (status && status.since && state !== "closed") stateText += " · sejak " + clock(status.since);
    el.counterStateText.textContent = stateText;
    var serviceCodes = status && status.services && status.services.length
      ? status.services : (record.services || []);
    el.counterServices.textContent = serviceCodes.length
      ? "Layanan: " + serviceCodes.map(serviceName).join(", ") : "";

    // The current ticket
    el.currentPanel.dataset.status = ticket ? ticket.status : "none";
    el.ticket.textContent = ticket ? ticket.ticket_number : "";
    el.ticketEmpty.hidden = !!ticket;
    el.ticketEmpty.textContent = !status ? "Memuat…"
      : state === "open" ? "Belum ada nomor yang dipanggil. Tekan Panggil Berikutnya (N)."
        : state === "paused" ? "Loket sedang jeda." : "Loket tutup. Buka loket untuk mulai melayani.";
    el.facts.hidden = !ticket;
    if (ticket) {
      el.status.textContent = STATUS[ticket.status] || ticket.status;
      el.service.textContent = serviceName(ticket.service);
      var recalls = ticket.recalls || 0;
      el.recalls.textContent = recalls ? recalls + " kali" : "belum";
      el.called.textContent = ticket.status === "serving" && ticket.serving_at
        ? clock(ticket.called_at) + " · dilayani sejak " + clock(ticket.serving_at)
        : clock(ticket.called_at) + (ticket.called_at
          ? " (" + duration(minutesSince(ticket.called_at)) + " lalu)" : "");
      el.priorityRow.hidden = !ticket.priority;
      el.priority.textContent = ticket.priority ? PRIORITY[ticket.priority] || ticket.priority : "";
      el.originRow.hidden = ticket.channel !== "transfer" && !ticket.appointment;
      el.origin.textContent = ticket.channel === "transfer" ? "Pengalihan dari layanan lain"
        : ticket.appointment ? "Janji temu pukul " + clock(ticket.appointment.slot_start) : "";
    }
    document.title = (counterCode ? counterCode + (ticket ? " · " + ticket.ticket_number : "")
      + " – " : "") + "Konsol Loket – Antre";

    // Buttons
    var can = allowed();
    Object.keys(buttons).forEach(function (action) {
      buttons[action].disabled = busy || !can[action];
    });
    el.actionHint.textContent = hint(state, ticket);

    renderWaiting();
  }

  function hint(state, ticket) {
    if (!status) return "";
    if (ticket && ticket.status === "serving") {
      return "Selesaikan atau alihkan " + ticket.ticket_number
        + " sebelum memanggil nomor berikutnya atau menutup loket.";
    }
    if (ticket && ticket.status === "called") {
      var recalls = ticket.recalls || 0;
      if (recallsNeeded !== null) {
        return recalls >= recallsNeeded
          ? "Warga tidak datang setelah " + recalls + " kali panggilan ulang: Tidak Hadir dapat dipakai."
          : "Tidak Hadir dapat dipakai setelah " + recallsNeeded + " kali panggilan ulang (sudah "
            + recalls + " kali).";
      }
      return "Jika warga tidak datang, panggil ulang dulu; Tidak Hadir baru dapat dipakai setelah "
        + "beberapa kali panggilan ulang.";
    }
    if (state === "paused") return "Loket sedang jeda: pilih Buka Loket untuk memanggil lagi.";
    if (state === "closed") return "Buka loket untuk memanggil nomor antrean.";
    return "";
  }

  function renderWaiting() {
    var list = el.waitingList;
    list.textContent = "";
    if (!waiting) {
      list.setAttribute("aria-busy", "true");
      list.appendChild(make("p", "cc-empty", "Memuat antrean…"));
      el.waitingTotal.textContent = "";
      return;
    }
    list.setAttribute("aria-busy", "false");
    el.waitingTotal.textContent = (waiting.total || 0) + " menunggu";
    if (waiting.error) {
      list.appendChild(make("p", "cc-empty cc-error-text", waiting.error));
      return;
    }
    if (!waiting.items.length) {
      list.appendChild(make("p", "cc-empty", "Tidak ada yang menunggu."));
      return;
    }
    list.appendChild(make("p", "cc-hint cc-order-hint",
      "Urutan panggilan loket ini (prioritas didahulukan sesuai aturan)."));
    var ol = make("ol", "cc-queue");
    ol.setAttribute("data-testid", "call-order");
    waiting.items.forEach(function (item) {
      var li = make("li", "cc-queue-item");
      li.dataset.ticketNumber = item.ticket_number;
      li.appendChild(make("span", "cc-queue-number", item.ticket_number));
      var info = make("span", "cc-queue-info");
      info.appendChild(make("span", "cc-queue-service", serviceName(item.service)));
      info.appendChild(make("span", "cc-queue-since",
        "sejak " + clock(item.issued_at) + " · " + duration(minutesSince(item.issued_at))));
      if (item.appointment) {  // the slot's local time: it is called once that comes
        info.appendChild(make("span", "cc-queue-channel cc-queue-slot",
          "janji temu " + clock(item.appointment.slot_start)));
      } else if (item.channel && item.channel !== "kiosk" && CHANNEL[item.channel]) {
        info.appendChild(make("span", "cc-queue-channel", CHANNEL[item.channel]));
      }
      if (item.returned_at) {
        info.appendChild(make("span", "cc-queue-channel", "dikembalikan ke depan"));
      }
      li.appendChild(info);
      if (item.priority) {
        li.classList.add("cc-priority");
        li.appendChild(make("span", "cc-badge",
          "Prioritas: " + (PRIORITY[item.priority] || item.priority)));
      }
      ol.appendChild(li);
    });
    list.appendChild(ol);
    if (waiting.total > waiting.items.length) {
      list.appendChild(make("p", "cc-more",
        "dan " + (waiting.total - waiting.items.length) + " nomor lainnya"));
    }
  }

  // -- Actions -----------------------------------------------------------------------------
  function run(action, work, focusAfter) {
    if (busy || !session || !counterCode) return Promise.resolve();
    busy = true;
    epoch += 1;
    render();
    var sessionNow = session;
    var outcome = null; // {text, kind}, said once the new state is on screen
    return work().then(function (text) {
      if (text) outcome = { text: text, kind: "success" };
    }, function (error) {
      if (error.status === 401 || session !== sessionNow) return;
      if (error.body && typeof error.body.recalls_needed === "number") {
        recallsNeeded = error.body.recalls_needed;
      }
      outcome = { text: describe(error), kind: "error" };
    }).then(function () {
      if (session !== sessionNow) return null;
      epoch += 1; // a poll that started during the action may have read the old state
      return refresh();
    }).then(function () {
      busy = false;
      if (session !== sessionNow) return;
      render();
      if (outcome) say(outcome.text, outcome.kind);
      var active = document.activeElement;
      if (focusAfter || !active || active === body || active.disabled) focusBestAction(true);
    });
  }

  function focusBestAction(always) {
    if (isDialogOpen()) return;
    var active = document.activeElement;
    if (!always && active && active !== body && !active.disabled) return;
    var order = ["call-next", "start", "complete", "recall", "open"];
    for (var i = 0; i < order.length; i += 1) {
      if (!buttons[order[i]].disabled) {
        buttons[order[i]].focus();
        return;
      }
    }
  }

  function ticketPath(suffix) {
    return "/tickets/" + enc(status.ticket.ticket_id) + "/" + suffix;
  }

  function act(action) {
    var can = allowed();
    if (busy) return;
    if (!can[action]) {
      say("«" + LABEL[action] + "» tidak dapat dipakai saat ini.", "info");
      return;
    }
    var code = counterCode;
    var ticket = status && status.ticket;
    switch (action) {
      case "call-next":
        run(action, function () {
          return queue("/counters/" + enc(code) + "/call-next", "POST", {}).then(function (answer) {
            if (!answer.ticket) return answer.message || "Tidak ada antrean menunggu.";
            var priority = answer.ticket.priority
              ? " (Prioritas: " + (PRIORITY[answer.ticket.priority] || answer.ticket.priority) + ")" : "";
            return "Memanggil " + answer.ticket.ticket_number + priority + " ke " + counterName(code) + ".";
          });
        });
        break;
      case "recall":
        run(action, function () {
          return queue(ticketPath("recall"), "POST", { counter: code }).then(function (answer) {
            return answer.ticket_number + " dipanggil ulang (" + (answer.recalls || 0) + " kali).";
          });
        });
        break;
      case "start":
        run(action, function () {
          return queue(ticketPath("start"), "POST", { counter: code }).then(function (answer) {
            return "Mulai melayani " + answer.ticket_number + ".";
          });
        });
        break;
      case "complete":
        run(action, function () {
          return queue(ticketPath("complete"), "POST", { counter: code }).then(function (answer) {
            return answer.ticket_number + " selesai dilayani.";
          });
        });
        break;
      case "no-show":
        run(action, function () {
          return queue(ticketPath("no-show"), "POST", { counter: code }).then(function (answer) {
            return answer.ticket_number + " ditandai tidak hadir.";
          });
        });
        break;
      case "open":
        run(action, function () {
          var wasPaused = status && status.state === "paused";
          return queue("/counters/" + enc(code) + "/open", "POST", {}).then(function () {
            return (wasPaused ? "Loket dilanjutkan: " : "Loket dibuka: ") + counterName(code) + ".";
          });
        }, true);
        break;
      case "pause":
        openPauseDialog();
        break;
      case "close":
        openCloseDialog(ticket);
        break;
      case "transfer":
        openTransferDialog(ticket);
        break;
      default:
        break;
    }
  }

  // -- Dialogs -----------------------------------------------------------------------------
  var dialogs = Object.keys(forms).map(function (action) { return forms[action].dialog; });
  var returnFocus = null;

  function isDialogOpen() {
    return dialogs.some(function (dialog) { return dialog.open; });
  }
  function showDialog(dialog, focusTarget) {
    returnFocus = document.activeElement;
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    if (focusTarget) focusTarget.focus();
  }
  function hideDialog(dialog) {
    if (!dialog.open) return;
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  }
  function closeDialogs() {
    dialogs.forEach(hideDialog);
  }
  dialogs.forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      var target = returnFocus;
      returnFocus = null;
      if (target && target.focus && !target.disabled && document.body.contains(target)) {
        target.focus();
      } else if (session) {
        focusBestAction(true);
      }
    });
    Array.prototype.forEach.call(dialog.querySelectorAll("[data-close-dialog]"), function (b) {
      b.addEventListener("click", function () { hideDialog(dialog); });
    });
  });

  // A dialog's form, sent: prepare(code) gives the work for the counter (see run), or null
  // once refuse() has said what is missing; with work, the dialog closes and it runs.
  function submits(action, prepare) {
    var parts = forms[action];
    parts.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var work = prepare(counterCode);
      if (!work) return;
      parts.submit.disabled = true;
      hideDialog(parts.dialog);
      run(action, work, true);
    });
  }
  function refuse(action, field, text) {
    forms[action].error.textContent = text;
    field.focus();
    return null;
  }

  // Pause
  function openPauseDialog() {
    forms.pause.error.textContent = "";
    forms.pause.form.reset();
    forms.pause.submit.disabled = false;
    showDialog(forms.pause.dialog, forms.pause.form.querySelector("input[name=reason]:checked"));
  }
  el.pauseOther.addEventListener("input", function () {
    if (el.pauseOther.value.trim()) {
      forms.pause.form.querySelector("input[name=reason][value=other]").checked = true;
    }
  });
  forms.pause.form.addEventListener("change", function (event) {
    if (event.target.name === "reason" && event.target.value === "other") el.pauseOther.focus();
  });
  submits("pause", function (code) {
    var checked = forms.pause.form.querySelector("input[name=reason]:checked");
    var reason = checked ? checked.value : "";
    if (reason === "other") reason = el.pauseOther.value.trim();
    if (!reason) return refuse("pause", el.pauseOther, "Tulis alasan jeda.");
    return function () {
      return queue("/counters/" + enc(code) + "/pause", "POST", { reason: reason })
        .then(function () { return "Loket dijeda: " + reason + "."; });
    };
  });

  // Transfer
  function openTransferDialog(ticket) {
    if (!ticket) return;
    forms.transfer.error.textContent = "";
    forms.transfer.submit.disabled = false;
    el.transferIntro.textContent = "Alihkan " + ticket.ticket_number + " ("
      + serviceName(ticket.service) + ") ke layanan lain di MPP ini.";
    var select = el.transferService;
    select.textContent = "";
    var placeholder = make("option", null, "— Pilih layanan —");
    placeholder.value = "";
    select.appendChild(placeholder);
    var site = ticket.site || servicesSite;
    var byAgency = {};
    Object.keys(services).forEach(function (code) {
      var record = services[code];
      if (code === ticket.service || (site && record.site && record.site !== site)) return;
      (byAgency[record.agency] = byAgency[record.agency] || []).push(record);
    });
    var agencies = Object.keys(byAgency).sort(function (a, b) {
      if (a === ticket.agency) return -1;
      if (b === ticket.agency) return 1;
      return (agencyNames[a] || a).localeCompare(agencyNames[b] || b, "id");
    });
    agencies.forEach(function (agency) {
      var group = make("optgroup");
      group.label = agencyNames[agency] || agency;
      byAgency[agency].sort(function (a, b) { return a.name.localeCompare(b.name, "id"); })
        .forEach(function (record) {
          var option = make("option", null, record.name + " (" + record.ticket_prefix + ")");
          option.value = record.code;
          group.appendChild(option);
        });
      select.appendChild(group);
    });
    if (!agencies.length) {
      forms.transfer.error.textContent = "Tidak ada layanan lain yang aktif untuk tujuan pengalihan.";
      forms.transfer.submit.disabled = true;
    }
    showDialog(forms.transfer.dialog, select);
    // Agency names for the groups, if not known yet (shown next time the dialog opens).
    agencies.forEach(function (agency) { loadAgencyName(agency); });
  }
  submits("transfer", function (code) {
    var target = el.transferService.value;
    if (!target) return refuse("transfer", el.transferService, "Pilih layanan tujuan.");
    return function () {
      if (!status || !status.ticket) {
        return Promise.reject(new ApiError(409, "conflict", "Tidak ada nomor yang sedang dilayani.", null));
      }
      var number = status.ticket.ticket_number;
      return queue(ticketPath("transfer"), "POST", { counter: code, service: target })
        .then(function (leg) {
          return number + " dialihkan ke " + serviceName(target) + " dengan nomor baru "
            + leg.ticket_number + ".";
        });
    };
  });

  // Close
  function openCloseDialog(ticket) {
    var name = counterName(counterCode);
    el.closeText.textContent = ticket && ticket.status === "called"
      ? "Nomor " + ticket.ticket_number + " yang sudah dipanggil akan dikembalikan ke depan antrean."
      : "Loket " + name + " tidak akan menerima panggilan sampai dibuka lagi.";
    forms.close.submit.disabled = false;
    showDialog(forms.close.dialog, forms.close.form.querySelector("[data-close-dialog]"));
  }
  submits("close", function (code) {
    return function () {
      return queue("/counters/" + enc(code) + "/close", "POST", {}).then(function (answer) {
        var text = "Loket ditutup: " + counterName(code) + ".";
        if (answer.returned_ticket) text += " Nomor yang sudah dipanggil dikembalikan ke depan antrean.";
        return text;
      });
    };
  });

  // -- Events ------------------------------------------------------------------------------
  el.loginForm.addEventListener("submit", login);
  el.logout.addEventListener("click", logout);
  el.counterSelect.addEventListener("change", function () {
    var code = el.counterSelect.value;
    if (code && code !== counterCode) {
      say("Pindah ke " + counterName(code) + ".", "info");
      selectCounter(code, false);
    }
  });
  Object.keys(buttons).forEach(function (action) {
    buttons[action].addEventListener("click", function () { act(action); });
  });

  function typing(target) {
    if (!target || target === body) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (!session || el.consoleView.hidden || isDialogOpen() || typing(event.target)) return;
    var action = SHORTCUTS[(event.key || "").toLowerCase()];
    if (!action) return;
    event.preventDefault();
    act(action);
  });

  // Coming back to the tab: read the state at once.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && session && counterCode && !busy) refresh();
  });

  // -- Go -----------------------------------------------------------------------------------
  el.siteLabel.textContent = SITE ? "MPP " + SITE : "Mal Pelayanan Publik";
  session = loadSession();
  if (session) {
    say("Memuat konsol…", "info");
    startConsole(false).then(function () {
      if (el.message.textContent === "Memuat konsol…") say("", "info");
    });
  } else {
    showLogin();
  }
}());
