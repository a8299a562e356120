// voxgate web UI: the Dialogue view (#dialogue). Several voices, one audio file.
//
// POST /api/v1/tts {dialogue: [{voice, text, pause_ms}], format, priority} — not streamed, so that
// X-Voxgate-Spoken-By and X-Voxgate-Degraded-Turns cover every turn (a stream's headers are sent
// after its first segment). A 422 naming `dialogue[i].voice` / `.text` / `.pause_ms` is shown on
// that turn's control; degraded turns get a badge. Turns are reordered with buttons (no dragging),
// so everything works from the keyboard; focus follows the moved or removed turn.

import { clearAlert, requestError, showAlert } from "./alerts.js";
import { onKeyChange, withKey } from "./key.js";
import { playResponse } from "./player.js";
import { clearRowErrors, errorLine, labelled, showRowError } from "./rows.js";
import { ENGINE_NAMES, voiceOptions } from "./voices.js";

const MAX_TURNS = 500; // the server's limit
const DEFAULT_PAUSE_MS = 300;
const TURN_FIELD = /^dialogue\[(\d+)\]\.?(voice|text|pause_ms)?$/;

const $ = (id) => document.getElementById(id);
const els = {
  view: document.querySelector('.view[data-view="dialogue"]'), alert: $("dlg-alert"), form: $("dlg-form"),
  turns: $("dlg-turns"), add: $("dlg-add"), speak: $("dlg-speak"), progress: $("dlg-progress"),
  result: $("dlg-result"), player: $("dlg-player"), empty: $("dlg-empty"), spoken: $("dlg-spoken"),
  live: $("dlg-live"),
};

const state = { voices: null, busy: false, url: null, answers: 0, nextId: 1 };

async function loadVoices() {
  if (state.voices) return;
  try {
    const response = await fetch("/api/v1/voices", { headers: withKey({ Accept: "application/json" }) });
    if (!response.ok) throw await requestError(response);
    state.voices = (await response.json()).voices;
  } catch (error) {
    showAlert(els.alert, error.title ? error : { title: "Could not load the voices", message: error.message });
    return;
  }
  for (const select of els.turns.querySelectorAll("select")) fillVoices(select);
}

function fillVoices(select) {
  const wanted = select.value || select.dataset.wanted; // the user's pick, else the turn's default
  if (!state.voices) {
    if (!select.options.length) select.replaceChildren(new Option("Loading voices…", ""));
    return;
  }
  select.replaceChildren(voiceOptions(state.voices, navigator.languages));
  if (wanted) select.value = wanted;
}

function turnItems() {
  return [...els.turns.children];
}

/** Number the turns and relabel their controls (labels say "turn 2", so they change on reorder). */
function renumber() {
  const items = turnItems();
  items.forEach((item, index) => {
    const n = index + 1;
    item.querySelector("legend").textContent = `Turn ${n}`;
    for (const which of item.querySelectorAll(".turn-n")) which.textContent = `Turn ${n} `;
    item.querySelector(".turn-up").setAttribute("aria-label", `Move turn ${n} up`);
    item.querySelector(".turn-down").setAttribute("aria-label", `Move turn ${n} down`);
    item.querySelector(".turn-remove").setAttribute("aria-label", `Remove turn ${n}`);
    item.querySelector(".turn-up").disabled = index === 0;
    item.querySelector(".turn-down").disabled = index === items.length - 1;
    item.querySelector(".turn-remove").disabled = items.length === 1;
  });
  els.add.disabled = items.length >= MAX_TURNS;
}

function control(id, labelText, element) {
  return labelled(id, labelText, element, { prefixClass: "turn-n" }); // "Turn 2 ": names stay unique
}

function button(className, text) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `button button--small ${className}`;
  b.textContent = text;
  return b;
}

/** A new turn (an <li> with a fieldset: voice, text, pause, move and remove buttons). */
function makeTurn({ voice = "", text = "", pauseMs = DEFAULT_PAUSE_MS } = {}) {
  const id = state.nextId++;
  const item = document.createElement("li");
  item.className = "turn";
  const fieldset = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.className = "label";
  const degraded = document.createElement("span");
  degraded.className = "badge badge--warn turn-degraded";
  degraded.textContent = "degraded";
  degraded.hidden = true;

  const select = document.createElement("select");
  select.name = "voice";
  select.dataset.wanted = voice;
  fillVoices(select);
  const area = document.createElement("textarea");
  area.name = "text";
  area.rows = 2;
  area.value = text;
  const pause = document.createElement("input");
  pause.type = "number";
  pause.name = "pause_ms";
  pause.min = "0";
  pause.max = "10000";
  pause.step = "50";
  pause.value = String(pauseMs);
  pause.inputMode = "numeric";
  const error = errorLine(`dlg-error-${id}`, [select, area, pause]);

  const row = document.createElement("div");
  row.className = "turn__row";
  row.append(
    control(`dlg-voice-${id}`, "Speaker", select),
    control(`dlg-pause-${id}`, "Pause after (ms)", pause),
  );
  const tools = document.createElement("div");
  tools.className = "turn__tools";
  tools.append(button("turn-up", "↑ Up"), button("turn-down", "↓ Down"), button("turn-remove", "Remove"));
  fieldset.append(legend, degraded, row, control(`dlg-text-${id}`, "Lines", area), error, tools);
  item.append(fieldset);
  return item;
}

function addTurn(values, focus = false) {
  const item = makeTurn(values);
  els.turns.append(item);
  renumber();
  if (focus) item.querySelector("select").focus();
  return item;
}

