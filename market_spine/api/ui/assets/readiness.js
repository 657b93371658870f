// The readiness view: one tile per dataset × symbol × trade date from `/v1/readiness`, with its
// certification (PRELIMINARY marked apart), completeness, anomalies (click: the flagged minutes
// from `/v1/bars?flags=true`), last compute time, capture id and freshness lag. Filters live in
// the URL fragment, so a view can be bookmarked; the page refreshes by itself. The dataset
// filter offers exactly the datasets the readiness API answers for (the server names them).
"use strict";

(function () {
  const S = window.Spine;
  const BARS = "normalized/futures_bars_1m";
  const REFRESH_MS = 30000;
  // A pause in typing a symbol list long enough to mean "show these".
  const TYPING_MS = 400;
  const FILTERS = { dataset: "f-dataset", symbol: "f-symbol", start: "f-start", end: "f-end" };
  const DATE_FIELDS = { start: "From", end: "To" };
  const DATE_FORM = S.DAY_FORM;
  const DATASETS = S.metaList("datasets");
  const KEPT = "The tiles shown are still those of the last good filters.";
  // The filters of the view shown (the last applied), and the number of the newest read:
  // an older read answering late must not draw over a newer filter's tiles.
  let applied = {};
  let generation = 0;
  let typing = 0;

  function filters() {
    const out = {};
    for (const [name, id] of Object.entries(FILTERS)) out[name] = document.getElementById(id).value.trim();
    return out;
  }

  // The filters a bookmark holds (`#dataset=…&symbol=…&start=…&end=…`), on load and when only
  // the fragment changes. A date that is not one is said beside the filters, never dropped
  // silently: on load it is left out (there is no view yet), later the view shown stays.
  // False when nothing was applied.
  function fromFragment(initial) {
    const params = S.fragment();
    const given = {};
    for (const name of Object.keys(FILTERS)) given[name] = (params.get(name) || "").trim();
    const wrong = [];
    for (const name of Object.keys(DATE_FIELDS)) {
      const day = S.asDay(given[name]);
      if (day === null) {
        wrong.push(S.dayProblem(DATE_FIELDS[name], given[name]));
        given[name] = "";
      } else {
        given[name] = day;
      }
    }
    wrong.push(...outOfOrder(given));
    // A bookmarked dataset readiness does not answer for is said beside the filters like a
    // bad date, not sent to be refused: on load left out, later the view shown stays.
    if (given.dataset && !DATASETS.includes(given.dataset)) {
      wrong.push(`dataset "${given.dataset}" has no readiness: pick one of ${DATASETS.join(", ")}`);
      given.dataset = "";
    }
    filterError(wrong, !initial);
    if (wrong.length && !initial) return false;
    for (const [name, id] of Object.entries(FILTERS)) document.getElementById(id).value = given[name];
    applied = filters();
    return true;
  }

  // The one current error of the page: a newer one replaces it (a good read clears it).
  function showError(err) {
    S.clearError();
    S.showError(err);
  }

  // An answer refusing the filters themselves (a symbol the API does not know): the tiles
  // shown stay, and the error says what is wrong with the filters asked for.
  function refusesFilters(err) {
    return err && [400, 404, 422].includes(err.status);
  }

  function outOfOrder(values) {
    if (!values.start || !values.end || values.end >= values.start) return [];
    return [`To ${values.end} is before From ${values.start}: pick an end on or after the start`];
  }

  // What is wrong with the date filters as they stand: a day typed but not whole or not real
  // (a date input then holds no value), or an end before the start.
  function dateProblems(values) {
    const wrong = [];
    for (const name of Object.keys(DATE_FIELDS)) {
      const input = document.getElementById(FILTERS[name]);
      if (input.validity && input.validity.badInput) wrong.push(`${DATE_FIELDS[name]} is not a whole, real date: ${DATE_FORM}`);
    }
    return [...wrong, ...outOfOrder(values)];
  }

  // The filters' own error lines, beside them; `kept`: the tiles stay the last good filters'.
  function filterError(lines, kept) {
    const box = document.getElementById("filter-error");
    box.replaceChildren(...lines.map((line) => S.el("p", {}, line)));
    if (lines.length && kept) box.append(S.el("p", { class: "muted" }, KEPT));
    box.hidden = !lines.length;
  }

  function toFragment() {
    const params = S.fragment();
    for (const [name, value] of Object.entries(filters())) {
      if (value) params.set(name, value);
      else params.delete(name);
    }
    S.setFragment(params);
  }

  function datasetOptions() {
    const select = document.getElementById("f-dataset");
    select.append(...DATASETS.map((name) => S.el("option", { value: name }, name)));
  }

  async function refresh() {
    const mine = ++generation;
    let rows;
    try {
      rows = await S.rows("v1/readiness", applied);
    } catch (err) {
      if (mine !== generation) return;
      if (refusesFilters(err)) {
        showError(err);
        document.getElementById("error").append(S.el("p", { class: "muted" }, KEPT));
        return;
      }
      // Not the filters: the tiles shown can no longer be read (no key, the API down).
      clear();
      showError(err);
      return;
    }
    if (mine !== generation) return;
    S.clearError();
    render(rows);
    document.getElementById("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
  }

  function clear() {
    document.getElementById("datasets").replaceChildren();
    document.getElementById("summary").textContent = "";
    document.getElementById("flags").hidden = true;
  }

  function render(rows) {
    const byDataset = new Map();
    for (const row of rows) {
      if (!byDataset.has(row.dataset)) byDataset.set(row.dataset, []);
      byDataset.get(row.dataset).push(row);
    }
    const sections = [...byDataset.entries()].sort().map(([dataset, list]) => {
      list.sort((a, b) => (a.trade_date === b.trade_date ? (a.symbol || "").localeCompare(b.symbol || "") : a.trade_date < b.trade_date ? 1 : -1));
      return S.el("section", { "data-dataset": dataset }, S.el("h2", {}, dataset), S.el("div", { class: "tiles" }, ...list.map((row) => tile(row, rows))));
    });
    const main = document.getElementById("datasets");
    main.replaceChildren(...sections);
    if (!rows.length) main.append(S.el("p", { class: "muted" }, "No partition has been judged for these filters yet."));
    const counts = {};
    for (const row of rows) counts[row.state] = (counts[row.state] || 0) + 1;
    const parts = Object.entries(counts).sort().map(([name, n]) => `${n} ${name === "preliminary" ? "PRELIMINARY" : name}`);
    document.getElementById("summary").textContent = `${rows.length} partitions` + (parts.length ? ": " + parts.join(", ") : "");
  }

  // The failed input a failed partition was computed from, among the rows shown: the row of the
  // dataset its reason names ("input normalized/futures_bars_1m FAILED: ..."), same symbol and day.
  function failedInput(row, rows) {
    const named = /^input (\S+) FAILED/.exec(row.reason || "");
    if (!named) return null;
    return rows.find((other) => other.dataset === named[1] && other.symbol === row.symbol && other.trade_date === row.trade_date && other.state === "failed") || null;
  }

  // A failed partition's own share when it reads whole is no share at all: a day built whole
  // from failed minutes holds its one day. Its share is then the failed input's (the minutes
  // held of those owed, as the minute tile says it), or none when that row is not shown.
  function failedShare(row, rows) {
    const whole = row.completeness !== null && row.completeness !== undefined && row.completeness >= 1;
    if (!whole || !/^input \S+ FAILED/.test(row.reason || "")) return { share: row.completeness, input: null };
    const input = failedInput(row, rows);
    if (!input || input.completeness === null || input.completeness === undefined) return { share: null, input: null };
    return { share: input.completeness, input };
  }

  function tile(row, rows = []) {
    const measured = row.completeness !== null && row.completeness !== undefined;
    const failed = row.state === "failed" ? failedShare(row, rows) : null;
    const shown = failed ? failed.share : row.completeness;
    const fill = S.el("div", {});
    fill.style.width = (100 * Math.min(1, shown !== null && shown !== undefined ? shown : 0)).toFixed(1) + "%";
    // A company dataset owes no count by a calendar: it shows the rows it holds.
    const held = row.expected === null || row.expected === undefined ? `${row.present}` : `${row.present} / ${row.expected}`;
    const detail = `${held} ${row.unit || ""}` + (row.missing ? `, ${row.missing} missing` : "") + (row.no_trade ? `, ${row.no_trade} no-trade` : "");
    // A company dataset's day is judged whole: no symbol, and no count owed to measure against.
    const what = row.symbol || "all rows";
    // A failed partition is never shown as complete, whatever share of what it owes it holds.
    let share = `${S.percent(row.completeness)} complete${S.soFar(row)}: ${detail}`;
    if (failed && failed.input) {
      const input = failed.input;
      share = `${S.percent(input.completeness)} held, FAILED: ${input.present} / ${input.expected} ${input.unit || ""} of ${input.dataset} (${detail})`;
    } else if (failed) {
      share = failed.share === null ? `FAILED: ${detail}, built from a failed input` : `${S.percent(failed.share)} held, FAILED: ${detail}`;
    }
    const completeness = measured ? share : `${detail}: completeness not measured (nothing is owed per day)`;
    const worst = row.worst_anomaly_kind ? ` (worst ${row.worst_anomaly_kind}, ${Number(row.worst_anomaly_score).toFixed(1)})` : "";
    const button = S.el("button", { type: "button", class: "anomalies", disabled: !row.anomalies || row.dataset !== BARS }, `${row.anomalies} anomalies${worst}`);
    button.addEventListener("click", () => flagged(row));
    return S.el(
      "article",
      { class: "tile", "data-state": row.state, "data-symbol": row.symbol || "", "data-trade-date": row.trade_date, "data-anomalies": String(row.anomalies) },
      S.el("div", { class: "head" }, S.el("span", {}, `${what} · ${row.trade_date}`), S.badge(row.state)),
      S.el("div", { class: "bar", title: S.percent(shown) }, fill),
      S.el("div", { class: "completeness" }, completeness),
      // Why it is in that state: the certifying check that failed, or the input it stands on and what that lacks.
      row.reason ? S.el("div", { class: "reason" }, row.reason) : null,
      S.el(
        "dl", {},
        S.el("dt", {}, "anomalies"), S.el("dd", {}, button),
        S.el("dt", {}, "computed"), S.el("dd", {}, S.when(row.computed_at)),
        S.el("dt", {}, "capture"), S.el("dd", { class: "capture", title: row.capture_id || "" }, row.capture_id || "–"),
        S.el("dt", {}, "lag"), S.el("dd", {}, S.lag(row.freshness_lag_s)),
      ),
    );
  }

  async function flagged(row) {
    const section = document.getElementById("flags");
    let bars;
    try {
      bars = await S.rows("v1/bars", { symbol: row.symbol, start: row.trade_date, flags: "true" });
    } catch (err) {
      showError(err);
      return;
    }
    const rows = bars.filter((bar) => bar.flag_kinds && bar.flag_kinds.length);
    document.getElementById("flags-title").textContent = `Flagged minutes of ${row.symbol} on ${row.trade_date}: ${rows.length}`;
    section.querySelector("tbody").replaceChildren(
      ...rows.map((bar) =>
        S.el("tr", {},
          S.el("td", {}, bar.ts.slice(11, 19)), S.el("td", {}, [].concat(bar.flag_kinds).join(", ")),
          S.el("td", {}, bar.flag_score === null ? "–" : Number(bar.flag_score).toFixed(2)),
          S.el("td", {}, bar.open), S.el("td", {}, bar.high), S.el("td", {}, bar.low), S.el("td", {}, bar.close),
          S.el("td", {}, bar.volume)),
      ),
    );
    section.hidden = false;
    section.scrollIntoView();
  }

  // Show the filters as they stand; unless `always`, only when they differ from those shown.
  function apply(always) {
    clearTimeout(typing);
    const wanted = filters();
    const wrong = dateProblems(wanted);
    filterError(wrong, true);
    if (wrong.length) return;
    if (!always && Object.keys(FILTERS).every((name) => wanted[name] === applied[name])) return;
    toFragment();
    applied = wanted;
    refresh();
  }

  const form = document.getElementById("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(true);
  });
  // A picked dataset or date applies at once; a typed symbol list once typing pauses (or on
  // leaving the field), not at every keystroke's half-typed symbol.
  form.addEventListener("change", () => apply(false));
  form.addEventListener("input", (event) => {
    clearTimeout(typing);
    if (event.target.id === FILTERS.symbol) typing = setTimeout(() => apply(false), TYPING_MS);
    else apply(false);
  });
  // A bookmark opened in this tab (only the fragment changes): take its filters.
  window.addEventListener("hashchange", () => {
    if (fromFragment(false)) refresh();
  });
  S.keyForm(refresh);
  datasetOptions();
  fromFragment(true);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
