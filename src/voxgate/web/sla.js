// The live service-level panel: polls GET /api/v1/sla every 2 s while the page is visible.
//
// The JSON is Synthesizer.status(): {windows: {"300": SlaSnapshot, "3600": ...}, breakers:
// {engine: {state, failure_rate, slow_rate}}, engines: {engine: {ready, capacity, in_flight,
// queued: {interactive, api, batch}, workers}}, cache: {hits, misses, ...}}. With API keys on, it
// needs the key too (key.js).

import { withKey } from "./key.js";

const POLL_MS = 2000;
const PRIORITIES = ["interactive", "api", "batch"];
const BREAKER = {
  closed: { text: "closed", tone: "ok", note: "taking traffic" },
  half_open: { text: "half-open", tone: "warn", note: "trial calls" },
  open: { text: "open", tone: "bad", note: "skipped by the router" },
};

const percent = (ratio) => (ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)}%`);
const millis = (seconds) => (seconds === null || seconds === undefined ? "—" : formatMs(seconds * 1000));

/** A duration in milliseconds, as "840 ms" or "1.24 s". */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function badge(text, tone) {
  const span = document.createElement("span");
  span.className = `badge badge--${tone}`;
  span.textContent = text;
  return span;
}

function renderPriorities(body, snapshot) {
  const rows = PRIORITIES.map((name) => {
    const stats = snapshot.by_priority?.[name] ?? { requests: 0, p50_s: null, p95_s: null };
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    tr.append(th, cell(String(stats.requests), "num"), cell(millis(stats.p50_s), "num"),
      cell(millis(stats.p95_s), "num"));
    return tr;
  });
  body.replaceChildren(...rows);
}

function renderEngines(body, status) {
  const names = Object.keys(status.engines ?? {});
  const rows = names.map((name) => {
    const engine = status.engines[name];
    const breaker = BREAKER[status.breakers?.[name]?.state] ?? { text: "unknown", tone: "warn", note: "" };
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    if (!engine.ready) th.append(" ", badge("warming", "warn"));
    const state = document.createElement("td");
    state.append(badge(breaker.text, breaker.tone));
    state.title = breaker.note;
    const queued = Object.values(engine.queued ?? {}).reduce((a, b) => a + b, 0);
    tr.append(th, state, cell(`${engine.in_flight}/${engine.capacity}`, "num"), cell(String(queued), "num"));
    return tr;
  });
  body.replaceChildren(...rows);
}

function renderSnapshot(root, snapshot) {
  const set = (id, text) => {
    root.querySelector(`#${id}`).textContent = text;
  };
  const targets = snapshot.targets ?? {};
  set("sla-availability", percent(snapshot.availability));
  set("sla-availability-note",
    targets.availability ? `target ${(targets.availability * 100).toFixed(1)}%` : "");
  set("sla-degraded", percent(snapshot.degradation_rate));
  set("sla-degraded-note", `${snapshot.degraded} of ${snapshot.answered} answers`);
  set("sla-cache", percent(snapshot.cache_hit_ratio));
  set("sla-cache-note", "of answers");
  set("sla-requests", String(snapshot.requests));
  const refused = snapshot.rejected + snapshot.failed;
  const note = refused ? `${snapshot.rejected} refused, ${snapshot.failed} failed` : "none refused";
  set("sla-requests-note", note);
}

/**
 * Start polling. The panel keeps its last figures when a poll fails and says so.
 *
 * @param {HTMLElement} root the panel element.
 * @returns {{refresh: () => Promise<void>}} refresh: poll now (after a request finishes).
 */
export function startSlaPanel(root) {
  const updated = root.querySelector("#sla-updated");
  let status = null;
  let timer = null;
  let inFlight = false;

  const windowKey = () => root.querySelector('input[name="window"]:checked')?.value ?? "300";

  const render = () => {
    if (status === null) return;
    const snapshot = status.windows?.[windowKey()] ?? Object.values(status.windows ?? {})[0];
    if (snapshot) {
      renderSnapshot(root, snapshot);
      renderPriorities(root.querySelector("#sla-priorities"), snapshot);
    }
    renderEngines(root.querySelector("#sla-engines"), status);
  };

  const poll = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const response = await fetch("/api/v1/sla", { headers: withKey({ Accept: "application/json" }) });
      if (response.status === 401) throw new Error("an API key is needed: enter it under “API key”");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      status = await response.json();
      render();
      root.dataset.updated = String(Date.now());
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    } catch (error) {
      updated.textContent = `Could not update (${error.message}); retrying every ${POLL_MS / 1000} s`;
    } finally {
      inFlight = false;
    }
  };

  const schedule = () => {
    clearInterval(timer);
    timer = document.hidden ? null : setInterval(poll, POLL_MS);
  };

  root.addEventListener("change", (event) => {
    if (event.target.name === "window") render();
  });
  document.addEventListener("visibilitychange", () => {
    schedule();
    if (!document.hidden) poll();
  });
  schedule();
  poll();
  return { refresh: poll };
}
