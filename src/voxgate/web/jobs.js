// voxgate web UI: the Jobs view (#jobs). Long-form jobs: submit a book, follow it, download it.
//
// Submit: POST /api/v1/jobs, multipart {file, voice, speed, format, title, speak_titles} for an
// uploaded .txt/.md file, or JSON {text, markdown, ...} for pasted text. Follow: GET /api/v1/jobs
// every 2 s while a job is queued or running and this view is on screen in a visible tab.
// Cancel: DELETE /api/v1/jobs/{id}. Screen readers hear status changes (queued → running →
// done, a chapter ready), never every percent.

import { clearAlert, requestError, showAlert } from "./alerts.js";
import { apiKey, bindKeyField, onKeyChange, withKey } from "./key.js";
import { JobCard, jobName } from "./job-card.js";
import { voiceOptions } from "./voices.js";

const POLL_MS = 2000;
const ACTIVE = new Set(["queued", "running"]);
const FIELD_CONTROLS = {
  file: "job-file", text: "job-text", chapters: "job-text", markdown: "job-markdown", voice: "job-narrator",
  speed: "job-rate", format: "job-kind", title: "job-title", speak_titles: "job-titles",
};

const $ = (id) => document.getElementById(id);
const els = {
  view: document.querySelector('.view[data-view="jobs"]'), alert: $("jobs-alert"), form: $("job-form"),
  filePane: $("job-file-pane"), textPane: $("job-text-pane"), file: $("job-file"), drop: $("job-drop"),
  fileInfo: $("job-file-info"), text: $("job-text"), textCount: $("job-text-count"),
  markdown: $("job-markdown"), title: $("job-title"), voice: $("job-narrator"), speed: $("job-rate"),
  speedValue: $("job-rate-value"), format: $("job-kind"), speakTitles: $("job-titles"), key: $("job-key"),
  submit: $("job-submit"), submitLabel: $("job-submit-label"),
  progress: $("job-progress"), list: $("jobs-list"), empty: $("jobs-empty"), updated: $("jobs-updated"),
  live: $("jobs-live"),
};
const FILE_HINT = els.fileInfo.textContent;
const number = new Intl.NumberFormat("en");

const state = {
  cards: new Map(), // job id → JobCard
  seen: new Map(), // job id → {status, ready: chapters ready} as last shown
  timer: null, inFlight: false, again: false, active: false, submitting: false, loaded: false,
  changed: 0, // bumped by a submit or cancel: a poll that started before it is stale
};

// ---- small helpers -----------------------------------------------------------------------------
const prefs = {
  get(key) {
    try { return localStorage.getItem(`voxgate.${key}`); } catch { return null; }
  },
  set(key, value) {
    try { localStorage.setItem(`voxgate.${key}`, value); } catch { /* private mode: not remembered */ }
  },
};

const authHeaders = withKey;

function source() {
  return els.form.querySelector('input[name="job-source"]:checked').value;
}

function announce(message) {
  if (message) els.live.textContent = message;
}

function showError(error) {
  if (error.status === 401) { // no key, or a wrong one: open the key field and offer to go there
    els.key.closest("details").open = true;
    error = { ...error, field: "API key" };
  }
  const control = (name) => (name === "API key" ? els.key : FIELD_CONTROLS[name] ? $(FIELD_CONTROLS[name]) : null);
  showAlert(els.alert, error, control);
}

function clearError() {
  clearAlert(els.alert);
  for (const id of new Set(Object.values(FIELD_CONTROLS))) $(id).removeAttribute("aria-invalid");
  els.key.removeAttribute("aria-invalid");
}

// ---- the form ------------------------------------------------------------------------------------
function showSource() {
  const file = source() === "file";
  els.filePane.hidden = !file;
  els.textPane.hidden = file;
  els.title.closest(".field").querySelector(".hint").textContent = file
    ? "Defaults to the file name." : "Defaults to no title.";
}

function describeFile() {
  const file = els.file.files[0];
  els.fileInfo.textContent = file
    ? `${file.name} · ${number.format(Math.max(1, Math.round(file.size / 1024)))} KB`
    : FILE_HINT;
  els.drop.classList.toggle("has-file", Boolean(file));
  els.file.removeAttribute("aria-invalid");
}

function updateTextCount() {
  const count = [...els.text.value].length;
  els.textCount.textContent = `${number.format(count)} character${count === 1 ? "" : "s"}`;
}

function updateSpeed() {
  const value = Number(els.speed.value).toFixed(2);
  els.speedValue.textContent = `${value}×`;
  els.speed.setAttribute("aria-valuetext", `${value} times normal speed`);
}

