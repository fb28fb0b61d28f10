// pgfleet console: the little JavaScript the pages need (no build step, no library).
// Live parts poll JSON endpoints and update the DOM; every write stays a plain HTML form with its CSRF token.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtBytes(v) {
  if (v === null || v === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? Math.round(v) : v.toFixed(1)) + " " + units[i];
}

function fmtNum(v, digits) {
  if (v === null || v === undefined) return "-";
  return Number(v).toFixed(digits === undefined ? 0 : digits);
}

function poll(url, every, onData, onError) {
  let stopped = false;
  async function tick() {
    if (stopped) return;
    try {
      const r = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      const data = await r.json();
      if (!r.ok || data.error) { onError(data.error || ("HTTP " + r.status)); }
      else if (onData(data) === false) { stopped = true; return; }
    } catch (err) { onError(String(err)); }
    setTimeout(tick, every);
  }
  tick();
}

// --- typed confirmation: the delete button is enabled only when the name is typed exactly ----------
function setupConfirm() {
  document.querySelectorAll("form.confirm-delete").forEach(function (form) {
    const input = form.querySelector("input[name=confirm]");
    const button = form.querySelector("button[type=submit]");
    input.addEventListener("input", function () { button.disabled = input.value !== form.dataset.name; });
  });
}

// --- Kubernetes creation progress ------------------------------------------------------------------
function setupProgress() {
  const box = document.getElementById("progress");
  if (!box) return;
  const list = document.getElementById("steps");
  poll(box.dataset.url, 1500, function (data) {
    if (data.gone) { list.replaceChildren(el("li", "The cluster is gone.", "step")); return false; }
    list.replaceChildren();
    data.steps.forEach(function (s) {
      const li = el("li", null, "step " + s.state);
      li.dataset.step = s.step;
      li.append(el("span", s.state, "state"), " " + s.step + " ", el("span", s.detail, "detail"));
      list.append(li);
    });
    const status = document.getElementById("status");
    if (status && data.status) { status.textContent = data.status; status.className = "status status-" + data.status.toLowerCase(); }
    const conds = document.querySelector("#conditions tbody");
    if (conds && data.conditions && data.conditions.length) {
      conds.replaceChildren();
      data.conditions.forEach(function (c) {
        const tr = el("tr");
        [c.type, c.status, c.reason, c.message, c.lastTransitionTime].forEach(function (v) { tr.append(el("td", v)); });
        conds.append(tr);
      });
    }
    const pods = document.querySelector("#pods tbody");
    if (pods && data.pods) {
      pods.replaceChildren();
      data.pods.forEach(function (p) {
        const tr = el("tr");
        [p.name, p.role, p.phase + (p.terminating ? " (terminating)" : ""), p.ready ? "yes" : "no", p.ip, p.restarts]
          .forEach(function (v) { tr.append(el("td", v)); });
        pods.append(tr);
      });
    }
    return true;
  }, function () {});
}

// --- local cluster: member table and the running operation -----------------------------------------
function setupLocal() {
  const box = document.getElementById("local-live");
  if (!box) return;
  poll(box.dataset.url, 1500, function (data) {
    const s = data.summary;
    const body = document.querySelector("#members tbody");
    document.getElementById("health").textContent = s ? (s.healthy ? "healthy" : "not healthy") : "not created yet";
    if (s) {
      body.replaceChildren();
      s.members.forEach(function (m) {
        const tr = el("tr");
        tr.dataset.member = m.member;
        tr.append(el("td", m.member), el("td", m.role, "role"), el("td", m.state), el("td", m.lag === null ? "-" : m.lag),
                  el("td", m.timeline === null ? "-" : m.timeline), el("td", m.pending_restart ? "yes" : "no"));
        body.append(tr);
      });
      document.getElementById("problems").textContent = s.problems.join("; ");
    }
    const job = data.job;
    if (job) {
      const box = document.getElementById("job");
      box.replaceChildren();
      const p = el("p");
      const kind = el("span", job.kind, null);
      kind.id = "job-kind";  // the same element the page is rendered with
      p.append(kind, ": ");
      const st = el("span", job.state, "job-" + job.state);
      st.id = "job-state";
      p.append(st);
      if (job.error) p.append(" ", el("span", job.error, "error"));
      const pre = el("pre", job.lines.join("\n"));
      pre.id = "job-log";
      box.append(p);
      if (job.steps && job.steps.length) {
        const t = el("table");
        t.id = "job-steps";
        job.steps.forEach(function (step) {
          const tr = el("tr");
          tr.append(el("td", step.member), el("td", step.action || ""), el("td", step.status));
          t.append(tr);
        });
        box.append(t);
      }
      box.append(pre);
    }
    return true;
  }, function () {});
}

