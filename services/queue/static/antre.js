/*
 * Antre - shared script for the queue's citizen pages (kiosk, ticket status), loaded
 * before the page's own script: plain ES2019, no framework, no external request.
 * Everything is on window.Antre.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);

  /** A value the server fills in; "" while it is still a {{...}} placeholder (the raw file). */
  function placeholder(value) {
    const text = (value || "").trim();
    return text.indexOf("{{") === 0 ? "" : text;
  }

  /** An API's base URL from the page, without a trailing slash ("" = this origin). */
  function baseUrl(value) {
    return placeholder(value).replace(/\/+$/, "");
  }

  /** Sets a node's text only when it changes (a live region is not read out for nothing). */
  function setText(node, text) {
    const value = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  /** An estimated wait: "segera", "± 25 menit", "± 1 jam 5 menit"; null when unknown. */
  function waitText(minutes) {
    if (minutes === null || minutes === undefined) return null;
    if (minutes < 1) return "segera";
    if (minutes < 60) return "± " + minutes + " menit";
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return "± " + hours + " jam" + (rest ? " " + rest + " menit" : "");
  }

  class ApiError extends Error {
    constructor(message, status, details) {
      super(message);
      this.status = status;
      this.details = details || {};
    }
  }

  /**
   * One API call: opts.json as the body, no cookies, no cache, and opts.timeout (ms) for
   * the whole call, reading the answer included. read(response) makes the result of the
   * answer; no connection rejects with ApiError(opts.offlineMessage, 0), no answer in
   * time with ApiError(opts.timeoutMessage, 0).
   */
  async function callApi(url, opts, read) {
    const headers = { ...opts.headers };
    let payload;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(opts.json);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.timeout);
    try {
      let response;
      try {
        response = await fetch(url, {
          method: opts.method || "GET", headers, body: payload, cache: "no-store",
          credentials: "omit", signal: controller.signal,
        });
      } catch (err) {
        throw new ApiError(err && err.name === "AbortError" ? opts.timeoutMessage : opts.offlineMessage, 0);
      }
      return await read(response);
    } finally {
      clearTimeout(timer);
    }
  }

  window.Antre = { $, placeholder, baseUrl, setText, waitText, ApiError, callApi };
}());
