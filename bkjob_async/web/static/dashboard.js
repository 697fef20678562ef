// bkjob-async dashboard: fills the page from the dashboard's JSON and its live feed.
// Rule: every value from the server goes into the page as text (textContent, attributes set
// one by one), never as markup: job, step and host names are user input. No library, no
// build step; every URL is relative to the dashboard's root (it may be mounted under a prefix).
// Times are shown in the browser's own time zone, which the header names.
"use strict";

(function () {
  const body = document.body;
  const root = body.dataset.root;
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  // What a test (and a curious person) can read: entries received, duplicates, resets.
  const stats = { received: 0, duplicates: 0, resets: 0, opened: 0, shown: 0, dropped: 0 };
  window.bkjobDashboard = stats;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    fill(node, children, true);
    return node;
  }

  // Put children in a node (nulls left out: a card that is not there is not "null").
  function fill(node, children, append) {
    const kept = children.filter((c) => c !== null && c !== undefined && c !== false)
      .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
    if (append) node.append(...kept); else node.replaceChildren(...kept);
    return node;
  }

  async function api(path, options) {
    const response = await fetch(root + path, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
    return data;
  }

  // The run's end, once the overview has read it: the header says so rather than "live".
  let runEnded = null;
  function setLive(text, cls) {
    if (runEnded !== null && cls === "on") { text = "ended at " + timeOf(runEnded); cls = "ended"; }
    live.textContent = text;
    live.className = "live " + (cls || "");
  }

  function jobHref(job) { return root + "job/" + job; }

  function fmt(n) {
    if (n === null || n === undefined) return "-";
    return typeof n === "number" ? n.toLocaleString("en") : String(n);
  }

  function seconds(s) { return s === null || s === undefined ? "-" : (s * 1000).toFixed(0) + " ms"; }

  // --- times, in the browser's zone -----------------------------------------------------------

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const precise = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23" });
  const dated = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  let offset = "";
  try {
    const part = new Intl.DateTimeFormat("en", { timeZoneName: "shortOffset" }).formatToParts(new Date()).find((p) => p.type === "timeZoneName");
    offset = part ? part.value : "";
  } catch (e) { offset = ""; }
  const zoneText = zone + (offset ? " (" + offset + ")" : "");
  document.querySelector("header").append(el("span", { id: "zone", class: "muted zone", title: "times are shown in this zone", text: "times: " + zoneText }));

  function toDate(value) { return value instanceof Date ? value : new Date(value); }
  function timeOf(value, exact) {
    if (value === null || value === undefined || value === "") return "-";
    const date = toDate(value);
    const today = new Date().toDateString() === date.toDateString();
    return today ? (exact ? precise : clock).format(date) : dated.format(date);
  }
  function span(ms) {
    if (ms === null || ms === undefined || ms < 0) return "-";
    const s = Math.round(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function timeCell(value, label) {
    return el("td", { "data-label": label, title: value ? toDate(value).toISOString() + " (UTC)" : null, text: timeOf(value) });
  }

  // --- the live feed ------------------------------------------------------------------------

  // A cursor is "<feed>-<generation>.<number>": one feed's numbers only grow.
  function cursorOf(id) {
    const dot = id.lastIndexOf(".");
    return { feed: id.slice(0, dot), number: Number(id.slice(dot + 1)) };
  }

  function openStream(params, onEntries, onReset) {
    const query = new URLSearchParams(params);
    const source = new EventSource(root + "api/stream?" + query.toString());
    let last = { feed: "", number: -1 };
    let batch = [];
    let scheduled = false;
    stats.source = source;
    function flush() {
      scheduled = false;
      const entries = batch;
      batch = [];
      if (entries.length) onEntries(entries);
    }
    source.onopen = () => { stats.opened += 1; setLive("live", "on"); };
    source.onerror = () => setLive("reconnecting", "off");
    source.onmessage = (message) => {
      stats.received += 1;
      const cursor = cursorOf(message.lastEventId);
      if (cursor.feed === last.feed && cursor.number <= last.number) { stats.duplicates += 1; return; }
      last = cursor;
      batch.push(message.data);
      // At thousands a second only the newest few are ever shown: keep no more.
      if (batch.length > 2000) { stats.dropped += batch.length - 1000; batch = batch.slice(-1000); }
      if (!scheduled) { scheduled = true; setTimeout(flush, 100); }
    };
    source.addEventListener("reset", () => {
      stats.resets += 1;
      batch = [];
      last = { feed: "", number: -1 };
      notice("The dashboard started over at " + timeOf(Date.now()) + " (it restarted, or missed events while nobody looked): what it shows was reloaded.");
      onReset();
    });
    return source;
  }

  function notice(text) {
    let box = document.getElementById("notice");
    if (!box) { box = el("p", { id: "notice", class: "notice" }); main.prepend(box); }
    box.textContent = text;
  }

  function describe(entry) {
    const change = (entry.previous ? entry.previous + " \u2192 " : "") + (entry.current || "");
    if (entry.kind === "host" || entry.kind === "container") return entry.kind + " " + (entry.label || entry[entry.kind]) + " (step " + entry.step + "): " + change;
    if (entry.kind === "step") return "step " + entry.step + ": " + change;
    if (entry.kind === "job") return "job: " + change;
    if (entry.kind === "finished") return "finished: " + change;
    if (entry.kind === "gap") return "nobody looked from " + timeOf(entry.from) + " to " + timeOf(entry.to) + ": changes meanwhile are not listed";
    return entry.kind + ": " + change;
  }

  function feedRow(entry) {
    const state = entry.state || (entry.kind === "finished" ? "done" : "");
    return el("tr", { "data-id": entry.id, class: "k-" + entry.kind + " s-" + state },
      el("td", { class: "at", "data-label": "at", text: timeOf(entry.at, true) }),
      el("td", { "data-label": "job" }, entry.job ? el("a", { href: jobHref(entry.job), text: entry.job }) : ""),
      el("td", { class: "what", "data-label": "change", text: describe(entry) }),
      el("td", { class: "muted id", "data-label": "id", text: entry.id }));
  }

  // Show the newest of ``entries`` (JSON texts, oldest first) at the top of ``rows``, at most
  // ``keep`` rows in all: only the rows shown are ever made.
  function prependRows(rows, entries, keep, accept) {
    const fresh = [];
    for (let i = entries.length - 1; i >= 0 && fresh.length < keep; i--) {
      const entry = JSON.parse(entries[i]);
      if (!accept || accept(entry)) fresh.push(feedRow(entry));
    }
    stats.shown += fresh.length;
    rows.prepend(...fresh);
    while (rows.childElementCount > keep) rows.lastElementChild.remove();
  }

  // --- overview -----------------------------------------------------------------------------

  function card(title, ...rows) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...rows);
  }

  function pairs(obj, prefix, links) {
    const list = el("dl", { class: "pairs" });
    for (const [key, value] of Object.entries(obj)) {
      const shown = links && links[key] ? el("a", { href: links[key], text: fmt(value) }) : fmt(value);
      list.append(el("div", { class: (prefix || "") + key }, el("dt", { text: key.replace(/_/g, " ") }), el("dd", {}, shown)));
    }
    return list;
  }

  // A chart of rates a second (plain SVG): one line a series, the newest on the right.
  function chart(samples, series) {
    const width = 600, height = 150, pad = 4;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 18));
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    const top = Math.max(1, ...samples.flatMap((s) => series.map((x) => s[x.index])));
    const t0 = samples.length ? samples[0][0] : 0;
    const t1 = samples.length ? samples[samples.length - 1][0] : 1;
    const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
    const y = (v) => height - pad - (v / top) * (height - 2 * pad);
    for (const line of [0.5, 1]) {
      const grid = document.createElementNS(SVG, "line");
      grid.setAttribute("x1", 0); grid.setAttribute("x2", width);
      grid.setAttribute("y1", y(top * line)); grid.setAttribute("y2", y(top * line));
      grid.setAttribute("class", "grid-line");
      svg.append(grid);
    }
    for (const s of series) {
      const path = document.createElementNS(SVG, "polyline");
      path.setAttribute("points", samples.map((p) => x(p[0]).toFixed(1) + "," + y(p[s.index]).toFixed(1)).join(" "));
      path.setAttribute("class", "series " + s.name);
      path.setAttribute("data-series", s.name);
      svg.append(path);
    }
    const label = (text, at, anchor) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", at); t.setAttribute("y", height + 14);
      t.setAttribute("text-anchor", anchor);
      t.textContent = text;
      svg.append(t);
    };
    if (samples.length) { label(timeOf(t0), 0, "start"); label(timeOf(t1), width, "end"); }
    const scale = document.createElementNS(SVG, "text");
    scale.setAttribute("x", width - 2); scale.setAttribute("y", 12); scale.setAttribute("text-anchor", "end");
    scale.textContent = fmt(Math.round(top)) + "/s";
    svg.append(scale);
    return svg;
  }

  async function overview() {
    const state = el("div", { id: "run" });
    const cards = el("div", { class: "cards", id: "cards" });
    const rates = el("div", { id: "rates" });
    const minute = el("div", { id: "minute" });
    const recent = el("tbody", { id: "recent" });
    main.append(el("h1", { text: "Overview" }), state, cards,
      el("section", { class: "card wide" }, el("h2", { text: "A second, over the last minutes" }), rates),
      el("section", { class: "card wide" }, el("h2", { text: "The last minute" }), minute),
      el("h2", { text: "Latest transitions" }),
      el("table", { class: "feed" }, recent));
    const samples = [];
    const series = [
      { name: "transitions", index: 1, label: "transitions" },
      { name: "polls", index: 2, label: "polls" },
      { name: "failures", index: 3, label: "failures (hosts failed, polls failed)" },
    ];
    async function refresh() {
      let data;
      try { data = await api("api/overview?since=" + (samples.length ? samples[samples.length - 1][0] : 0)); } catch (e) { setLive("no answer", "off"); return null; }
      samples.push(...data.series);
      while (samples.length > 900) samples.shift();
      const run = data.run;
      runEnded = run.ended;
      if (live.className.includes("on") || live.className.includes("ended")) setLive("live", "on");
      const total = Object.values(data.hosts).reduce((a, b) => a + b, 0);
      fill(state, [run.ended
        ? el("p", { class: "ended" }, el("strong", { text: "The run ended at " + timeOf(run.ended) }),
          " (watched from " + timeOf(run.started) + ", " + span(run.ended - run.started) + "): " + fmt(data.jobs.succeeded) + " jobs succeeded, " + fmt(data.jobs.failed) + " failed, " +
          fmt(data.jobs_total) + " in all; " + fmt(total) + " hosts, " + fmt(data.failed_hosts) + " failed.")
        : run.started ? el("p", { class: "muted" }, fmt(run.watches) + " watches of " + fmt(run.jobs_watched) + " jobs, since " + timeOf(run.started) + ".")
          : el("p", { class: "muted", text: "No watch has been open yet." })]);
      const budget = data.rate_limit === null ? "no limit" : fmt(data.rate_limit) + "/s";
      const failing = data.jobs_with_failed_hosts;
      fill(cards, [
        card("Jobs (" + fmt(data.jobs_total) + ")", pairs(data.jobs, "b-", Object.fromEntries(Object.keys(data.jobs).map((b) => [b, root + "jobs?status=" + b]))),
          pairs({ with_failed_hosts: failing }, "b-", { with_failed_hosts: root + "jobs?status=failed" })),
        card("Hosts", pairs(data.hosts), data.failed_hosts ? el("p", {}, el("a", { href: root + "failed", text: fmt(data.failed_hosts) + " failed: which, and why" })) : null),
        Object.keys(data.containers).length ? card("Containers", pairs(data.containers)) : null,
        card("Transitions", el("p", { class: "big", id: "tps", text: data.transitions_per_second.toFixed(1) + "/s" })),
        card("Polls", el("p", { class: "big", id: "rate", text: data.poll_rate.toFixed(1) + "/s" }),
          el("p", { text: "budget " + budget + " \u00b7 " + fmt(data.in_flight) + "/" + fmt(data.max_in_flight) + " in flight" })),
        card("Change to event", el("p", { class: "big", text: "p50 " + seconds(data.delay.p50) }),
          el("p", { text: "p99 " + seconds(data.delay.p99) })),
        card("Errors and retries", pairs(Object.assign({ retries: data.retries, requests: data.requests,
          unchanged: data.unchanged_polls, "bk-job down": data.stalled ? "yes" : "no",
          "jobs failing alone": data.failing_jobs, "failures: jobs'": data.job_failures,
          "failures: bk-job's": data.server_failures }, data.errors))),
      ]);
      fill(rates, [chart(samples, series), el("p", { class: "legend" }, ...series.map((s) => el("span", { class: "key " + s.name, text: s.label })))]);
      const m = data.last_minute;
      fill(minute, [
        pairs({ transitions: m.transitions, polls: m.polls, failures: m.failures, jobs_that_changed: m.jobs_changed, jobs_ended: m.jobs_ended, of_them_failed: m.jobs_failed }),
        m.changes.length ? el("ul", { class: "changes", id: "changes" }, ...m.changes.map((c) => el("li", {},
          el("span", { class: "muted", text: timeOf(c.at) + " " }), el("a", { href: jobHref(c.job), text: c.job }),
          " " + (c.previous ? c.previous + " \u2192 " : "") + c.current))) : el("p", { class: "muted", text: "No job changed status in the last minute." }),
      ]);
      body.dataset.loaded = "1";
      return data;
    }
    await refresh();
    setInterval(refresh, 1000);
    openStream({ backlog: 20, tail: 20 }, (entries) => prependRows(recent, entries, 20),
      () => recent.replaceChildren());
  }

  // --- jobs ---------------------------------------------------------------------------------

  function statusCell(r) {
    const text = r.ended || r.status;
    return el("td", { "data-label": "status" }, text, r.bucket === "waiting" ? el("span", { class: "hint", text: " \u00b7 waits for a person" }) : null,
      r.failed && r.bucket === "running" ? el("span", { class: "hint bad", text: " \u00b7 hosts failed" }) : null);
  }

  async function jobs() {
    const params = new URLSearchParams(location.search);
    const state = {
      q: params.get("q") || "", status: params.get("status") || "", sort: params.get("sort") || "id",
      order: params.get("order") || "asc", offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
    };
    const q = el("input", { id: "q", type: "search", placeholder: "job id or name", value: state.q });
    const status = el("select", { id: "status" }, el("option", { value: "", text: "any status" }));
    const sort = el("select", { id: "sort" }, ...["id", "name", "status", "failed", "hosts", "updated", "started", "duration"].map((k) => el("option", { value: k, text: "sort by " + k })));
    const order = el("select", { id: "order" }, el("option", { value: "asc", text: "ascending" }), el("option", { value: "desc", text: "descending" }));
    const limit = el("select", { id: "limit" }, ...[25, 50, 100, 200].map((n) => el("option", { value: n, text: n + " a page" })));
    const prev = el("button", { id: "prev", type: "button", text: "\u2190 previous" });
    const next = el("button", { id: "next", type: "button", text: "next \u2192" });
    const range = el("span", { id: "range" });
    const rows = el("tbody", { id: "rows" });
    const heads = ["job", "name", "status", "hosts", "failed", "started", "ended", "duration"];
    main.append(el("h1", { text: "Jobs" }), el("form", { class: "controls", onsubmit: (e) => e.preventDefault() }, q, status, sort, order, limit, prev, range, next),
      el("table", { class: "jobs" }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { text: h })))), rows));
    sort.value = state.sort; order.value = state.order; limit.value = String(state.limit);
    let bucketsShown = false;
    let asked = 0;
    async function load() {
      const query = new URLSearchParams({ q: state.q, status: state.status, sort: state.sort, order: state.order, offset: state.offset, limit: state.limit });
      history.replaceState(null, "", "?" + query.toString());
      const mine = ++asked;
      let data;
      try { data = await api("api/jobs?" + query.toString()); } catch (e) { range.textContent = e.message; return; }
      if (mine !== asked) return;  // an older answer: a newer one is coming
      if (!bucketsShown) {
        for (const b of data.buckets) status.append(el("option", { value: b, text: b === "failed" ? "failed (or with failed hosts)" : b }));
        status.value = state.status;
        bucketsShown = true;
      }
      const now = data.now || Date.now();
      fill(rows, data.rows.map((r) => el("tr", { class: "b-" + r.bucket, "data-job": r.job },
        el("td", { "data-label": "job" }, el("a", { href: jobHref(r.scope + "/" + r.job), text: r.job })),
        el("td", { class: "name", "data-label": "name", text: r.name === null ? "" : r.name }),
        statusCell(r),
        el("td", { "data-label": "hosts", text: r.containers ? fmt(r.finished) + "/" + fmt(r.containers) + " containers" : fmt(r.finished) + "/" + fmt(r.hosts) }),
        el("td", { "data-label": "failed", text: fmt(r.failed) }),
        timeCell(r.start, "started"), timeCell(r.end, "ended"),
        el("td", { "data-label": "duration", text: r.start ? span((r.end || now) - r.start) + (r.end ? "" : " so far") : "-" }))));
      const first = data.total ? data.offset + 1 : 0;
      range.textContent = fmt(first) + "\u2013" + fmt(data.offset + data.rows.length) + " of " + fmt(data.total);
      prev.disabled = data.offset === 0;
      next.disabled = data.offset + data.rows.length >= data.total;
      body.dataset.loaded = String(asked);
    }
    function change() {
      state.q = q.value; state.status = status.value; state.sort = sort.value; state.order = order.value;
      state.limit = Number(limit.value); state.offset = 0; load();
    }
    q.addEventListener("input", change);
    for (const control of [status, sort, order, limit]) control.addEventListener("change", change);
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
    next.addEventListener("click", () => { state.offset += state.limit; load(); });
    await load();
    setLive("refreshing every 2 s", "on");
    setInterval(load, 2000);
  }

  // --- failed hosts across jobs ---------------------------------------------------------------

  async function failed() {
    const params = new URLSearchParams(location.search);
    const state = { job: params.get("job") || "", error: params.get("error") || "", offset: Number(params.get("offset") || 0) };
    const job = el("input", { id: "f-job", type: "search", placeholder: "job id or name", value: state.job });
    const error = el("input", { id: "f-error", type: "search", placeholder: "error, e.g. exit 3", value: state.error });
    const prev = el("button", { id: "prev", type: "button", text: "\u2190 previous" });
    const next = el("button", { id: "next", type: "button", text: "next \u2192" });
    const range = el("span", { id: "range" });
    const errors = el("p", { id: "errors", class: "chips" });
    const rows = el("tbody", { id: "failed-hosts" });
    main.append(el("h1", { text: "Failed hosts" }),
      el("p", { class: "muted", text: "Every host (or container) that failed in the jobs watched, newest first; a retried host leaves the list." }),
      el("form", { class: "controls", onsubmit: (e) => e.preventDefault() }, job, error, prev, range, next), errors,
      el("table", { class: "failed-all" }, el("thead", {}, el("tr", {}, ...["host", "job", "step", "status", "exit code", "error code", "failed at"].map((h) => el("th", { text: h })))), rows));
    let asked = 0;
    async function load() {
      const query = new URLSearchParams({ job: state.job, error: state.error, offset: state.offset, limit: 50 });
      history.replaceState(null, "", "?" + query.toString());
      const mine = ++asked;
      let data;
      try { data = await api("api/failed?" + query.toString()); } catch (e) { range.textContent = e.message; return; }
      if (mine !== asked) return;
      fill(errors, data.errors.map((e) => el("button", { type: "button", class: "chip", "data-error": e.error, text: e.error + " \u00d7 " + fmt(e.hosts),
        onclick: () => { error.value = e.error; state.error = e.error; state.offset = 0; load(); } })));
      fill(rows, data.rows.map((f) => el("tr", { "data-job": f.job, "data-step": f.step, ["data-" + f.kind]: f[f.kind] },
        el("td", { "data-label": f.kind, text: f.label }),
        el("td", { "data-label": "job" }, el("a", { href: jobHref(f.job_text), text: f.job }), f.name ? " " + f.name : ""),
        el("td", { "data-label": "step", text: f.step }),
        el("td", { "data-label": "status", class: "bad", text: f.status }),
        el("td", { "data-label": "exit code", text: f.exit_code === null ? "-" : f.exit_code }),
        el("td", { "data-label": "error code", text: f.error_code === null ? "-" : f.error_code }),
        timeCell(f.at, "failed at"))));
      const first = data.total ? data.offset + 1 : 0;
      range.textContent = fmt(first) + "\u2013" + fmt(data.offset + data.rows.length) + " of " + fmt(data.total);
      prev.disabled = data.offset === 0;
      next.disabled = data.offset + data.rows.length >= data.total;
      body.dataset.loaded = String(asked);
    }
    job.addEventListener("input", () => { state.job = job.value; state.offset = 0; load(); });
    error.addEventListener("input", () => { state.error = error.value; state.offset = 0; load(); });
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - 50); load(); });
    next.addEventListener("click", () => { state.offset += 50; load(); });
    await load();
    setLive("refreshing every 2 s", "on");
    setInterval(load, 2000);
  }

  // --- one job ------------------------------------------------------------------------------

  async function job() {
    const scope = body.dataset.scope;
    const id = body.dataset.job;
    const path = "api/job/" + scope + "/" + id;
    let source = null;
    // The log tails opened, by step, kind and host: a refresh draws them open again.
    const opened = new Map();
    async function render() {
      let data;
      try { data = await api(path); } catch (e) { fill(main, [el("h1", { text: "Job " + id }), el("p", { class: "error", text: e.message })]); return; }
      const title = el("h1", {}, "Job " + id + " ", el("span", { class: "name", id: "job-name", text: data.name === null ? "" : data.name }));
      const status = el("p", {}, "status ", el("strong", { id: "job-status", text: data.status }),
        el("span", { id: "job-times", class: "muted" }, " \u00b7 started " + timeOf(data.start) + (data.end ? " \u00b7 ended " + timeOf(data.end) + " \u00b7 took " + span(data.end - data.start) : data.start ? " \u00b7 running for " + span(Date.now() - data.start) : "")));
      const failedRows = el("tbody", { id: "failed" });
      const steps = el("div", { id: "steps" });
      const cells = new Map();
      // A host or a container ("kind"): its key is host.host or host.container.
      function failedRow(step, kind, host) {
        const key = step + " " + kind + " " + host[kind];
        const tail = el("pre", { class: "log", hidden: "hidden", "data-key": key });
        const button = el("button", { type: "button", text: "log tail" });
        if (opened.has(key)) { tail.textContent = opened.get(key); tail.hidden = false; }
        button.addEventListener("click", async () => {
          button.disabled = true;
          let text;
          try {
            const log = await api(path + "/log?" + new URLSearchParams({ step: step, [kind]: host[kind] }).toString());
            text = log.tail || "(empty log)";
          } catch (e) { text = e.message; }
          opened.set(key, text);
          // (this row, or the one a refresh drew in its place meanwhile)
          for (const shown of [tail, ...document.querySelectorAll("#failed pre.log")]) {
            if (shown.dataset.key === key) { shown.textContent = text; shown.hidden = false; }
          }
        });
        return el("tr", { ["data-" + kind]: host[kind], "data-step": step },
          el("td", { "data-label": kind, text: host.label }), el("td", { "data-label": "step", text: step }), el("td", { "data-label": "status", text: host.status_name || host.current }),
          el("td", { "data-label": "exit code", text: host.exit_code === null || host.exit_code === undefined ? "-" : host.exit_code }),
          el("td", { "data-label": "error code", text: host.error_code === null || host.error_code === undefined ? "-" : host.error_code }),
          el("td", { class: "log-cell" }, button, tail));
      }
      function count(summary, grid) {
        const counts = {};
        for (const cell of grid.children) counts[cell.dataset.state] = (counts[cell.dataset.state] || 0) + 1;
        summary.textContent = Object.entries(counts).map(([k, n]) => k + " " + n).join(" \u00b7 ") || "no hosts";
      }
      const objects = (step) => step.hosts.map((h) => ["host", h]).concat((step.containers || []).map((c) => ["container", c]));
      const kindShown = data.steps.some((step) => (step.containers || []).length) ? "containers" : "hosts";
      for (const step of data.steps) {
        const grid = el("div", { class: "grid" });
        for (const [kind, host] of objects(step)) {
          const cell = el("span", { class: kind + " s-" + host.state, title: host.label + ": " + host.status_name, ["data-" + kind]: host[kind], "data-step": step.step, "data-state": host.state });
          cells.set(step.step + " " + kind + " " + host[kind], cell);
          grid.append(cell);
          if (host.failed) failedRows.append(failedRow(step.step, kind, host));
        }
        const summary = el("p", { class: "muted counts" });
        const actions = data.operations && step.actions.length ? el("span", { class: "step-actions" }, ...step.actions.map((a) =>
          el("button", { type: "button", "data-action": a, "data-step": step.step, text: a, onclick: () => operate(a, step.step) }))) : null;
        steps.append(el("section", { class: "step", "data-step": step.step },
          el("h2", {}, el("span", { class: "name", text: step.name === null ? "" : step.name }), " (step " + step.step + ", round " + (step.execute_count || 0) + ") ",
            el("span", { class: "step-status", text: step.status }),
            el("span", { class: "muted", text: step.start ? " \u00b7 " + timeOf(step.start) + (step.end ? "\u2013" + timeOf(step.end) + " (" + span(step.end - step.start) + ")" : "") : "" })),
          step.hint ? el("p", { class: "hint waiting", text: step.hint }) : null, actions,
          summary, grid));
        count(summary, grid);
      }
      const said = el("span", { id: "op-result" });
      async function operate(action, step) {
        if ((action === "terminate" || action === "refuse") && !confirm(action === "terminate" ? "Terminate this job?" : "Refuse: end this job at this step?")) return;
        const token = document.getElementById("token");
        sessionStorage.setItem("bkjob-token", token.value);
        said.textContent = "\u2026";
        try {
          const done = await api(path + "/" + action, { method: "POST", headers: { "Content-Type": "application/json", "X-Dashboard-Token": token.value }, body: JSON.stringify(step ? { step: step } : {}) });
          said.textContent = "done: " + done.done;
          setTimeout(render, 800);
        } catch (e) { said.textContent = e.message; }
      }
      const parts = [title, status];
      if (data.operations) parts.push(operationsForm(kindShown, data, operate, said));
      parts.push(steps, el("h2", { text: "Failed " + kindShown }),
        el("table", { class: "failed" }, el("thead", {}, el("tr", {}, ...[kindShown.slice(0, -1), "step", "status", "exit code", "error code", ""].map((h) => el("th", { text: h })))), failedRows));
      fill(main, parts);
      body.dataset.loaded = "1";
      if (source) source.close();
      source = openStream({ job: scope + "/" + id, after: data.after }, (entries) => {
        for (const text of entries) {
          const entry = JSON.parse(text);
          if (entry.kind === "host" || entry.kind === "container") {
            const kind = entry.kind;
            const cell = cells.get(entry.step + " " + kind + " " + entry[kind]);
            if (!cell) { render(); return; }  // a host or a round not shown yet
            cell.className = kind + " s-" + entry.state;
            cell.dataset.state = entry.state;
            cell.title = cell.title.split(": ")[0] + ": " + entry.current;
            const section = cell.closest("section");
            count(section.querySelector(".counts"), cell.parentElement);
            const old = failedRows.querySelector('tr[data-step="' + CSS.escape(String(entry.step)) + '"][data-' + kind + '="' + CSS.escape(entry[kind]) + '"]');
            if (old) old.remove();
            if (entry.state === "failed") failedRows.append(failedRow(entry.step, kind, entry));
          } else if (entry.kind === "job" || entry.kind === "finished") {
            document.getElementById("job-status").textContent = entry.current;
            if (entry.kind === "finished" || entry.current === "WAITING_USER") { render(); return; }
          } else if (entry.kind === "step") {
            const section = steps.querySelector('section[data-step="' + CSS.escape(String(entry.step)) + '"] .step-status');
            if (section && entry.current !== "WAITING_USER") section.textContent = entry.current; else { render(); return; }
          }
        }
      }, render);
    }
    await render();
  }

  function operationsForm(kind, data, operate, said) {
    const token = el("input", { type: "password", id: "token", placeholder: "operations token", autocomplete: "off" });
    token.value = sessionStorage.getItem("bkjob-token") || "";
    const failedSteps = data.steps.some((s) => s.status === "FAIL");
    return el("form", { class: "controls ops", onsubmit: (e) => e.preventDefault() }, token,
      el("button", { type: "button", id: "retry", disabled: failedSteps ? null : "disabled", onclick: () => operate("retry-failed"), text: "retry failed " + kind }),
      el("button", { type: "button", id: "terminate", disabled: data.terminable ? null : "disabled", onclick: () => operate("terminate"), text: "terminate job" }),
      said);
  }

  // --- feed ---------------------------------------------------------------------------------

  async function feed() {
    const rows = el("tbody", { id: "feed" });
    const pause = el("button", { type: "button", id: "pause", text: "pause" });
    const filter = el("input", { type: "search", id: "feed-filter", placeholder: "job, host or status" });
    const only = el("select", { id: "feed-state" }, el("option", { value: "", text: "every change" }),
      el("option", { value: "failed", text: "failures only" }), el("option", { value: "job", text: "jobs and steps only" }));
    const held = el("span", { id: "held", class: "muted" });
    main.append(el("h1", { text: "Live feed" }), el("p", { class: "muted", text: "Every transition the poller observes, newest first (the latest 1,000); it resumes where it was after a reconnect." }),
      el("form", { class: "controls", onsubmit: (e) => e.preventDefault() }, filter, only, pause, held),
      el("table", { class: "feed" }, rows));
    const KEEP = 1000;
    let paused = false;
    let waiting = [];
    function accept(entry) {
      const state = only.value;
      if (state === "failed" && !(entry.state === "failed" || (entry.current || "").includes("FAIL"))) return false;
      if (state === "job" && (entry.kind === "host" || entry.kind === "container")) return false;
      const needle = filter.value.trim().toLowerCase();
      return !needle || JSON.stringify(entry).toLowerCase().includes(needle);
    }
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "resume" : "pause";
      body.dataset.paused = paused ? "1" : "0";
      if (!paused) { prependRows(rows, waiting, KEEP, accept); waiting = []; held.textContent = ""; }
    });
    openStream({ backlog: 200 }, (entries) => {
      if (paused) {
        waiting = waiting.concat(entries).slice(-KEEP);  // a paused page holds the newest only
        held.textContent = fmt(waiting.length) + " new, held while paused";
        return;
      }
      prependRows(rows, entries, KEEP, accept);
    }, () => rows.prepend(el("tr", { class: "gap" }, el("td", { colspan: "4", text: "the feed started over at " + timeOf(Date.now()) + ": the rows below are from before" }))));
  }

  // --- cluster ------------------------------------------------------------------------------

  function table(head, rows) {
    return el("table", { class: "cluster" },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows));
  }

  async function cluster() {
    const top = el("div", { class: "cards", id: "cluster-cards" });
    const parts = el("div", { id: "cluster-parts" });
    const dead = el("div", { id: "dead-letters" });
    main.append(el("h1", { text: "Cluster" }), top, parts, dead);
    async function showDead(watch, count) {
      let data;
      try { data = await api("api/cluster/dead-letters?" + new URLSearchParams({ watch: watch })); } catch (e) {
        fill(dead, [el("p", { class: "error", text: String(e) })]); return;
      }
      const shown = data.dead_letters.length;
      const title = "Dead letters of " + watch + " (" + (count > shown ? "the oldest " + fmt(shown) + " of " + fmt(count) : fmt(shown)) + ")";
      fill(dead, [el("h2", { text: title }),
        table(["group", "dead id", "deliveries", "event", "job", "host", "error"], data.dead_letters.map((d) => el("tr", {},
          el("td", { "data-label": "group", text: d.group }), el("td", { class: "muted", "data-label": "dead id", text: d.dead_id }), el("td", { "data-label": "deliveries", text: fmt(d.deliveries) }),
          el("td", { "data-label": "event", text: d.event_id }), el("td", { "data-label": "job", text: d.event ? String(d.event.job) : "-" }),
          el("td", { "data-label": "host", text: d.event && d.event.host ? d.event.host : "-" }), el("td", { "data-label": "error", text: d.error || "" }))))]);
    }
    async function refresh() {
      let data;
      try { data = await api("api/cluster"); } catch (e) { setLive("no answer: " + e.message, "off"); return; }
      setLive("live", "on");
      if (!data.exists) {
        fill(top, [el("p", { class: "muted", text: "Redis holds no cluster named " + data.name + " (never used, or wiped)." })]);
        parts.replaceChildren();
        return;
      }
      const alive = data.members.filter((m) => m.alive).length;
      const groups = data.watches.reduce((n, w) => n + w.groups.length, 0);
      const lag = data.watches.reduce((n, w) => n + w.groups.reduce((k, g) => k + g.lag, 0), 0);
      const deadCount = data.watches.reduce((n, w) => n + w.dead_letters, 0);
      fill(top, [
        card("Cluster " + data.name, pairs({ partitions: data.partitions, unheld: data.unheld.length, unheld_jobs: data.unheld_jobs })),
        card("Workers", pairs({ alive: alive, silent: data.members.length - alive })),
        card("Watches", pairs({ watches: data.watches.length, groups: groups, lag: lag, dead_letters: deadCount }))]);
      const leases = el("div", { class: "grid", id: "leases" }, ...data.leases.map((l) =>
        el("span", { class: "lease " + (l.holder === null ? "unheld" : "held"), "data-partition": l.partition,
          title: "partition " + l.partition + ": " + (l.holder || "nobody holds it"), text: String(l.partition) })));
      fill(parts, [
        el("h2", { text: "Workers" }),
        table(["worker", "alive", "heartbeat", "partitions", "cap"], data.members.map((m) => el("tr", { class: m.alive ? "alive" : "silent", "data-worker": m.worker },
          el("td", { "data-label": "worker", text: m.worker }), el("td", { "data-label": "alive", text: m.alive ? "yes" : "no" }),
          el("td", { "data-label": "heartbeat", text: m.heartbeat_ms === null ? "-" : (m.heartbeat_ms / 1000).toFixed(1) + " s" }),
          el("td", { "data-label": "partitions", text: m.partitions.join(", ") || "-" }), el("td", { "data-label": "cap", text: fmt(m.max_partitions) })))),
        el("h2", { text: "Leases (partition: holder)" }), leases,
        el("h2", { text: "Watches and their groups" }),
        table(["watch", "jobs", "last event", "stream", "group", "consumers", "pending", "lag", "dead letters"],
          data.watches.flatMap((w) => (w.groups.length ? w.groups : [null]).map((g) => el("tr", { "data-watch": w.watch },
            el("td", { "data-label": "watch", text: w.watch }), el("td", { "data-label": "jobs", text: fmt(w.jobs) }),
            el("td", { "data-label": "last event", class: w.jobs === 0 && w.last_event ? "ended" : "", text: w.last_event ? (w.jobs === 0 ? "ended, last at " : "") + timeOf(w.last_event) : "-" }),
            el("td", { "data-label": "stream", text: fmt(w.stream_length) + " / ~" + fmt(w.stream_maxlen) }),
            el("td", { "data-label": "group", text: g ? g.group : "-" }), el("td", { "data-label": "consumers", text: g ? fmt(g.consumers) : "-" }),
            el("td", { "data-label": "pending", text: g ? fmt(g.pending) : "-" }), el("td", { "data-label": "lag", text: g ? fmt(g.lag) + (g.lag_counted ? " (counted)" : "") : "-" }),
            el("td", { "data-label": "dead letters" }, w.dead_letters ? el("button", { type: "button", text: fmt(w.dead_letters), onclick: () => showDead(w.watch, w.dead_letters) }) : "0"))))),
        el("h2", { text: "Latest transitions (from the watches' streams)" }),
        table(["time", "watch", "job", "what"], (data.recent || []).map((r) => el("tr", { class: "recent", "data-id": r.id },
          el("td", { "data-label": "time", text: timeOf(r.at) }), el("td", { "data-label": "watch", text: r.watch }),
          el("td", { "data-label": "job", text: String(r.job) }),
          el("td", { "data-label": "what", text: r.kind + (r.host ? " " + r.host : "") + (r.current ? ": " + (r.previous || "-") + " \u2192 " + r.current : "") }))))]);
    }
    await refresh();
    setInterval(refresh, 2000);
  }

  const pages = { overview: overview, jobs: jobs, job: job, feed: feed, failed: failed, cluster: cluster };
  (pages[body.dataset.page] || overview)().catch((error) => {
    main.append(el("p", { class: "error", text: String(error) }));
  });
})();
