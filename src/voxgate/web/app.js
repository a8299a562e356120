// voxgate web UI: the Speak view. No build step: ES modules served as they are.
//
// One request: POST /api/v1/tts {text, voice, speed, format, priority, stream: true}, priority
// "interactive" unless the caller's limits (GET /api/v1/voices) leave it out;
// the X-Voxgate-* headers say which engine spoke, whether it degraded and why, cache and latency;
// the body plays as it arrives (see player.js). With "Highlight each word" on, the request also
// asks for timestamps and the answer's words are marked as they are spoken (see words.js).
// Errors ({"error": {message, field}}) go to the alert region, never silently.

import { clearAlert, requestError, showAlert } from "./alerts.js";
import { bindKeyField, onKeyChange, withKey } from "./key.js";
import { canStream, playResponse } from "./player.js";
import { TAGS, checkSsml, insertTag, looksLikeSsml, ssmlToText, wrapInSpeak } from "./ssml.js";
import { formatMs, startSlaPanel } from "./sla.js";
import { ENGINE_NAMES, describeVoice, scriptLanguage, voiceOptions } from "./voices.js";
import { WordTrack, timedAudio } from "./words.js";

const DEFAULT_MAX_CHARS = 4096;
const NEAR_LIMIT = 0.9;
const FIELDS = ["text", "voice", "speed", "format"]; // error fields that name a control (same id)
const MIME = { mp3: "audio/mpeg", aac: "audio/aac", opus: "audio/ogg", wav: "audio/wav", flac: "audio/flac" };
const OUTCOMES = {
  timeout: "did not finish in time",
  crashed: "crashed",
  error: "failed",
  breaker_open: "is paused after repeated failures (circuit breaker open)",
  too_slow: "could not finish within the deadline",
  queue_timeout: "was too busy",
  not_ready: "was still starting",
  hedged: "was overtaken by a faster engine",
};

const $ = (id) => document.getElementById(id);
const els = {
  form: $("tts-form"), text: $("text"), counter: $("counter"), counterStatus: $("counter-status"),
  voice: $("voice"), voiceInfo: $("voice-info"), speed: $("speed"), speedValue: $("speed-value"),
  format: $("format"), formatInfo: $("format-info"), apiKey: $("api-key"),
  speak: $("speak"), speakLabel: $("speak-label"), stop: $("stop"), progress: $("progress"),
  alert: $("alert"), result: $("result"), player: $("player"), empty: $("result-empty"),
  facts: $("result-facts"), engine: $("fact-engine"), quality: $("fact-quality"), cache: $("fact-cache"),
  first: $("fact-first"), total: $("fact-total"), voiceUsed: $("fact-voice"), reason: $("fact-reason"),
  download: $("download"), ssmlMode: $("ssml-mode"), ssmlTools: $("ssml-tools"), textError: $("text-error"),
  spokenByRow: $("fact-spoken-by-row"), spokenBy: $("fact-spoken-by"),
  ignoredRow: $("fact-ignored-row"), ignored: $("fact-ignored"), highlight: $("highlight-words"),
};
const words = new WordTrack($("result-words"), els.player, $("result-words-hint"));

const state = {
  maxChars: DEFAULT_MAX_CHARS, counterLevel: "ok", answers: 0, voices: new Map(), controller: null,
  priority: "interactive", // the most urgent class the server lets this caller use
  urls: { player: null, file: null },
  textError: false, // a message is shown under the text box (malformed SSML, the server's 422)
};
const number = new Intl.NumberFormat("en");

// ---- preferences (remembered in this browser only) -------------------------------------------
const prefs = {
  get(key) {
    try { return localStorage.getItem(`voxgate.${key}`); } catch { return null; }
  },
  set(key, value) {
    try { localStorage.setItem(`voxgate.${key}`, value); } catch { /* private mode: not remembered */ }
  },
};

