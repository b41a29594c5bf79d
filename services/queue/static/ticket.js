/*
 * Antre ticket status (/tiket/<ticket_id>#<secret>): the citizen's own ticket, live.
 *
 * The secret comes in the URL fragment (never sent to a server), is kept in
 * sessionStorage so a reload works, and goes to the API in the X-Ticket-Secret header
 * only. Polls every 5 s while the tab is visible; stops once the ticket has ended.
 */
(function () {
  "use strict";

  const POLL_MS = 5000;
  const MAX_BACKOFF_MS = 60000;
  const REQUEST_TIMEOUT_MS = 15000;

  const STATUS = {
    waiting: "Menunggu", called: "Dipanggil", serving: "Sedang dilayani", completed: "Selesai",
    no_show: "Tidak hadir", cancelled: "Dibatalkan", transferred: "Dialihkan",
  };
  const ACTIVE = ["waiting", "called", "serving"];
  const PRIORITY = {
    disability: "Penyandang disabilitas", elderly: "Lansia", pregnant: "Ibu hamil",
    child: "Anak", disaster_victim: "Korban bencana",
  };

  const { $, placeholder, baseUrl, setText, waitText, ApiError, callApi } = window.Antre;
  const body = document.body;
  const QUEUE = baseUrl(body.dataset.queueUrl);
  const CATALOG = baseUrl(body.dataset.catalogUrl);

  const state = {
    id: placeholder(body.dataset.ticketId), secret: "", ticket: null, timer: null,
    stopped: false, inFlight: false, failures: 0, transferredFrom: null,
    names: new Map(), // catalog lookups: "services/KTP-EL" -> record (or null)
  };

  // -- helpers -------------------------------------------------------------------------

  function reveal(node, visible) {
    if (node.hidden === visible) node.hidden = !visible;
  }

  function secretKey(id) {
    return "antre.ticketSecret." + id;
  }

  /** The secret from the fragment (stored for reloads), else from this tab's storage. */
  function readSecret(id) {
    let secret = location.hash.replace(/^#/, "").replace(/^secret=/, "");
    try {
      secret = decodeURIComponent(secret);
    } catch (e) {
      // keep it as it is
    }
    try {
      if (secret) sessionStorage.setItem(secretKey(id), secret);
      else secret = sessionStorage.getItem(secretKey(id)) || "";
    } catch (e) {
      // storage blocked: the fragment alone has to do
    }
    return secret;
  }

  // -- API -----------------------------------------------------------------------------

  /** A JSON API call; opts.secret sends the ticket's secret. */
  async function api(base, path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    if (opts.secret) headers["X-Ticket-Secret"] = state.secret;
    return callApi(base + path, {
      method: opts.method, json: opts.json, headers, timeout: REQUEST_TIMEOUT_MS,
      timeoutMessage: "Server antrean tidak menjawab.",
      offlineMessage: "Tidak dapat terhubung ke server antrean. Periksa sambungan internet Anda.",
    }, readAnswer);
  }

  async function readAnswer(response) {
    let answer = null;
    try {
      answer = await response.json();
    } catch (e) {
      answer = null;
    }
    if (response.ok && answer) return answer;
    throw new ApiError(answer && typeof answer.message === "string" && answer.message
      ? answer.message
      : "Terjadi gangguan pada server antrean (kode " + response.status + ").", response.status);
  }

  /** A catalog record by "kind/code", fetched once; null when the catalog cannot say. */
  async function catalogRecord(kind, code) {
    if (!code) return null;
    const key = kind + "/" + code;
    if (!state.names.has(key)) {
      state.names.set(key, api(CATALOG, "/api/catalog/" + kind + "/" + encodeURIComponent(code))
        .catch(() => null));
    }
    return state.names.get(key);
  }

  // -- errors --------------------------------------------------------------------------

  function showError(message) {
    const box = $("error");
    setText(box, message);
    box.hidden = false;
  }

  function hideError() {
    const box = $("error");
    if (!box.hidden) {
      box.hidden = true;
      box.textContent = "";
    }
  }

  // -- rendering -----------------------------------------------------------------------

  function render(ticket) {
    const previous = state.ticket;
    state.ticket = ticket;
    const status = ticket.status;
    setText($("number"), ticket.ticket_number);
    const badge = $("status");
    setText(badge, STATUS[status] || status);
    if (badge.getAttribute("data-status") !== status) badge.setAttribute("data-status", status);
    document.title = ticket.ticket_number + " " + (STATUS[status] || status).toLowerCase() +
      " - Status Antrean";

    const waiting = status === "waiting";
    reveal($("position"), waiting && ticket.position !== null && ticket.position !== undefined);
    if (waiting && ticket.position) {
      setText($("position"), "Posisi Anda: " + ticket.position);
    }
    const estimate = waiting ? waitText(ticket.estimated_wait_minutes) : null;
    reveal($("estimate"), Boolean(estimate));
    if (estimate) {
      setText($("estimate"), "Perkiraan waktu tunggu: " + estimate +
        (ticket.position === 1 ? ". Anda nomor berikutnya." : "."));
    }

    const call = $("call");
    if ((status === "called" || status === "serving") && ticket.counter) {
      renderCall(ticket);
      reveal(call, true);
    } else {
      reveal(call, false);
    }
    const activated = navigator.userActivation ? navigator.userActivation.hasBeenActive : false;
    if (status === "called" && previous && previous.status !== "called" && activated &&
        navigator.vibrate) {
      try {
        navigator.vibrate([300, 150, 300]);
      } catch (e) {
        // vibration is a nicety
      }
    }

    const transfer = $("transfer");
    reveal(transfer, Boolean(state.transferredFrom));
    if (state.transferredFrom) {
      setText(transfer, "Anda dialihkan dari nomor " + state.transferredFrom +
        " ke layanan ini. Urutan Anda mengikuti waktu kedatangan pertama.");
    }

    const outcome = $("outcome");
    const ended = outcomeText(ticket);
    reveal(outcome, Boolean(ended));
    setText(outcome, ended);

    reveal($("cancel"), waiting);
    $("cancel").disabled = false;
    reveal($("serving-wrap"), ACTIVE.indexOf(status) >= 0);
    renderNames(ticket);
  }

  function renderCall(ticket) {
    const call = $("call");
    const main = ticket.status === "called"
      ? "Silakan menuju loket " + ticket.counter
      : "Sedang dilayani di loket " + ticket.counter;
    let strong = call.querySelector("strong");
    let detail = call.querySelector("span");
    if (!strong) {
      strong = document.createElement("strong");
      strong.className = "alert__title";
      detail = document.createElement("span");
      call.append(strong, detail);
    }
    setText(strong, main);
    const recalls = ticket.status === "called" && ticket.recalls
      ? " Anda sudah dipanggil " + (ticket.recalls + 1) + " kali; segera menuju loket." : "";
    setText(detail, recalls);
    catalogRecord("counters", ticket.counter).then((counter) => {
      if (!counter || !state.ticket || state.ticket.counter !== ticket.counter) return;
      const where = [counter.name, counter.zone].filter(Boolean).join(", ");
      if (where) setText(detail, "(" + where + ")." + recalls);
    });
  }

  function outcomeText(ticket) {
    switch (ticket.status) {
      case "completed":
        return "Layanan selesai. Terima kasih telah datang ke Mal Pelayanan Publik.";
      case "no_show":
        return "Anda tidak hadir saat dipanggil. Bila masih memerlukan layanan, silakan ambil nomor antrean baru.";
      case "cancelled":
        return ticket.cancelled_by === "system"
          ? "Nomor antrean ini berakhir karena hari layanan sudah selesai."
          : "Nomor antrean ini telah dibatalkan.";
      case "transferred":
        return "Anda dialihkan ke layanan lain.";
      default:
        return "";
    }
  }

  function renderNames(ticket) {
    catalogRecord("services", ticket.service).then((service) => {
      if (!state.ticket || state.ticket.service !== ticket.service) return;
      if (service && service.name) setText($("service"), service.name);
      else if (!$("service").textContent) setText($("service"), ticket.service);
      const priority = ticket.priority && PRIORITY[ticket.priority];
      catalogRecord("agencies", ticket.agency).then((agency) => {
        if (!state.ticket || state.ticket.agency !== ticket.agency) return;
        const parts = [agency && agency.name, priority && "Prioritas: " + priority].filter(Boolean);
        setText($("agency"), parts.join(" · "));
      });
    });
    catalogRecord("sites", ticket.site).then((site) => {
      if (site && site.name) setText($("site-name"), site.name);
    });
  }

  function renderServing(overview) {
    const ticket = state.ticket;
    const entry = (overview.services || []).find((s) => s.service === ticket.service);
    if (!entry) return;
    if (!$("service").textContent && entry.name) setText($("service"), entry.name);
    const list = $("serving");
    const items = (entry.now_serving || []).map((t) => {
      const li = document.createElement("li");
      const number = document.createElement("strong");
      number.textContent = t.ticket_number;
      li.append(number, " di loket " + (t.counter || "-") +
        (t.status === "called" ? " (dipanggil)" : " (sedang dilayani)") +
        (t.ticket_number === ticket.ticket_number ? " - nomor Anda" : ""));
      return li;
    });
    const signature = items.map((li) => li.textContent).join("|");
    if (list.getAttribute("data-signature") !== signature) {
      list.replaceChildren(...items);
      list.setAttribute("data-signature", signature);
    }
    reveal(list, items.length > 0);
    reveal($("serving-empty"), items.length === 0);
  }

  function stamp() {
    setText($("updated"), "Diperbarui pukul " + new Intl.DateTimeFormat("id-ID", {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).format(new Date()) + ".");
  }

  // -- polling -------------------------------------------------------------------------

  function stop() {
    state.stopped = true;
    clearTimeout(state.timer);
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.stopped || document.hidden) return; // resumes when the tab is shown again
    const delay = state.failures
      ? Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, Math.min(state.failures - 1, 4)))
      : POLL_MS;
    state.timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (state.inFlight || state.stopped) return;
    state.inFlight = true;
    try {
      const ticket = await api(QUEUE, "/api/queue/tickets/" + encodeURIComponent(state.id), { secret: true });
      state.failures = 0;
      hideError();
      if (ticket.status === "transferred" && ticket.transferred_to) {
        follow(ticket);
        return;
      }
      render(ticket);
      if (ACTIVE.indexOf(ticket.status) >= 0) {
        try {
          renderServing(await api(QUEUE, "/api/queue/overview?site=" + encodeURIComponent(ticket.site)));
        } catch (e) {
          // the list of numbers being served is a nicety; the ticket itself is shown
        }
      } else {
        stop(); // the ticket has ended: nothing more will change
      }
      stamp();
    } catch (err) {
      state.failures += 1;
      if (err.status === 401 || err.status === 403 || err.status === 404) {
        showError(err.message + " Buka tautan lengkap dari tiket Anda (pindai kode QR pada tiket).");
        setText($("status"), "Tidak dapat ditampilkan");
        $("status").setAttribute("data-status", "unknown");
        reveal($("cancel"), false);
        stop();
      } else {
        showError(err.message + " Mencoba lagi otomatis…");
      }
    } finally {
      state.inFlight = false;
      if (state.follow) {
        state.follow = false;
        refresh();
      } else {
        schedule();
      }
    }
  }

  /** A transferred visit continues as a new ticket with the same secret. */
  function follow(ticket) {
    state.transferredFrom = ticket.ticket_number;
    state.id = ticket.transferred_to;
    try {
      sessionStorage.setItem(secretKey(state.id), state.secret);
    } catch (e) {
      // the fragment below still has it
    }
    const path = location.pathname.replace(/[^/]*$/, encodeURIComponent(state.id));
    history.replaceState(history.state, "", path + "#" + state.secret);
    state.follow = true;
  }

  async function cancel() {
    const ticket = state.ticket;
    if (!ticket || ticket.status !== "waiting") return;
    const sure = window.confirm("Batalkan nomor antrean " + ticket.ticket_number +
      "? Nomor yang dibatalkan tidak dapat dipakai lagi.");
    if (!sure) return;
    const button = $("cancel");
    button.disabled = true;
    try {
      const answer = await api(QUEUE, "/api/queue/tickets/" + encodeURIComponent(state.id) + "/cancel",
        { method: "POST", json: {}, secret: true });
      hideError();
      render(answer);
      stamp();
      stop();
      $("outcome").setAttribute("tabindex", "-1");
      $("outcome").focus();
    } catch (err) {
      button.disabled = false;
      showError(err.message);
      refresh();
    }
  }

  function start() {
    $("cancel").addEventListener("click", cancel);
    if (!state.id) {
      showError("Alamat halaman tidak lengkap: nomor tiket tidak ada.");
      return;
    }
    state.secret = readSecret(state.id);
    if (!state.secret) {
      setText($("status"), "Tidak dapat ditampilkan");
      showError("Kode rahasia tiket tidak ada pada tautan. Buka tautan lengkap dari tiket Anda " +
        "(pindai kode QR pada tiket).");
      return;
    }
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(state.timer);
      else if (!state.stopped) refresh();
    });
    refresh();
  }

  start();
})();
