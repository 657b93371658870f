// The live dashboard: a symbol's minute candles for its latest trade date from the lake
// (`/v1/bars`), extended by the stream (`WS /v1/stream/bars`): 5-second bars build the forming
// minute's candle, and each closed 1-minute bar replaces it. A continuous series (`CL.c.0`)
// takes the live bars of the contract it holds that day by its roll rule (`/v1/bars/held`),
// built or not: the minutes a run has not built for it are that contract's from the root's
// bars. Beside it, each symbol's freshness (`/v1/readiness`, then each live bar, ticking
// with time, saying which source it stands on) and the day's anomalies (`/v1/bars?flags=true`;
// for a series, those of the contract it holds).
"use strict";

(function () {
  const S = window.Spine;
  const LC = window.LightweightCharts;
  const BARS = "normalized/futures_bars_1m";
  const CONTINUOUS = "normalized/futures_continuous_1m";
  const REFRESH_MS = 30000;
  const TAPE_ROWS = 15;
  const VISIBLE_MINUTES = 240;
  const UP = "#26a69a";
  const DOWN = "#ef5350";

  const state = {
    symbol: null,
    tradeDate: null,
    candles: new Map(), // minute (epoch s) -> {time, open, high, low, close, volume, final}
    forming: new Map(), // minute -> Map(5-second bar epoch s -> message)
    readiness: [],
    seriesReadiness: [], // the continuous series' readiness rows, each judged on its contract
    // Whether the lake holds bars of the picked symbol on the day shown, and why not if it
    // does not: a badge describes data that is there.
    held: false,
    emptyReason: "",
    readable: false,
    lastLive: {}, // root -> {arrived: wall ms, ts}
    // root -> {tradeDate, through: epoch ms the newest live bar closed}: freshness past the lake
    liveFresh: {},
    // The contract a continuous series holds on the day shown ({contract}); null for a root.
    // A roll takes effect at a session's open, so one contract holds for the whole day.
    join: null,
    unknownSymbol: null,
    tapeSymbol: null, // the symbol whose live bars the tape lists
    liveBars: 0,
    loading: null,
    pending: [],
    ws: null,
    generation: 0,
    // What the page measured per live bar: its `ts`, the wall-clock ms the message arrived
    // and the ms the frame that drew it ran (bench/live_latency.py reads it).
    latency: [],
  };
  window.spineLive = state;

  const chartEl = document.getElementById("chart");
  const chart = LC.createChart(chartEl, {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#1f2933" },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { scaleMargins: { top: 0.08, bottom: 0.28 } },
  });
  const candleSeries = chart.addSeries(LC.CandlestickSeries, {
    upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
  });
  const volumeSeries = chart.addSeries(LC.HistogramSeries, {
    priceFormat: { type: "volume" }, priceScaleId: "volume",
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
  const markers = LC.createSeriesMarkers(candleSeries, []);

  const rootOf = (symbol) => symbol.split(".")[0];
  const isContinuous = (symbol) => symbol !== rootOf(symbol);
  const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
  const now = () => performance.timeOrigin + performance.now();
  const hhmmss = (seconds) => new Date(seconds * 1000).toISOString().slice(11, 19);
  const BAR_SECONDS = { "5s": 5, "1m": 60 };

  function roots() {
    const found = new Set(S.metaList("symbols"));
    for (const row of state.readiness) found.add(row.symbol);
    return [...found].sort();
  }

  // Every symbol the API serves bars of: each root and its continuous series (CL.c.0 …).
  function offered() {
    const forms = S.metaList("series");
    return roots().flatMap((root) => [root, ...forms.map((form) => `${root}.${form}`)]);
  }

  function latestRow(root) {
    let best = null;
    for (const row of state.readiness) {
      if (row.symbol === root && (!best || row.trade_date > best.trade_date)) best = row;
    }
    return best;
  }

  // ---- the chart ------------------------------------------------------------------------

  function volumePoint(c) {
    return { time: c.time, value: c.volume, color: c.close >= c.open ? UP + "88" : DOWN + "88" };
  }

  function candlePoint(c) {
    return { time: c.time, open: c.open, high: c.high, low: c.low, close: c.close };
  }

  function redraw() {
    const sorted = [...state.candles.values()].sort((a, b) => a.time - b.time);
    candleSeries.setData(sorted.map(candlePoint));
    volumeSeries.setData(sorted.map(volumePoint));
    readout();
  }

  function lastTime() {
    let last = -Infinity;
    for (const time of state.candles.keys()) last = Math.max(last, time);
    return last;
  }

  function put(candle) {
    const last = lastTime();
    state.candles.set(candle.time, candle);
    if (candle.time >= last) {
      candleSeries.update(candlePoint(candle));
      volumeSeries.update(volumePoint(candle));
      readout();
    } else {
      redraw(); // an earlier minute changed: the series takes updates at its end only
    }
  }

  function readout() {
    const last = state.candles.get(lastTime());
    chartEl.dataset.candles = String(state.candles.size);
    chartEl.dataset.lastTime = last ? String(last.time) : "";
    chartEl.dataset.firstTime = state.candles.size ? String(Math.min(...state.candles.keys())) : "";
    const text = last
      ? `last ${hhmmss(last.time)} O ${last.open} H ${last.high} L ${last.low} C ${last.close} ` +
        `V ${last.volume}${last.final ? "" : " (forming)"}`
      : "no candles";
    document.getElementById("last-candle").textContent = text;
  }

  // ---- the lake's minutes -----------------------------------------------------------------

  async function load(tradeDate) {
    const generation = ++state.generation;
    const symbol = state.symbol;
    if (state.tapeSymbol !== symbol) clearTape(symbol); // the tape lists the picked symbol's bars only
    const root = rootOf(symbol);
    const given = (S.fragment().get("day") || "").trim();
    const pinned = S.asDay(given);
    if (pinned === null) {
      badDay(given);
      return;
    }
    const day = tradeDate || pinned || (latestRow(root) || {}).trade_date || null;
    state.tradeDate = day;
    state.candles.clear();
    state.forming.clear();
    markers.setMarkers([]);
    document.getElementById("day").textContent = day ? "trade date " + day : "";
    document.getElementById("day-input").value = day || "";
    state.held = false;
    state.emptyReason = "";
    document.getElementById("day-state").replaceChildren(); // said once the day's bars are read
    state.join = null;
    joinState("", "");
    info("", "");
    let bars = [];
    let flagged = [];
    let held = null;
    let borrowed = "";
    if (day) {
      try {
        if (isContinuous(symbol)) {
          held = await S.get("v1/bars/held", { symbol, day });
          // The root's first: a minute landed between the two reads is then in the series'.
          const rootBars = await S.rows("v1/bars", { symbol: root, start: day, flags: "true" });
          const built = await seriesBars(symbol, day);
          // The contract the series holds has its minutes (and its anomalies) in the root's
          // bars when that is the root's contract too; another month's are not the series'.
          flagged = held ? rootBars.filter((bar) => bar.contract === held.contract) : [];
          bars = joined(built, flagged);
          // What the root's bars gave the series: nothing, the minutes it lacks, or all of them.
          borrowed = bars.length === built.length ? "" : built.length ? "the minutes it lacks" : "its minutes";
        } else {
          bars = await S.rows("v1/bars", { symbol, start: day, flags: "true" });
          flagged = bars;
        }
      } catch (err) {
        if (generation !== state.generation) return;
        if (err.status === 404 || err.status === 422) info(err.message, "refused");
        else S.showError(err);
      }
    } else if (state.readable) {
      info(`no minutes of ${root} in the lake yet: live bars draw as they arrive`, "no_day");
    } else {
      // Readiness was refused (the key): what the lake holds is unknown, not empty.
      info("the lake's minutes show once a key that may read them is set", "no_key");
    }
    if (generation !== state.generation) return; // the user picked another symbol meanwhile
    // Why the chart is blank, as the API says it (no session that day, not loaded yet …).
    if (!bars.length && bars.emptyReason) info(bars.emptyReason.detail, bars.emptyReason.code);
    if (borrowed) {
      info(`${symbol} is not built for all of ${day} yet: ${borrowed} are ${held.contract}'s from ${root}'s bars, ` +
        "joined by the stream's", "series_not_built");
    }
    state.held = bars.length > 0;
    state.emptyReason = bars.emptyReason ? bars.emptyReason.detail : document.getElementById("info").textContent;
    dayState(symbol, day);
    // A minute the day's capture took before it closed is the forming one: the live bars after
    // the capture go on building it. (Minutes the stream landed are closed: other captures.)
    const row = state.readiness.find((r) => r.symbol === root && r.trade_date === day);
    const captured = row && row.captured_at ? epoch(row.captured_at) : null;
    for (const bar of bars) {
      const time = epoch(bar.ts);
      const candle = { time, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume, final: true };
      if (captured !== null && bar.capture_id === row.capture_id && time + 60 > captured) {
        candle.final = false;
        candle.lake = { ...candle, through: captured };
      }
      state.candles.set(time, candle);
    }
    if (isContinuous(symbol)) {
      const last = bars.length ? bars[bars.length - 1] : null;
      state.join = { contract: held ? held.contract : last ? last.contract : null };
    }
    redraw();
    // A session still going (preliminary, or not judged yet) opens on its last hours, where the
    // live bars land, the rest a scroll away; a session whose data is final opens whole.
    const shown = state.candles.size;
    const going = !row || row.state === "preliminary";
    const lastHours = going && shown > VISIBLE_MINUTES;
    if (lastHours) chart.timeScale().setVisibleLogicalRange({ from: shown - VISIBLE_MINUTES, to: shown + 5 });
    else chart.timeScale().fitContent();
    document.getElementById("chart").dataset.view = lastHours ? "last-hours" : "whole";
    anomalies(flagged.filter((bar) => bar.flag_kinds && bar.flag_kinds.length));
  }

  // The series' own minutes of `day`; none while the series' table is not built at all.
  async function seriesBars(symbol, day) {
    try {
      return await S.rows("v1/bars", { symbol, start: day });
    } catch (err) {
      if (err.status !== 404) throw err;
      const none = [];
      none.emptyReason = { code: "not_built", detail: err.message };
      return none;
    }
  }

  // A series' own minutes with the minutes of the contract it holds from the root's bars
  // (`own`) where the series has none (a day no run built, or built before the stream landed
  // the rest), in time order; the series' reason for being empty kept when both are.
  function joined(built, own) {
    const seen = new Set(built.map((bar) => bar.ts));
    const bars = [...built, ...own.filter((bar) => !seen.has(bar.ts))];
    bars.sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    if (!bars.length) bars.emptyReason = built.emptyReason;
    return bars;
  }

  // Nothing drawn and nothing said about a day: what a refused symbol or day leaves.
  // Nothing drawn and nothing said of a day: a later refresh must not bring back the badge
  // or the reason of the view this one replaced.
  function clearView() {
    state.tradeDate = null;
    state.held = false;
    state.emptyReason = "";
    state.candles.clear();
    state.forming.clear();
    state.join = null;
    redraw();
    anomalies([]);
    joinState("", "");
    document.getElementById("day").textContent = "";
    document.getElementById("day-state").replaceChildren();
    clearTape(null);
  }

  // A bookmarked day that is not one: said, and no other day drawn in its place.
  function badDay(given) {
    clearView();
    info(S.dayProblem("day", given), "bad_day");
  }

  function info(text, code) {
    const box = document.getElementById("info");
    box.textContent = text;
    box.dataset.code = code;
    chartEl.dataset.emptyReason = code && !state.candles.size ? code : "";
  }

  // The contract the picked continuous series holds on the day shown; null when unknown.
  function heldContract() {
    return state.join ? state.join.contract : null;
  }

  function joinState(text, contract) {
    document.getElementById("live-join").textContent = text;
    chartEl.dataset.liveContract = contract;
  }

  // The certification of the picked symbol's bars on `day`: the root's minutes, or the
  // series' own (judged on the contract it holds); "no data" with the reason when the lake
  // holds none of them, never a badge of other data.
  function dayState(symbol, day) {
    const box = document.getElementById("day-state");
    box.replaceChildren();
    if (!day) return;
    if (!state.held) {
      const why = state.emptyReason || `no bars of ${symbol} on ${day} in the lake`;
      box.append(S.el("span", { class: "no-data muted", "data-state": "none", title: why }, "no data"));
      return;
    }
    const rows = isContinuous(symbol) ? state.seriesReadiness : state.readiness;
    const row = rows.find((r) => r.symbol === symbol && r.trade_date === day);
    if (row) box.append(S.badge(row.state));
  }

  function anomalies(rows) {
    const body = document.querySelector("#anomalies tbody");
    body.replaceChildren(
      ...rows.map((bar) =>
        S.el("tr", {}, S.el("td", {}, hhmmss(epoch(bar.ts))), S.el("td", {}, [].concat(bar.flag_kinds).join(", ")),
          S.el("td", {}, bar.flag_score === null ? "–" : Number(bar.flag_score).toFixed(2))),
      ),
    );
    document.getElementById("anomaly-count").textContent = String(rows.length);
    markers.setMarkers(
      rows.map((bar) => ({
        time: epoch(bar.ts), position: "aboveBar", color: "#b7791f", shape: "arrowDown",
        text: [].concat(bar.flag_kinds).join(","),
      })),
    );
  }

  // Load a day, holding the live bars that arrive meanwhile, then apply them in order.
  function reload(day) {
    state.loading = load(day).finally(() => {
      state.loading = null;
      for (const [message, arrived] of state.pending.splice(0)) onBar(message, arrived);
    });
  }

  // ---- freshness --------------------------------------------------------------------------

  async function refreshReadiness() {
    try {
      const rows = await S.rows("v1/readiness", { dataset: `${BARS},${CONTINUOUS}` });
      state.readiness = rows.filter((r) => r.dataset === BARS);
      state.seriesReadiness = rows.filter((r) => r.dataset === CONTINUOUS);
      state.readable = true;
      S.clearError();
    } catch (err) {
      state.readable = false;
      S.showError(err);
      liveState("waiting for a key that may read", "off");
      freshness();
      return false;
    }
    freshness();
    return true;
  }

  // What a root's freshness stands on: its newest trade date, when the newest data shown closed
  // (epoch ms: the lake's capture, or the newest live bar's close past it), which of the two
  // that is (`source`: "lake" or "stream") and when that session's data is final (epoch ms;
  // null while a live session has no readiness row yet).
  function freshFacts(root) {
    const row = latestRow(root);
    const live = state.liveFresh[root];
    if (live && (!row || live.tradeDate > row.trade_date)) {
      return { tradeDate: live.tradeDate, through: live.through, source: "stream", finalAt: null, row: null };
    }
    if (!row) return null;
    let through = row.captured_at ? Date.parse(row.captured_at) : null;
    let source = "lake";
    if (live && live.tradeDate === row.trade_date && (through === null || live.through > through)) {
      through = live.through;
      source = "stream";
    }
    return { tradeDate: row.trade_date, through, source, finalAt: row.final_at ? Date.parse(row.final_at) : null, row };
  }

  // Where a freshness comes from, as the page says it.
  const SOURCES = { lake: "lake capture", stream: "stream" };

  // Seconds the data shown lags the market now: to the session's end once it is over, so a
  // closed day's lag stands still and a live one's grows until the next bar.
  function lagSeconds(facts) {
    if (!facts || facts.through === null) return null;
    const upTo = facts.finalAt === null ? now() : Math.min(now(), facts.finalAt);
    return Math.max(0, (upTo - facts.through) / 1000);
  }

  function freshness() {
    const body = document.querySelector("#freshness tbody");
    const rows = roots().map((root) => {
      const facts = freshFacts(root);
      const row = facts && facts.row;
      const live = S.el("td", { class: "live-age", "data-symbol": root }, "–");
      const lag = S.el("td", { class: "lag", "data-symbol": root }, "–");
      const source = S.el("td", { class: "source", "data-symbol": root }, "–");
      let cells;
      if (row) {
        cells = [S.el("td", { class: "day" }, row.trade_date), S.el("td", {}, S.badge(row.state)), S.el("td", { class: "complete", title: S.soFar(row).trim() }, S.percent(row.completeness) + (S.soFar(row) ? " so far" : "")),
          lag, source, S.el("td", { title: S.when(row.computed_at) }, S.when(row.computed_at).slice(5, 16))];
      } else if (facts) {
        cells = [S.el("td", { class: "day" }, facts.tradeDate), S.el("td", {}, S.badge("live")), S.el("td", {}, "–"), lag, source, S.el("td", {}, "–")];
      } else {
        cells = [S.el("td", { colSpan: 6, class: "muted" }, state.readable ? "nothing in the lake yet" : "–")];
      }
      return S.el("tr", { "data-symbol": root }, S.el("td", {}, root), ...cells, live);
    });
    body.replaceChildren(...rows);
    ticks();
  }

  // The status line's freshness: every root's lag with its unit, "CL 3 s · ES 4 s · NG 61 s".
  function freshLine() {
    const parts = roots().map((root) => {
      const facts = freshFacts(root);
      const seconds = lagSeconds(facts);
      const from = facts && facts.through !== null ? facts.source : "";
      return S.el("span", {
        "data-symbol": root, "data-lag-s": seconds === null ? "" : String(Math.round(seconds)), "data-source": from,
        title: from ? `from the ${SOURCES[from]}` : null,
      }, `${root} ${S.lag(seconds)}`);
    });
    const line = document.getElementById("live-fresh");
    line.replaceChildren(...parts.flatMap((part, i) => (i ? [" · ", part] : [part])));
  }

  // The time-dependent cells: each lag and each live bar's age (every second and every bar).
  function ticks(only) {
    freshLine();
    for (const cell of document.querySelectorAll("#freshness td.lag")) {
      if (only && cell.dataset.symbol !== only) continue;
      const facts = freshFacts(cell.dataset.symbol);
      const seconds = lagSeconds(facts);
      const from = facts && facts.through !== null ? facts.source : "";
      cell.textContent = S.lag(seconds);
      cell.dataset.lagS = seconds === null ? "" : String(Math.round(seconds));
      cell.dataset.source = from;
      const said = cell.parentElement && cell.parentElement.querySelector("td.source");
      if (said) {
        said.textContent = from ? SOURCES[from] : "–";
        said.dataset.source = from;
      }
    }
    for (const cell of document.querySelectorAll("#freshness td.live-age")) {
      if (only && cell.dataset.symbol !== only) continue;
      const seen = state.lastLive[cell.dataset.symbol];
      cell.textContent = seen ? `${S.lag((now() - seen.arrived) / 1000)} ago (${hhmmss(epoch(seen.ts))})` : "–";
    }
  }

  // A live bar moves its root's freshness: a newer session, or a later close in the same one.
  function freshen(message) {
    const through = (epoch(message.ts) + (BAR_SECONDS[message.interval] || 0)) * 1000;
    const known = state.liveFresh[message.symbol];
    const newer = !known || message.trade_date > known.tradeDate;
    if (newer || (message.trade_date === known.tradeDate && through > known.through)) {
      state.liveFresh[message.symbol] = { tradeDate: message.trade_date, through };
    }
    const row = document.querySelector(`#freshness tr[data-symbol="${message.symbol}"]`);
    const shown = row && row.querySelector("td.day");
    if (!row || !shown || shown.textContent !== freshFacts(message.symbol).tradeDate) freshness();
    else ticks(message.symbol);
  }

  // ---- the picker -------------------------------------------------------------------------

  // The picker offers every symbol the API serves; a bookmarked one (`#symbol=`) is taken in
  // any case, and one not offered is said, never swapped for another silently.
  function picker() {
    const select = document.getElementById("symbol");
    const options = offered();
    const wanted = (S.fragment().get("symbol") || "").trim();
    let current = state.symbol;
    state.unknownSymbol = null;
    if (!current && wanted) {
      current = options.find((s) => s.toLowerCase() === wanted.toLowerCase()) || null;
      if (!current) state.unknownSymbol = wanted;
    } else if (!current) {
      current = options[0] || null;
    }
    const placeholder = current ? [] : [S.el("option", { value: "", selected: true, disabled: true }, "pick a symbol")];
    select.replaceChildren(...placeholder, ...options.map((s) => S.el("option", { value: s, selected: s === current }, s)));
    state.symbol = current;
  }

  // A bookmark's symbol not offered is said, and so is its day when that is no day either:
  // both wrong picks at once, not one after the other.
  function unknownSymbol() {
    state.generation += 1; // a load still running draws nothing
    clearView();
    const said = `symbol ${state.unknownSymbol} is not offered here: pick one of ${offered().join(", ")}`;
    const dayProblem = S.dayProblem("day", (S.fragment().get("day") || "").trim());
    info(dayProblem ? `${said}; and ${dayProblem}` : said, "unknown_symbol");
  }

  document.getElementById("symbol").addEventListener("change", (event) => {
    state.symbol = event.target.value;
    state.unknownSymbol = null;
    const params = S.fragment();
    params.set("symbol", state.symbol);
    S.setFragment(params);
    reload(null);
  });

  // A bookmark opened in this tab (only the fragment changes): take its symbol and day.
  window.addEventListener("hashchange", () => {
    state.symbol = null;
    picker();
    if (state.symbol) reload(null);
    else if (state.unknownSymbol) unknownSymbol();
  });

  // A day picked by hand stays (the stream then only adds to it when it is that day).
  document.getElementById("day-input").addEventListener("change", (event) => {
    const params = S.fragment();
    if (event.target.value) params.set("day", event.target.value);
    else params.delete("day");
    S.setFragment(params);
    reload(event.target.value || null);
  });

  // ---- the stream -------------------------------------------------------------------------

  function liveState(text, kind) {
    const box = document.getElementById("live-state");
    box.textContent = "live: " + text;
    box.dataset.kind = kind;
  }

  function connect() {
    const symbols = roots();
    if (!symbols.length) return;
    const ws = S.socket("v1/stream/bars", { symbols: symbols.join(","), interval: "all" });
    state.ws = ws;
    let refused = null;
    ws.onmessage = (event) => {
      const arrived = now();
      const message = JSON.parse(event.data);
      if (message.type === "bar") onBar(message, arrived);
      else if (message.type === "status") liveState(`${message.event} ${message.detail}`.trim(), "ok");
      else if (message.type === "dropped") liveState(`${message.dropped_total} messages dropped (slow page)`, "warn");
      else if (message.type === "error") refused = message.error;
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      if (event.code === 4401 || event.code === 4403) {
        liveState("refused", "error");
        S.showError(new S.ApiError(event.code - 4000, refused || "the stream refused this key"));
        return; // a new key reconnects
      }
      liveState(refused ? refused : `closed (${event.code}); reconnecting`, refused ? "off" : "warn");
      setTimeout(() => { if (state.ws === ws) connect(); }, refused ? 10000 : 2000);
    };
  }

  function onBar(message, arrived) {
    state.lastLive[message.symbol] = { arrived, ts: message.ts };
    freshen(message);
    if (!state.symbol || message.symbol !== rootOf(state.symbol)) return;
    if (state.loading) {
      state.pending.push([message, arrived]);
      return;
    }
    const pinned = S.fragment().get("day");
    if (pinned && message.trade_date !== pinned) return;
    if (!state.tradeDate || message.trade_date > state.tradeDate) {
      // A new session: its minutes so far are in the lake (the stream lands them); read them,
      // then go on with this bar and any that arrive meanwhile.
      state.pending.push([message, arrived]);
      reload(message.trade_date);
      return;
    }
    if (message.trade_date < state.tradeDate) return;
    if (isContinuous(state.symbol) && !joins(message)) return;
    if (message.interval === "1m") minute(message);
    else fiveSeconds(message);
    state.liveBars += 1;
    chartEl.dataset.liveBars = String(state.liveBars);
    tape(message);
    requestAnimationFrame(() => {
      // Runs in the frame that drew the update: the chart draws in its own earlier callback.
      state.latency.push({ ts: message.ts, interval: message.interval, arrived, drawn: now() });
      if (state.latency.length > 20000) state.latency.splice(0, 10000);
    });
  }

  // Whether a live bar (the stream's front contract) extends the picked continuous series:
  // only when it is the contract the series holds then.
  function joins(message) {
    const held = heldContract();
    if (held === message.contract) {
      joinState(`live: ${held} extends ${state.symbol}`, held);
      return true;
    }
    joinState(
      held
        ? `${state.symbol} holds ${held}; the stream brings ${message.contract}: no live bars join it`
        : `no contract is known for ${state.symbol} on this day: no live bars join it`,
      held || "",
    );
    return false;
  }

  function minute(message) {
    const time = epoch(message.ts);
    state.forming.delete(time);
    put({ time, open: message.open, high: message.high, low: message.low, close: message.close, volume: message.volume, final: true });
  }

  function fiveSeconds(message) {
    const t = epoch(message.ts);
    const time = t - (t % 60);
    const known = state.candles.get(time);
    if (known && known.final) return; // the minute closed: the lake's or the stream's 1m bar stands
    let parts = state.forming.get(time);
    if (!parts) state.forming.set(time, (parts = new Map()));
    parts.set(t, message); // a repeated bar replaces, never double counts
    // The lake's part of the minute (captured while it formed), then the bars after it.
    const lake = known && known.lake ? known.lake : null;
    const bars = [...parts.entries()].sort((a, b) => a[0] - b[0])
      .filter((entry) => !lake || entry[0] >= lake.through).map((entry) => entry[1]);
    const pieces = lake ? [lake, ...bars] : bars;
    put({
      time,
      open: pieces[0].open,
      high: Math.max(...pieces.map((b) => b.high)),
      low: Math.min(...pieces.map((b) => b.low)),
      close: pieces[pieces.length - 1].close,
      volume: pieces.reduce((sum, b) => sum + b.volume, 0),
      final: false,
      lake,
    });
  }

  function clearTape(symbol) {
    document.querySelector("#tape tbody").replaceChildren();
    state.tapeSymbol = symbol;
  }

  function tape(message) {
    const body = document.querySelector("#tape tbody");
    const t = epoch(message.ts);
    body.prepend(
      S.el("tr", { "data-interval": message.interval, "data-symbol": message.symbol },
        S.el("td", {}, hhmmss(t)), S.el("td", {}, message.interval), S.el("td", {}, message.open),
        S.el("td", {}, message.high), S.el("td", {}, message.low), S.el("td", {}, message.close),
        S.el("td", {}, message.volume)),
    );
    while (body.rows.length > TAPE_ROWS) body.deleteRow(-1);
  }

  // ---- start ------------------------------------------------------------------------------

  async function start() {
    if (state.ws) {
      const old = state.ws;
      state.ws = null;
      old.close();
    }
    const ok = await refreshReadiness();
    picker();
    freshness();
    if (!ok) return;
    if (state.symbol) reload(null);
    else if (state.unknownSymbol) unknownSymbol();
    connect();
  }

  // A link's `?symbol=…&day=…` (checked by the server) becomes the page's own picks, kept in
  // the fragment like every later pick; the query leaves the address, so it never overrides
  // a pick made here.
  function takeQueryPicks() {
    if (!location.search) return;
    const params = S.fragment();
    for (const name of ["symbol", "day"]) {
      const [picked] = S.metaList("pick-" + name);
      if (picked && !params.has(name)) params.set(name, picked);
    }
    const text = params.toString();
    history.replaceState(null, "", location.pathname + (text ? "#" + text : ""));
  }

  takeQueryPicks();
  S.keyForm(() => {
    S.clearError();
    start();
  });
  setInterval(() => ticks(), 1000);
  setInterval(async () => {
    if ((await refreshReadiness()) && !state.loading) dayState(state.symbol || "", state.tradeDate);
  }, REFRESH_MS);
  start();
})();