// ---- views (the Jobs tab adds a link and a section; nothing here changes) ---------------------
function showView() {
  const views = [...document.querySelectorAll(".view[data-view]")];
  const wanted = location.hash.slice(1);
  const current = views.find((v) => v.dataset.view === wanted) ?? views[0];
  for (const view of views) view.hidden = view !== current;
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === current.dataset.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// ---- text and voice: counter, limit, language ----------------------------------------------------
function textLanguage() {
  return scriptLanguage(els.text.value) ?? els.voice.selectedOptions[0]?.dataset.lang ?? "en";
}

function updateCounter() {
  const count = [...els.text.value].length;
  const near = count >= state.maxChars * NEAR_LIMIT;
  const over = count > state.maxChars;
  els.counter.textContent = `${number.format(count)} / ${number.format(state.maxChars)} characters`;
  els.counter.classList.toggle("is-near", near && !over);
  els.counter.classList.toggle("is-over", over);
  els.text.setAttribute("aria-invalid", String(over || state.textError));
  els.text.lang = textLanguage(); // screen readers read the text in its own language
  const level = over ? "over" : near ? "near" : "ok";
  if (level !== state.counterLevel) {
    state.counterLevel = level;
    els.counterStatus.textContent = {
      over: `Over the limit of ${number.format(state.maxChars)} characters. Shorten the text to speak it.`,
      near: `Nearing the limit of ${number.format(state.maxChars)} characters.`,
      ok: "",
    }[level];
  }
}

function updateVoiceInfo() {
  const option = els.voice.selectedOptions[0];
  const voice = option && state.voices.get(option.value);
  if (!voice) {
    els.voiceInfo.textContent = "";
    return;
  }
  const spoken = scriptLanguage(els.text.value);
  const lang = voice.languages.includes(spoken) ? spoken : option.dataset.lang;
  els.voiceInfo.textContent = describeVoice(voice, lang);
}

async function loadVoices() {
  try {
    const response = await fetch("/api/v1/voices", { headers: withKey({ Accept: "application/json" }) });
    if (!response.ok) throw await requestError(response);
    const body = await response.json();
    if (Number.isInteger(body.limits?.max_chars)) state.maxChars = body.limits.max_chars;
    const allowed = body.limits?.priorities;
    if (Array.isArray(allowed) && allowed.length) {
      state.priority = allowed.includes("interactive") ? "interactive" : allowed[0];
    }
    for (const voice of body.voices) state.voices.set(voice.id, voice);
    els.voice.replaceChildren(voiceOptions(body.voices, navigator.languages));
    const remembered = prefs.get("voice");
    const match = [...els.voice.options].find((o) => `${o.value}@${o.dataset.lang}` === remembered);
    if (match) match.selected = true;
  } catch (error) {
    els.voice.replaceChildren(new Option("Voices unavailable", ""));
    showError(error.title ? error : { title: "Could not load the voices", message: error.message });
  }
  updateCounter();
  updateVoiceInfo();
}

// ---- speed and format -------------------------------------------------------------------------------
function updateSpeed() {
  const value = Number(els.speed.value).toFixed(2);
  els.speedValue.textContent = `${value}×`;
  els.speed.setAttribute("aria-valuetext", `${value} times normal speed`);
}

function updateFormat() {
  els.formatInfo.textContent = canStream(MIME[els.format.value])
    ? "Plays while it is being made."
    : "Plays once the whole file has arrived.";
}

// ---- SSML mode ---------------------------------------------------------------------------------------
function setSsmlMode(on) {
  els.ssmlMode.checked = on;
  els.ssmlTools.hidden = !on;
  els.text.spellcheck = !on;
}

/** Show (or, with "", clear) a message under the text box; it is announced (role=alert). */
function showTextError(message) {
  state.textError = Boolean(message);
  els.textError.textContent = message;
  els.textError.hidden = !message;
  updateCounter();
}

/** Check the SSML in the text box; show what is wrong with it. Returns true when it may be sent. */
function validateSsml() {
  if (!els.ssmlMode.checked && !looksLikeSsml(els.text.value)) return true;
  const problem = checkSsml(els.text.value);
  showTextError(problem ? `The SSML is not well-formed: ${problem.message}` : "");
  return problem === null;
}

function toggleSsml() {
  const text = els.text.value;
  if (els.ssmlMode.checked) {
    if (!looksLikeSsml(text)) {
      els.text.value = wrapInSpeak(text);
      const end = els.text.value.length - "</speak>".length; // the toolbar inserts inside <speak>
      els.text.setSelectionRange(end, end);
    }
  } else if (looksLikeSsml(text)) {
    const plain = ssmlToText(text);
    if (plain === null) { // malformed: leaving would send it as SSML anyway; say so and stay
      setSsmlMode(true);
      validateSsml();
      return;
    }
    els.text.value = plain;
  }
  setSsmlMode(els.ssmlMode.checked);
  showTextError("");
}

// ---- errors ------------------------------------------------------------------------------------------
function showError(error) {
  if (error.status === 401) { // no key, or a wrong one: open the key field and offer to go there
    els.apiKey.closest("details").open = true;
    error = { ...error, field: "API key" };
  }
  if (error.status === 422 && error.field === "text") { // e.g. malformed SSML: say it at the field
    showTextError(error.message);
    return;
  }
  showAlert(els.alert, error, (name) => (name === "API key" ? els.apiKey : FIELDS.includes(name) ? $(name) : null));
}

function clearError() {
  clearAlert(els.alert);
  for (const id of FIELDS) if (id !== "text") $(id).removeAttribute("aria-invalid");
  els.apiKey.removeAttribute("aria-invalid");
  showTextError("");
}

// ---- speaking ------------------------------------------------------------------------------------
function setSource(url) {
  if (state.urls.player) URL.revokeObjectURL(state.urls.player);
  state.urls.player = url;
  els.player.src = url;
}

function setBusy(busy) {
  els.speak.setAttribute("aria-disabled", String(busy)); // not `disabled`: keyboard focus stays on it
  els.speakLabel.textContent = busy ? "Speaking…" : "Speak";
  els.stop.hidden = !busy;
  els.form.setAttribute("aria-busy", String(busy));
}

function setFact(dd, value, note) {
  const sub = document.createElement("span");
  sub.className = "sub";
  sub.textContent = note;
  dd.replaceChildren(value, sub);
}

// The headers of a stream say how its first sentence was made; its `done` event says how the
// whole answer was (a later sentence may have been spoken by a fallback engine).
function withVerdict(headers, verdict) {
  const merged = new Headers(headers);
  merged.set("X-Voxgate-Engine", verdict.engine);
  merged.set("X-Voxgate-Degraded", String(Boolean(verdict.degraded)));
  merged.set("X-Voxgate-Fallback-Reason", verdict.fallback_reason ?? "");
  if (Array.isArray(verdict.spoken_by)) merged.set("X-Voxgate-Spoken-By", verdict.spoken_by.join(","));
  return merged;
}

function showFacts(headers, timing) {
  const engine = headers.get("X-Voxgate-Engine") ?? "unknown";
  const degraded = headers.get("X-Voxgate-Degraded") === "true";
  const reason = headers.get("X-Voxgate-Fallback-Reason") ?? "";
  const cache = headers.get("X-Voxgate-Cache") ?? "miss";
  const serverMs = Number.parseFloat(headers.get("X-Voxgate-Latency-Ms") ?? ""); // NaN when absent
  els.engine.textContent = engine;
  els.engine.title = ENGINE_NAMES[engine] ?? engine;
  els.engine.className = "badge badge--engine";
  els.quality.textContent = degraded ? "degraded" : "full quality";
  els.quality.className = `badge ${degraded ? "badge--warn" : "badge--ok"}`;
  els.cache.textContent = cache === "hit" ? "hit (from cache)" : "miss (newly made)";
  setFact(els.first, Number.isFinite(serverMs) ? formatMs(serverMs) : "—",
    timing.firstMs === null ? "at the server" : `at the server; ${formatMs(timing.firstMs)} in this page`);
  setFact(els.total, timing.totalMs === null ? "…" : formatMs(timing.totalMs), "measured in this page");
  els.voiceUsed.textContent = headers.get("X-Voxgate-Voice") ?? els.voice.value;
  const spokenBy = headers.get("X-Voxgate-Spoken-By") ?? "";
  els.spokenBy.textContent = spokenBy.split(",").filter(Boolean).join(", ");
  els.spokenByRow.hidden = !spokenBy.includes(","); // one voice: the Voice fact says it already
  const ignored = headers.get("X-Voxgate-Ignored") ?? "";
  els.ignored.textContent = ignored.split(",").filter(Boolean).join(", ");
  els.ignoredRow.hidden = !ignored;
  const [failed, outcome] = reason.split(":");
  els.reason.hidden = !degraded && !reason;
  els.reason.textContent = reason
    ? `Fallback: ${ENGINE_NAMES[failed] ?? failed} ${OUTCOMES[outcome] ?? outcome ?? "did not answer"}, so ${
      ENGINE_NAMES[engine] ?? engine} spoke instead.`
    : degraded ? "Degraded: a fallback engine answered." : "";
  els.facts.hidden = false;
  els.empty.hidden = true;
  els.player.hidden = false;
}

async function speak() {
  if (state.controller) return;
  clearError();
  const text = els.text.value;
  if (!text.trim()) {
    showError({ title: "Nothing to speak", message: "Type some text first.", field: "text" });
    return;
  }
  if (!validateSsml()) { // malformed SSML: no request, the line and column are under the box
    els.text.focus();
    return;
  }
  const format = els.format.value;
  const payload = {
    text, voice: els.voice.value || null, speed: Number(els.speed.value), format,
    priority: state.priority, stream: true, timestamps: els.highlight.checked,
  };
  const headers = withKey({ "Content-Type": "application/json", Accept: "audio/*, application/json" });

  state.controller = new AbortController();
  setBusy(true);
  els.download.hidden = true;
  els.progress.textContent = "Synthesising…";
  const started = performance.now();
  const timing = { firstMs: null, totalMs: null };
  words.reset(els.text.lang);
  try {
    let response = await fetch("/api/v1/tts", {
      method: "POST", headers, body: JSON.stringify(payload), signal: state.controller.signal,
    });
    if (!response.ok) throw await requestError(response);
    let verdict = null; // how the whole answer was made (a timestamped stream's last event)
    if (payload.timestamps) {
      response = timedAudio(response, MIME[format], (spoken) => words.add(spoken), (done) => { verdict = done; });
    }
    const mime = (response.headers.get("Content-Type") ?? MIME[format]).split(";")[0].trim();
    showFacts(response.headers, timing);
    const { blob, streamed } = await playResponse(response, els.player, {
      mime,
      setSource,
      onFirstChunk: () => {
        timing.firstMs = performance.now() - started;
        const streaming = canStream(mime);
        els.progress.textContent = streaming ? "Playing while the rest is made…" : "Receiving audio…";
      },
    });
    timing.totalMs = performance.now() - started;
    showFacts(verdict ? withVerdict(response.headers, verdict) : response.headers, timing);
    offerDownload(blob, format);
    const quality = els.quality.textContent;
    els.progress.textContent = `Done in ${formatMs(timing.totalMs)}: ${els.engine.textContent}, ${quality}.`;
    state.answers += 1;
    els.result.dataset.answers = String(state.answers); // for tests and user scripts: answers so far
    els.result.dataset.streamed = String(streamed); // true: playback started before the end (MSE)
    els.result.dispatchEvent(new CustomEvent("voxgate:spoken", { // for user scripts: each answer
      detail: { payload, headers: response.headers, blob, player: els.player, words: words.words() },
    }));
  } catch (error) {
    if (error.name === "AbortError") {
      els.progress.textContent = "Stopped.";
    } else {
      els.progress.textContent = "";
      showError(error.title ? error : { title: "Could not reach voxgate", message: error.message });
    }
  } finally {
    state.controller = null;
    const refocus = document.activeElement === els.stop; // Stop is about to hide: keep the focus nearby
    setBusy(false);
    if (refocus) els.speak.focus();
    sla?.refresh();
  }
}

function offerDownload(blob, format) {
  if (state.urls.file) URL.revokeObjectURL(state.urls.file);
  state.urls.file = URL.createObjectURL(blob);
  els.download.href = state.urls.file;
  els.download.download = `voxgate.${format}`;
  const kilobytes = number.format(Math.max(1, Math.round(blob.size / 1024)));
  els.download.textContent = `Download voxgate.${format} (${kilobytes} KB)`;
  els.download.hidden = false;
}

function stop() {
  state.controller?.abort();
  els.player.pause();
}

// ---- wiring -------------------------------------------------------------------------------------------
els.text.addEventListener("input", () => {
  if (!els.ssmlMode.checked && looksLikeSsml(els.text.value)) setSsmlMode(true); // auto-detect
  if (state.textError) validateSsml(); // clear the message as soon as it is fixed
  updateCounter();
  updateVoiceInfo();
});
els.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    speak();
  }
});
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  speak();
});
els.stop.addEventListener("click", stop);
els.text.addEventListener("change", validateSsml); // on leaving the box, not while a tag is half typed
els.ssmlMode.addEventListener("change", toggleSsml);
for (const button of els.ssmlTools.querySelectorAll("button[data-tag]")) {
  if (button.dataset.tag in TAGS) button.addEventListener("click", () => insertTag(els.text, button.dataset.tag));
}
els.voice.addEventListener("change", () => {
  const option = els.voice.selectedOptions[0];
  prefs.set("voice", `${option.value}@${option.dataset.lang}`);
  els.voice.removeAttribute("aria-invalid");
  updateCounter();
  updateVoiceInfo();
});
els.speed.addEventListener("input", updateSpeed);
els.speed.addEventListener("change", () => prefs.set("speed", els.speed.value));
els.highlight.addEventListener("change", () => prefs.set("highlight", String(els.highlight.checked)));
els.format.addEventListener("change", () => {
  prefs.set("format", els.format.value);
  updateFormat();
});
window.addEventListener("hashchange", showView);

bindKeyField(els.apiKey);
onKeyChange(() => { // a new key may open what was refused: load again
  clearError();
  loadVoices();
  sla?.refresh();
});

const savedSpeed = prefs.get("speed");
if (savedSpeed !== null) els.speed.value = savedSpeed;
const savedFormat = prefs.get("format");
if (savedFormat && MIME[savedFormat]) els.format.value = savedFormat;
if (prefs.get("highlight") === "false") els.highlight.checked = false;
showView();
setSsmlMode(looksLikeSsml(els.text.value));
updateSpeed();
updateFormat();
updateCounter();
loadVoices();
const sla = startSlaPanel(document.querySelector(".sla"));
