// bkjob-async dashboard: fills the page from the dashboard's JSON and its live feed.
// Rule: every value from the server goes into the page as text (textContent, attributes set
// one by one), never as markup: job, step and host names are user input. No library, no
// build step; every URL is relative to the dashboard's root (it may be mounted under a prefix).
"use strict";

(function () {
  const body = document.body;
  const root = body.dataset.root;
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  // What a test (and a curious person) can read: entries received, duplicates, resets.
  const stats = { received: 0, duplicates: 0, resets: 0, opened: 0, shown: new Set() };
  window.bkjobDashboard = stats;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else if (key === "href" || key === "title" || key === "type" || key === "value") node.setAttribute(key, String(value));
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, options) {
    const response = await fetch(root + path, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
    return data;
  }

  function setLive(text, cls) {
    live.textContent = text;
    live.className = "live " + (cls || "");
  }

  function jobHref(job) { return root + "job/" + job; }

  function fmt(n) {
    if (n === null || n === undefined) return "-";
    return typeof n === "number" ? n.toLocaleString("en") : String(n);
  }

  function seconds(s) { return s === null || s === undefined ? "-" : (s * 1000).toFixed(0) + " ms"; }

  // --- the live feed ------------------------------------------------------------------------

  function openStream(params, onEntry, onReset) {
    const query = new URLSearchParams(params);
    const source = new EventSource(root + "api/stream?" + query.toString());
    stats.source = source;
    source.onopen = () => { stats.opened += 1; setLive("live", "on"); };
    source.onerror = () => setLive("reconnecting", "off");
    source.onmessage = (message) => {
      stats.received += 1;
      if (stats.shown.has(message.lastEventId)) { stats.duplicates += 1; return; }
      stats.shown.add(message.lastEventId);
      onEntry(JSON.parse(message.data));
    };
    source.addEventListener("reset", () => { stats.resets += 1; onReset(); });
    return source;
  }

  function describe(entry) {
    const change = (entry.previous ? entry.previous + " \u2192 " : "") + (entry.current || "");
    if (entry.kind === "host" || entry.kind === "container") return entry.kind + " " + (entry.label || entry[entry.kind]) + " (step " + entry.step + "): " + change;
    if (entry.kind === "step") return "step " + entry.step + ": " + change;
    if (entry.kind === "job") return "job: " + change;
    if (entry.kind === "finished") return "finished: " + change;
    return entry.kind + ": " + change;
  }

  function feedRow(entry) {
    const state = entry.state || (entry.kind === "finished" ? "done" : "");
    return el("tr", { "data-id": entry.id, class: "k-" + entry.kind + " s-" + state },
      el("td", { text: entry.at.slice(11, 23) }),
      el("td", {}, el("a", { href: jobHref(entry.job), text: entry.job })),
      el("td", { text: describe(entry) }),
      el("td", { class: "muted", text: entry.id }));
  }

  // --- overview -----------------------------------------------------------------------------

  function card(title, ...rows) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...rows);
  }

  function pairs(obj, prefix) {
    const list = el("dl", { class: "pairs" });
    for (const [key, value] of Object.entries(obj)) {
      list.append(el("div", { class: (prefix || "") + key }, el("dt", { text: key.replace(/_/g, " ") }), el("dd", { text: fmt(value) })));
    }
    return list;
  }

  async function overview() {
    const cards = el("div", { class: "cards", id: "cards" });
    const recent = el("tbody", { id: "recent" });
    main.append(el("h1", { text: "Overview" }), cards,
      el("h2", { text: "Latest transitions" }),
      el("table", { class: "feed" }, recent));
    async function refresh() {
      let data;
      try { data = await api("api/overview"); } catch (e) { setLive("no answer", "off"); return null; }
      const budget = data.rate_limit === null ? "no limit" : fmt(data.rate_limit) + "/s";
      cards.replaceChildren(
        card("Jobs (" + fmt(data.jobs_total) + ")", pairs(data.jobs, "b-")),
        card("Hosts", pairs(data.hosts)),
        Object.keys(data.containers).length ? card("Containers", pairs(data.containers)) : null,
        card("Transitions", el("p", { class: "big", id: "tps", text: data.transitions_per_second.toFixed(1) + "/s" })),
        card("Polls", el("p", { class: "big", id: "rate", text: data.poll_rate.toFixed(1) + "/s" }),
          el("p", { text: "budget " + budget + " \u00b7 " + fmt(data.in_flight) + "/" + fmt(data.max_in_flight) + " in flight" })),
        card("Change to event", el("p", { class: "big", text: "p50 " + seconds(data.delay.p50) }),
          el("p", { text: "p99 " + seconds(data.delay.p99) })),
        card("Errors and retries", pairs(Object.assign({ retries: data.retries, requests: data.requests,
          unchanged: data.unchanged_polls, stalled: data.stalled ? "yes" : "no" }, data.errors))));
      return data;
    }
    const first = await refresh();
    setInterval(refresh, 1000);
    const mark = first || { after: "", generation: "" };
    openStream({ after: mark.after, generation: mark.generation, tail: 20 }, (entry) => {
      recent.prepend(feedRow(entry));
      while (recent.childElementCount > 20) recent.lastElementChild.remove();
    }, () => recent.replaceChildren());
  }

  // --- jobs ---------------------------------------------------------------------------------

  async function jobs() {
    const params = new URLSearchParams(location.search);
    const state = {
      q: params.get("q") || "", status: params.get("status") || "", sort: params.get("sort") || "id",
      order: params.get("order") || "asc", offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
    };
    const q = el("input", { id: "q", type: "search", placeholder: "job id or name", value: state.q });
    const status = el("select", { id: "status" }, el("option", { value: "", text: "any status" }));
    const sort = el("select", { id: "sort" }, ...["id", "name", "status", "failed", "hosts", "updated"].map((k) => el("option", { value: k, text: "sort by " + k })));
    const order = el("select", { id: "order" }, el("option", { value: "asc", text: "ascending" }), el("option", { value: "desc", text: "descending" }));
    const limit = el("select", { id: "limit" }, ...[25, 50, 100, 200].map((n) => el("option", { value: n, text: n + " a page" })));
    const prev = el("button", { id: "prev", type: "button", text: "\u2190 previous" });
    const next = el("button", { id: "next", type: "button", text: "next \u2192" });
    const range = el("span", { id: "range" });
    const rows = el("tbody", { id: "rows" });
    main.append(el("h1", { text: "Jobs" }), el("form", { class: "controls", onsubmit: (e) => e.preventDefault() }, q, status, sort, order, limit, prev, range, next),
      el("table", { class: "jobs" }, el("thead", {}, el("tr", {}, ...["job", "name", "status", "hosts", "failed"].map((h) => el("th", { text: h })))), rows));
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
        for (const b of data.buckets) status.append(el("option", { value: b, text: b }));
        status.value = state.status;
        bucketsShown = true;
      }
      rows.replaceChildren(...data.rows.map((r) => el("tr", { class: "b-" + r.bucket, "data-job": r.job },
        el("td", {}, el("a", { href: jobHref(r.scope + "/" + r.job), text: r.job })),
        el("td", { class: "name", text: r.name === null ? "" : r.name }),
        el("td", { text: r.ended || r.status }),
        el("td", { text: r.containers ? fmt(r.finished) + "/" + fmt(r.containers) + " containers" : fmt(r.finished) + "/" + fmt(r.hosts) }),
        el("td", { text: fmt(r.failed) }))));
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

  // --- one job ------------------------------------------------------------------------------

  async function job() {
    const scope = body.dataset.scope;
    const id = body.dataset.job;
    const path = "api/job/" + scope + "/" + id;
    let source = null;
    async function render() {
      let data;
      try { data = await api(path); } catch (e) { main.replaceChildren(el("h1", { text: "Job " + id }), el("p", { class: "error", text: e.message })); return; }
      const title = el("h1", {}, "Job " + id + " ", el("span", { class: "name", id: "job-name", text: data.name === null ? "" : data.name }));
      const status = el("p", {}, "status ", el("strong", { id: "job-status", text: data.status }));
      const failed = el("tbody", { id: "failed" });
      const steps = el("div", { id: "steps" });
      const cells = new Map();
      // A host or a container ("kind"): its key is host.host or host.container.
      function failedRow(step, kind, host) {
        const tail = el("pre", { class: "log", hidden: "hidden" });
        const button = el("button", { type: "button", text: "log tail" });
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            const log = await api(path + "/log?" + new URLSearchParams({ step: step, [kind]: host[kind] }).toString());
            tail.textContent = log.tail || "(empty log)";
          } catch (e) { tail.textContent = e.message; }
          tail.hidden = false;
        });
        return el("tr", { ["data-" + kind]: host[kind], "data-step": step },
          el("td", { text: host.label }), el("td", { text: step }), el("td", { text: host.status_name || host.current }),
          el("td", { text: host.exit_code === null || host.exit_code === undefined ? "-" : host.exit_code }),
          el("td", { text: host.error_code === null || host.error_code === undefined ? "-" : host.error_code }),
          el("td", {}, button, tail));
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
          if (host.failed) failed.append(failedRow(step.step, kind, host));
        }
        const summary = el("p", { class: "muted counts" });
        steps.append(el("section", { class: "step", "data-step": step.step },
          el("h2", {}, el("span", { class: "name", text: step.name === null ? "" : step.name }), " (step " + step.step + ", round " + (step.execute_count || 0) + ") ",
            el("span", { class: "step-status", text: step.status })),
          summary, grid));
        count(summary, grid);
      }
      const parts = [title, status];
      if (data.operations) parts.push(operations(path, kindShown));
      parts.push(steps, el("h2", { text: "Failed " + kindShown }),
        el("table", { class: "failed" }, el("thead", {}, el("tr", {}, ...[kindShown.slice(0, -1), "step", "status", "exit code", "error code", ""].map((h) => el("th", { text: h })))), failed));
      main.replaceChildren(...parts);
      body.dataset.loaded = "1";
      if (source) source.close();
      stats.shown.clear();
      source = openStream({ job: scope + "/" + id, after: data.after, generation: data.generation }, (entry) => {
        if (entry.kind === "host" || entry.kind === "container") {
          const kind = entry.kind;
          const cell = cells.get(entry.step + " " + kind + " " + entry[kind]);
          if (cell) {
            cell.className = kind + " s-" + entry.state;
            cell.dataset.state = entry.state;
            cell.title = cell.title.split(": ")[0] + ": " + entry.current;
            const section = cell.closest("section");
            count(section.querySelector(".counts"), cell.parentElement);
          } else {
            render();  // a host or a round not shown yet
            return;
          }
          const old = failed.querySelector('tr[data-step="' + CSS.escape(String(entry.step)) + '"][data-' + kind + '="' + CSS.escape(entry[kind]) + '"]');
          if (old) old.remove();
          if (entry.state === "failed") failed.append(failedRow(entry.step, kind, entry));
        } else if (entry.kind === "job" || entry.kind === "finished") {
          document.getElementById("job-status").textContent = entry.current;
        } else if (entry.kind === "step") {
          const section = steps.querySelector('section[data-step="' + CSS.escape(String(entry.step)) + '"] .step-status');
          if (section) section.textContent = entry.current; else render();
        }
      }, render);
    }
    await render();
  }

  function operations(path, kind) {
    const token = el("input", { type: "password", id: "token", placeholder: "operations token", autocomplete: "off" });
    token.value = sessionStorage.getItem("bkjob-token") || "";
    const said = el("span", { id: "op-result" });
    async function operate(action) {
      sessionStorage.setItem("bkjob-token", token.value);
      said.textContent = "\u2026";
      try {
        const done = await api(path + "/" + action, { method: "POST", headers: { "Content-Type": "application/json", "X-Dashboard-Token": token.value }, body: "{}" });
        said.textContent = "done: " + done.done;
      } catch (e) { said.textContent = e.message; }
    }
    return el("form", { class: "controls ops", onsubmit: (e) => e.preventDefault() }, token,
      el("button", { type: "button", id: "retry", onclick: () => operate("retry-failed"), text: "retry failed " + kind }),
      el("button", { type: "button", id: "terminate", onclick: () => { if (confirm("Terminate this job?")) operate("terminate"); }, text: "terminate job" }),
      said);
  }

  // --- feed ---------------------------------------------------------------------------------

  async function feed() {
    const rows = el("tbody", { id: "feed" });
    main.append(el("h1", { text: "Live feed" }), el("p", { class: "muted", text: "Every transition the poller observes, newest first; it resumes where it was after a reconnect." }),
      el("table", { class: "feed" }, rows));
    let mark = { after: "", generation: "" };
    try { mark = await api("api/overview"); } catch (e) { setLive("no answer", "off"); }
    openStream({ after: mark.after, generation: mark.generation }, (entry) => {
      rows.prepend(feedRow(entry));
      while (rows.childElementCount > 2000) rows.lastElementChild.remove();
    }, () => rows.prepend(el("tr", { class: "gap" }, el("td", { colspan: "4", text: "the feed started over: earlier transitions are not shown" }))));
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
    async function showDead(watch) {
      let data;
      try { data = await api("api/cluster/dead-letters?" + new URLSearchParams({ watch: watch })); } catch (e) {
        dead.replaceChildren(el("p", { class: "error", text: String(e) })); return;
      }
      dead.replaceChildren(el("h2", { text: "Dead letters of " + watch + " (" + data.dead_letters.length + ")" }),
        table(["group", "dead id", "deliveries", "event", "job", "host", "error"], data.dead_letters.map((d) => el("tr", {},
          el("td", { text: d.group }), el("td", { class: "muted", text: d.dead_id }), el("td", { text: fmt(d.deliveries) }),
          el("td", { text: d.event_id }), el("td", { text: d.event ? fmt(d.event.job) : "-" }),
          el("td", { text: d.event && d.event.host ? d.event.host : "-" }), el("td", { text: d.error || "" })))));
    }
    async function refresh() {
      let data;
      try { data = await api("api/cluster"); } catch (e) { setLive("no answer: " + e.message, "off"); return; }
      setLive("live", "on");
      if (!data.exists) {
        top.replaceChildren(el("p", { class: "muted", text: "Redis holds no cluster named " + data.name + " (never used, or wiped)." }));
        parts.replaceChildren();
        return;
      }
      const alive = data.members.filter((m) => m.alive).length;
      const groups = data.watches.reduce((n, w) => n + w.groups.length, 0);
      const lag = data.watches.reduce((n, w) => n + w.groups.reduce((k, g) => k + g.lag, 0), 0);
      const deadCount = data.watches.reduce((n, w) => n + w.dead_letters, 0);
      top.replaceChildren(
        card("Cluster " + data.name, pairs({ partitions: data.partitions, unheld: data.unheld.length, unheld_jobs: data.unheld_jobs })),
        card("Workers", pairs({ alive: alive, silent: data.members.length - alive })),
        card("Watches", pairs({ watches: data.watches.length, groups: groups, lag: lag, dead_letters: deadCount })));
      const leases = el("div", { class: "grid", id: "leases" }, ...data.leases.map((l) =>
        el("span", { class: "lease " + (l.holder === null ? "unheld" : "held"), "data-partition": l.partition,
          title: "partition " + l.partition + ": " + (l.holder || "nobody holds it"), text: String(l.partition) })));
      parts.replaceChildren(
        el("h2", { text: "Workers" }),
        table(["worker", "alive", "heartbeat", "partitions", "cap"], data.members.map((m) => el("tr", { class: m.alive ? "alive" : "silent", "data-worker": m.worker },
          el("td", { text: m.worker }), el("td", { text: m.alive ? "yes" : "no" }),
          el("td", { text: m.heartbeat_ms === null ? "-" : (m.heartbeat_ms / 1000).toFixed(1) + " s" }),
          el("td", { text: m.partitions.join(", ") || "-" }), el("td", { text: fmt(m.max_partitions) })))),
        el("h2", { text: "Leases (partition: holder)" }), leases,
        el("h2", { text: "Watches and their groups" }),
        table(["watch", "jobs", "stream", "group", "consumers", "pending", "lag", "dead letters"],
          data.watches.flatMap((w) => (w.groups.length ? w.groups : [null]).map((g) => el("tr", { "data-watch": w.watch },
            el("td", { text: w.watch }), el("td", { text: fmt(w.jobs) }),
            el("td", { text: fmt(w.stream_length) + " / ~" + fmt(w.stream_maxlen) }),
            el("td", { text: g ? g.group : "-" }), el("td", { text: g ? fmt(g.consumers) : "-" }),
            el("td", { text: g ? fmt(g.pending) : "-" }), el("td", { text: g ? fmt(g.lag) + (g.lag_counted ? " (counted)" : "") : "-" }),
            el("td", {}, w.dead_letters ? el("button", { type: "button", text: fmt(w.dead_letters), onclick: () => showDead(w.watch) }) : "0"))))));
    }
    await refresh();
    setInterval(refresh, 2000);
  }

  const pages = { overview: overview, jobs: jobs, job: job, feed: feed, cluster: cluster };
  (pages[body.dataset.page] || overview)().catch((error) => {
    main.append(el("p", { class: "error", text: String(error) }));
  });
})();