async function loadVoices() {
  const automatic = new Option("Automatic (the book’s language)", "");
  try {
    const response = await fetch("/api/v1/voices", { headers: withKey({ Accept: "application/json" }) });
    if (!response.ok) throw await requestError(response);
    const body = await response.json();
    els.voice.replaceChildren(automatic, voiceOptions(body.voices, navigator.languages));
    const remembered = prefs.get("job-voice");
    const match = [...els.voice.options].find((o) => `${o.value}@${o.dataset.lang ?? ""}` === remembered);
    if (match) match.selected = true;
  } catch (error) {
    els.voice.replaceChildren(automatic);
    showError(error.title ? error : { title: "Could not load the voices", message: error.message });
  }
}

function setBusy(busy) {
  state.submitting = busy;
  els.submit.setAttribute("aria-disabled", String(busy)); // not `disabled`: keyboard focus stays on it
  els.submitLabel.textContent = busy ? "Submitting…" : "Start job";
  els.form.setAttribute("aria-busy", String(busy));
}

function request() {
  const options = {
    speed: Number(els.speed.value), format: els.format.value, title: els.title.value.trim(),
    speak_titles: els.speakTitles.checked,
  };
  if (els.voice.value) options.voice = els.voice.value;
  if (source() === "file") {
    const file = els.file.files[0];
    if (!file) return { error: { title: "No book chosen", message: "Choose a .txt or .md file first.", field: "file" } };
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [name, value] of Object.entries(options)) {
      if (name !== "title" || value) form.append(name, String(value));
    }
    return { body: form, headers: authHeaders() };
  }
  if (!els.text.value.trim()) {
    return { error: { title: "Nothing to read", message: "Paste the book’s text first.", field: "text" } };
  }
  const payload = { ...options, text: els.text.value, markdown: els.markdown.checked };
  return { body: JSON.stringify(payload), headers: authHeaders({ "Content-Type": "application/json" }) };
}

async function submit() {
  if (state.submitting) return;
  clearError();
  const { body, headers, error } = request();
  if (error) {
    showError(error);
    return;
  }
  setBusy(true);
  els.progress.textContent = source() === "file" ? "Uploading…" : "Sending…";
  try {
    const response = await fetch("/api/v1/jobs", {
      method: "POST", headers: { Accept: "application/json", ...headers }, body,
    });
    if (!response.ok) throw await requestError(response);
    const job = await response.json();
    state.changed += 1;
    const p = job.progress;
    const message = `Submitted ${jobName(job)}, `
      + `${p.chapters_total} chapter${p.chapters_total === 1 ? "" : "s"}, ${number.format(p.chars_total)} characters.`;
    els.progress.textContent = message; // a polite live region: this is the announcement
    state.seen.set(job.id, { status: job.status, ready: p.chapters_done });
    render([job, ...[...state.cards.values()].map((c) => c.job).filter((j) => j.id !== job.id)]);
    els.file.value = "";
    els.text.value = "";
    els.title.value = "";
    describeFile();
    updateTextCount();
    refresh();
  } catch (error) {
    els.progress.textContent = "";
    showError(error.title ? error : { title: "Could not reach voxgate", message: error.message });
  } finally {
    setBusy(false);
  }
}

// ---- the list --------------------------------------------------------------------------------------
function changes(job) {
  const before = state.seen.get(job.id);
  const ready = job.progress.chapters_done;
  state.seen.set(job.id, { status: job.status, ready });
  if (!before) return null;
  const name = jobName(job);
  if (before.status !== job.status) {
    return {
      running: `${name} started.`,
      done: `${name} is done: ${job.progress.chapters_total} chapters ready to download.`,
      failed: `${name} failed: ${job.error ?? "no reason given"}.`,
      cancelled: `${name} was cancelled.`,
      queued: `${name} is queued.`,
    }[job.status] ?? `${name} is ${job.status}.`;
  }
  if (job.status === "running" && ready > before.ready) {
    return `${name}: ${ready} of ${job.progress.chapters_total} chapters ready.`;
  }
  return null;
}

function render(jobs) {
  const messages = [];
  const keep = new Set();
  jobs.forEach((job, i) => {
    keep.add(job.id);
    let card = state.cards.get(job.id);
    if (card) card.update(job);
    else {
      card = new JobCard(job, cancel);
      state.cards.set(job.id, card);
    }
    const at = els.list.children[i] ?? null;
    if (at !== card.element) els.list.insertBefore(card.element, at); // only new or reordered cards move
    if (state.loaded) messages.push(changes(job));
    else state.seen.set(job.id, { status: job.status, ready: job.progress.chapters_done });
    if (job.status === "done" && !card.indexRequested) loadIndex(card);
  });
  for (const [id, card] of state.cards) {
    if (!keep.has(id)) {
      card.element.remove();
      state.cards.delete(id);
      state.seen.delete(id);
    }
  }
  state.loaded = true;
  state.active = jobs.some((job) => ACTIVE.has(job.status));
  els.empty.hidden = jobs.length > 0;
  els.list.dataset.active = String(state.active); // for tests and user scripts
  announce(messages.filter(Boolean).join(" "));
}

