// The pages' one way to the API. The user's key comes from the URL fragment (#key=…, which a
// browser never sends to the server) or the key form, stays in this tab's sessionStorage, and
// goes with every call: a bearer header over HTTP, the subprotocol `bearer.<key>` on the
// WebSocket. Everything the API says is put on the page as text, never as markup.
"use strict";

window.Spine = (function () {
  const STORE = "market-spine-key";
  const BASE = new URL("../", location.href);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function fragment() {
    return new URLSearchParams(location.hash.slice(1));
  }

  // The comma-separated names a page's <meta name="market-spine-…"> holds (set by the server).
  function metaList(name) {
    const meta = document.querySelector(`meta[name="market-spine-${name}"]`);
    return (meta ? meta.content : "").split(",").map((s) => s.trim()).filter(Boolean);
  }

  function setFragment(params) {
    const text = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (text ? "#" + text : ""));
  }

  // The key leaves the address bar (and so the history and any screenshot) once it is read:
  // on load and on every later change of the fragment. True when the key it gave is new.
  function takeKeyFromFragment() {
    const params = fragment();
    if (!params.has("key")) return false;
    const given = params.get("key").trim();
    params.delete("key");
    setFragment(params);
    if (!given || given === key()) return false;
    sessionStorage.setItem(STORE, given);
    return true;
  }

  // Run by a new key from the fragment (the key form's `onKey`, once the form is set up).
  let onFragmentKey = null;
  // Registered as this script loads, so the key is taken before any page's own listener reads
  // the fragment or calls the API.
  window.addEventListener("hashchange", () => {
    if (takeKeyFromFragment() && onFragmentKey) onFragmentKey();
  });

  function key() {
    return sessionStorage.getItem(STORE) || "";
  }

  async function get(path, params) {
    const url = new URL(path, BASE);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json" };
    if (key()) headers.Authorization = "Bearer " + key();
    let response;
    try {
      response = await fetch(url, { headers, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "the API did not answer (" + err.message + "): is it running?");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.error) || response.statusText);
    }
    return body;
  }

  // Every row of a paged answer; later pages read the table version the first one did. An
  // empty answer keeps the API's `empty_reason` ({code, detail}: why there is nothing) as the
  // array's `emptyReason`.
  async function rows(path, params) {
    const out = [];
    out.emptyReason = null;
    let query = { ...params };
    for (;;) {
      const page = await get(path, query);
      out.push(...page.data);
      if (page.empty_reason) out.emptyReason = page.empty_reason;
      if (page.next_offset === null || page.next_offset === undefined) return out;
      query = { ...query, offset: page.next_offset };
      if (page.version !== null && page.version !== undefined) query.as_of = page.version;
    }
  }

  function socket(path, params) {
    const url = new URL(path, BASE);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
    const protocols = ["market-spine"];
    if (key()) protocols.push("bearer." + key());
    return new WebSocket(url, protocols);
  }

  function explain(err) {
    const said = String(err.message).replace(/\.$/, "");
    if (err.status === 401) {
      // The server's refusal may already say how keys are made: said once, not twice.
      const how = /keys create/.test(said) ? "" : " (an admin makes one with `market-spine keys create --role reader`)";
      return "No valid API key: " + said + ". Enter a key above" + how + ".";
    }
    if (err.status === 403) return "This key may not read this: " + said + ".";
    if (err.status === 429) return "Too many requests: " + said + ".";
    return (err.status ? "HTTP " + err.status + ": " : "") + said + ".";
  }

  // Each distinct refusal gets its line (the bars and the stream may be refused for different
  // datasets at once); the newest status is the box's.
  function showError(err) {
    const box = document.getElementById("error");
    const text = typeof err === "string" ? err : explain(err);
    if (![...box.children].some((line) => line.textContent === text)) box.append(el("p", {}, text));
    box.dataset.status = err && err.status !== undefined ? String(err.status) : "";
    box.hidden = false;
  }

  function clearError() {
    const box = document.getElementById("error");
    box.hidden = true;
    box.replaceChildren();
    box.dataset.status = "";
  }

  // The key form: `onKey` runs when a key is given or forgotten (the page reloads its data).
  function keyForm(onKey) {
    takeKeyFromFragment();
    const form = document.getElementById("key-form");
    const input = document.getElementById("key-input");
    const state = document.getElementById("key-state");
    const show = () => {
      state.textContent = key() ? "key set for this tab" : "no key";
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.value.trim()) sessionStorage.setItem(STORE, input.value.trim());
      input.value = "";
      show();
      onKey();
    });
    document.getElementById("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(STORE);
      show();
      onKey();
    });
    onFragmentKey = () => {
      show();
      onKey();
    };
    show();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function badge(state) {
    const name = state || "unknown";
    return el("span", { class: "badge badge-" + name, "data-state": name }, name.toUpperCase());
  }

  function lag(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "–";
  }

  // What a page says of a day that is not one (the API's own refusals name the same form).
  const DAY_FORM = "expected a trade date as YYYY-MM-DD, e.g. 2024-03-05";
  // The forms a day parameter takes, worded as the server's refusals word them.
  const DAY_FORMS = "a trade date as YYYY-MM-DD or YYYYMMDD, e.g. 2024-03-05";

  // A real day typed as YYYY-MM-DD or YYYYMMDD, as YYYY-MM-DD; "" for none, null for a text
  // that is not a real day (2024-02-30, 03/05/2024).
  function asDay(text) {
    if (!text) return "";
    const found = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
    if (!found) return null;
    const [year, month, day] = found.slice(1).map(Number);
    const date = new Date(Date.UTC(year, month - 1, day));
    if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
    return `${found[1]}-${found[2]}-${found[3]}`;
  }

  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];

  // Why `text`, given as the parameter `name`, names no day, worded as the server words it
  // (which part is wrong when it has a date's form); null when it is a day or empty.
  function dayProblem(name, text) {
    if (!text || asDay(text) !== null) return null;
    const found = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
    if (!found) return `${name} "${text}" is not a date: ${DAY_FORM}`;
    const [year, month] = found.slice(1).map(Number);
    const takes = `; ${name} takes ${DAY_FORMS}`;
    const lacking = `${name} '${text}' does not exist: `;
    if (year < 1) return lacking + "years run from 0001 to 9999" + takes;
    if (month < 1 || month > 12) return lacking + `there is no month ${found[2]}` + takes;
    const end = new Date(0);
    end.setUTCFullYear(year, month, 0); // day 0 of the next month: this month's last
    return lacking + `${MONTHS[month - 1]} ${year} has ${end.getUTCDate()} days` + takes;
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + " %";
  }

  // A partition captured before its data became final (a session still trading, a chain before
  // its end-of-day mark) owes only what had closed by its capture: its share is of that, never of
  // the whole day, so it says "so far" and when the day is final. "" for any other partition.
  function soFar(row) {
    if (!row || !row.captured_at || !row.final_at || row.state === "failed") return "";
    if (!(new Date(row.captured_at) < new Date(row.final_at))) return "";
    return ` so far (captured ${when(row.captured_at)}; final at ${when(row.final_at)})`;
  }

  return {
    ApiError, get, rows, socket, explain, showError, clearError, keyForm, fragment, setFragment,
    metaList, el, badge, lag, when, percent, soFar, asDay, dayProblem, DAY_FORM,
  };
})();