// --- monitoring -----------------------------------------------------------------------------------
function drawChart(svg, points, key) {
  const w = 300, h = 80;
  const vals = points.map(function (p) { return p[key]; }).filter(function (v) { return v !== null && v !== undefined; });
  svg.replaceChildren();
  if (vals.length < 2) return;
  const max = Math.max.apply(null, vals.concat([1]));
  const t0 = points[0].t, t1 = points[points.length - 1].t, span = Math.max(t1 - t0, 1);
  let d = "";
  points.forEach(function (p) {
    if (p[key] === null || p[key] === undefined) return;
    const x = ((p.t - t0) / span) * w, y = h - (p[key] / max) * (h - 4) - 2;
    d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
  });
  const ns = "http://www.w3.org/2000/svg";
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  path.setAttribute("class", "line");
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "2"); label.setAttribute("y", "10"); label.setAttribute("class", "axis");
  label.textContent = "max " + (key === "lag" ? fmtBytes(max) : fmtNum(max, key === "tps" ? 1 : 0));
  svg.append(path, label);
}

function setupMonitor() {
  const box = document.getElementById("monitor");
  if (!box) return;
  const err = document.getElementById("monitor-error");
  poll(box.dataset.url, 2000, function (s) {
    err.textContent = (s.problems || []).join("; ");
    document.getElementById("source").textContent = s.source + (s.leader ? " (leader " + s.leader + ")" : "");
    document.getElementById("updated").textContent = new Date(s.time * 1000).toLocaleTimeString();
    document.getElementById("tps").textContent = fmtNum(s.totals.tps, 1);
    document.getElementById("connections").textContent = fmtNum(s.totals.connections);
    document.getElementById("active").textContent = fmtNum(s.totals.active);
    document.getElementById("lag").textContent = fmtBytes(s.totals.max_lag_bytes);
    const body = document.querySelector("#sessions tbody");
    body.replaceChildren();
    s.sessions.forEach(function (x) {
      const tr = el("tr", null, x.state === "active" ? "active" : "");
      tr.dataset.pid = x.pid;
      const pid = el("td", (x.depth ? "\u2514".padStart(x.depth * 2, "\u00a0") + " " : "") + x.pid);
      if (x.blocking) pid.append(el("span", " blocks " + x.blocking, "badge"));
      tr.append(pid, el("td", x.database || ""), el("td", x.user || ""), el("td", x.state || x.backend_type),
        el("td", x.wait), el("td", x.duration === null ? "-" : fmtNum(x.duration, 1) + " s"),
        el("td", fmtNum(x.cpu, 1), "cpu"), el("td", fmtBytes(x.uss !== null ? x.uss : x.rss)),
        el("td", fmtBytes(x.read_rate)), el("td", fmtBytes(x.write_rate)), el("td", x.query, "query"));
      body.append(tr);
    });
    const rep = document.querySelector("#replication tbody");
    rep.replaceChildren();
    s.replication.forEach(function (r) {
      const tr = el("tr");
      tr.append(el("td", r.member), el("td", r.state), el("td", r.sync), el("td", fmtNum(r.lag_bytes)),
                el("td", fmtNum(r.lag_seconds, 2)));
      rep.append(tr);
    });
    const dbs = document.querySelector("#databases tbody");
    dbs.replaceChildren();
    s.databases.forEach(function (d) { const tr = el("tr"); tr.append(el("td", d.name), el("td", fmtBytes(d.size))); dbs.append(tr); });
    const hist = s.history || [];
    drawChart(document.getElementById("chart-tps"), hist, "tps");
    drawChart(document.getElementById("chart-connections"), hist, "connections");
    drawChart(document.getElementById("chart-lag"), hist, "lag");
    box.dataset.samples = String(Number(box.dataset.samples || 0) + 1);
    return true;
  }, function (msg) { err.textContent = msg; });
}

document.addEventListener("DOMContentLoaded", function () {
  setupConfirm();
  setupProgress();
  setupLocal();
  setupMonitor();
});