async function loadIndex(card) {
  card.indexRequested = true;
  try {
    const response = await fetch(`${card.base}/index`, { headers: authHeaders({ Accept: "application/json" }) });
    if (response.ok) card.setIndex(await response.json());
  } catch {
    card.indexRequested = false; // try again at the next refresh
  }
}

function visible() {
  return !document.hidden && !els.view.hidden;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = state.active && visible() ? setTimeout(refresh, POLL_MS) : null;
}

async function refresh() {
  if (state.inFlight) {
    state.again = true; // a submit or cancel asked while a poll was running: poll once more after it
    return;
  }
  state.inFlight = true;
  const asked = state.changed;
  try {
    const response = await fetch("/api/v1/jobs", { headers: authHeaders({ Accept: "application/json" }) });
    if (!response.ok) throw await requestError(response);
    const { jobs } = await response.json();
    if (asked !== state.changed) {
      state.again = true; // it may show a job as it was before the cancel: ask again
      return;
    }
    render(jobs);
    const every = state.active ? ` · every ${POLL_MS / 1000} s while a job runs` : "";
    els.updated.textContent = `Updated ${new Date().toLocaleTimeString()}${every}`;
  } catch (error) {
    const why = error.status === 401 ? "enter the API key in the form above" : error.message;
    els.updated.textContent = `Could not load the jobs (${why}).`;
  } finally {
    state.inFlight = false;
    if (state.again) {
      state.again = false;
      refresh();
    } else schedule();
  }
}

async function cancel(job) {
  const card = state.cards.get(job.id);
  card.cancel.setAttribute("aria-disabled", "true");
  try {
    const response = await fetch(`/api/v1/jobs/${encodeURIComponent(job.id)}`, {
      method: "DELETE", headers: authHeaders({ Accept: "application/json" }),
    });
    if (!response.ok) throw await requestError(response);
    const updated = await response.json();
    state.changed += 1;
    const hadFocus = card.element.contains(document.activeElement);
    card.update(updated);
    announce(changes(updated));
    if (hadFocus) card.title.focus(); // the Cancel button is gone: keep the focus on this job
  } catch (error) {
    showError(error.title ? error : { title: "Could not cancel the job", message: error.message });
  } finally {
    card.cancel.removeAttribute("aria-disabled");
  }
}

// With an API key, a plain link cannot authenticate: fetch the file and save it from a Blob.
async function authDownload(event) {
  const anchor = event.target.closest("a[data-auth-download]");
  if (!anchor || !apiKey() || event.button !== 0) return;
  event.preventDefault();
  try {
    const response = await fetch(anchor.href, { headers: authHeaders() });
    if (!response.ok) throw await requestError(response);
    const url = URL.createObjectURL(await response.blob());
    const save = Object.assign(document.createElement("a"), { href: url, download: anchor.download });
    save.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    showError(error.title ? error : { title: "Could not download the file", message: error.message });
  }
}

// ---- wiring --------------------------------------------------------------------------------------
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
els.form.addEventListener("change", (event) => {
  if (event.target.name === "job-source") showSource();
});
els.file.addEventListener("change", describeFile);
els.drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  els.drop.classList.add("is-over");
});
els.drop.addEventListener("dragleave", () => els.drop.classList.remove("is-over"));
els.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  els.drop.classList.remove("is-over");
  if (event.dataTransfer?.files.length) {
    els.file.files = event.dataTransfer.files;
    describeFile();
  }
});
els.text.addEventListener("input", updateTextCount);
els.speed.addEventListener("input", updateSpeed);
els.voice.addEventListener("change", () => {
  const option = els.voice.selectedOptions[0];
  prefs.set("job-voice", `${option.value}@${option.dataset.lang ?? ""}`);
});
els.format.addEventListener("change", () => prefs.set("job-format", els.format.value));
bindKeyField(els.key); // the same key as the Speak view's field (key.js keeps one for the page)
onKeyChange(() => {
  clearError();
  loadVoices();
  refresh();
});
els.list.addEventListener("click", authDownload);
window.addEventListener("hashchange", () => (visible() ? refresh() : schedule()));
document.addEventListener("visibilitychange", () => (visible() ? refresh() : schedule()));

const savedFormat = prefs.get("job-format");
if (savedFormat && [...els.format.options].some((o) => o.value === savedFormat)) els.format.value = savedFormat;
showSource();
describeFile();
updateSpeed();
updateTextCount();
loadVoices();
refresh();