function onTurnButton(event) {
  const b = event.target.closest("button");
  if (!b || b.disabled) return;
  const item = b.closest("li.turn");
  if (!item) return;
  if (b.classList.contains("turn-up") && item.previousElementSibling) {
    item.previousElementSibling.before(item);
  } else if (b.classList.contains("turn-down") && item.nextElementSibling) {
    item.nextElementSibling.after(item);
  } else if (b.classList.contains("turn-remove") && turnItems().length > 1) {
    const neighbour = item.nextElementSibling ?? item.previousElementSibling;
    item.remove();
    renumber();
    els.live.textContent = "Turn removed.";
    neighbour?.querySelector(".turn-remove")?.focus();
    return;
  } else {
    return;
  }
  renumber();
  const n = turnItems().indexOf(item) + 1;
  els.live.textContent = `Moved to turn ${n}.`;
  // keep focus on the same button; at an end it is disabled, so move to its enabled sibling
  const again = b.disabled ? item.querySelector(".turn-up:not(:disabled), .turn-down:not(:disabled)") : b;
  again?.focus();
}

function clearErrors() {
  clearAlert(els.alert);
  clearRowErrors(turnItems());
  for (const item of turnItems()) item.querySelector(".turn-degraded").hidden = true;
}

/** Show an error on a turn's control when it names one (dialogue[i].voice), else in the alert. */
function showError(error) {
  const match = TURN_FIELD.exec(error.field ?? "");
  const item = match ? turnItems()[Number(match[1])] : null;
  if (!item) {
    showAlert(els.alert, error, () => null);
    return;
  }
  showRowError(item, match[2] ?? "text", error.message);
}

function payload() {
  const turns = turnItems().map((item) => ({
    voice: item.querySelector("select").value,
    text: item.querySelector("textarea").value,
    pause_ms: Number.parseInt(item.querySelector("input").value || "0", 10),
  }));
  return { dialogue: turns, format: "mp3", stream: false };
}

function showSpoken(headers, asked) {
  let spokenBy = (headers.get("X-Voxgate-Spoken-By") ?? "").split(",").filter(Boolean);
  const cached = headers.get("X-Voxgate-Cache") === "hit";
  if (!spokenBy.length) spokenBy = [...new Set(asked.dialogue.map((t) => t.voice))]; // a cache hit names none
  const degraded = new Set((headers.get("X-Voxgate-Degraded-Turns") ?? "").split(",").filter(Boolean).map(Number));
  const items = turnItems();
  for (const index of degraded) if (items[index]) items[index].querySelector(".turn-degraded").hidden = false;
  const list = spokenBy.map((entry) => {
    const [voice, engine] = entry.split("@");
    const li = document.createElement("li");
    li.textContent = engine ? `${voice} — ${ENGINE_NAMES[engine] ?? engine}` : voice;
    return li;
  });
  els.spoken.replaceChildren(...list);
  const note = degraded.size
    ? ` Turn${degraded.size > 1 ? "s" : ""} ${[...degraded].map((i) => i + 1).join(", ")} degraded (a fallback engine spoke).`
    : "";
  const from = cached ? " (from the cache)" : "";
  return `${spokenBy.length} voice${spokenBy.length === 1 ? "" : "s"} spoke${from}.${note}`;
}

async function speak() {
  if (state.busy) return;
  clearErrors();
  const body = payload();
  const empty = body.dialogue.findIndex((t) => !t.text.trim());
  if (empty >= 0) {
    showError({ field: `dialogue[${empty}].text`, message: "Type what this turn says (or remove the turn)." });
    return;
  }
  state.busy = true;
  els.speak.setAttribute("aria-disabled", "true");
  els.form.setAttribute("aria-busy", "true");
  els.progress.textContent = "Synthesising the dialogue…";
  try {
    const response = await fetch("/api/v1/tts", {
      method: "POST",
      headers: withKey({ "Content-Type": "application/json", Accept: "audio/*, application/json" }),
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await requestError(response);
    const mime = (response.headers.get("Content-Type") ?? "audio/mpeg").split(";")[0].trim();
    const summary = showSpoken(response.headers, body);
    els.player.hidden = false;
    els.empty.hidden = true;
    await playResponse(response, els.player, {
      mime,
      onFirstChunk: () => {},
      setSource: (url) => {
        if (state.url) URL.revokeObjectURL(state.url);
        state.url = url;
        els.player.src = url;
      },
    });
    els.progress.textContent = `Done: ${summary}`;
    state.answers += 1;
    els.result.dataset.answers = String(state.answers);
  } catch (error) {
    els.progress.textContent = "";
    showError(error.title || error.field ? error : { title: "Could not reach voxgate", message: error.message });
  } finally {
    state.busy = false;
    els.speak.setAttribute("aria-disabled", "false");
    els.form.setAttribute("aria-busy", "false");
  }
}

function onView() {
  if (!els.view.hidden) loadVoices();
}

els.turns.addEventListener("click", onTurnButton);
els.add.addEventListener("click", () => addTurn({ pauseMs: DEFAULT_PAUSE_MS }, true));
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  speak();
});
addTurn({ voice: "joe", text: "Welcome to the show. Who is with us today?" });
addTurn({ voice: "espeak-en-us", text: "Hello, I am the robot voice of this podcast." });
onKeyChange(() => { // a new key may open voices that were refused
  state.voices = null;
  onView();
});
window.addEventListener("hashchange", onView);
onView();
