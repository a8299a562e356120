// voxgate web UI: the Live view (#live). Speech follows the text as it is typed or pasted.
//
// One WebSocket to /api/v1/tts/realtime (linear16, 24 kHz; the API key as ?key=, since a browser
// cannot set a socket's headers). What is typed is sent as "speak" fragments; the server speaks
// each clause as soon as its punctuation arrives (or after a short pause at a word boundary).
// Audio plays through Web Audio, each piece queued after the last. Stop sends "clear" (barge-in):
// what is queued here stops at once, and audio still in transit is dropped until "cleared".
// "Speak the rest" sends "flush"; "End" sends "close" (the rest is spoken, then the server closes).

import { clearAlert, showAlert } from "./alerts.js";
import { apiKey, withKey } from "./key.js";
import { ENGINE_NAMES, voiceOptions } from "./voices.js";

const RATE = 24000;
const LEAD_S = 0.05; // scheduling margin for the first piece after silence

const $ = (id) => document.getElementById(id);
const els = {
  view: document.querySelector('.view[data-view="live"]'), alert: $("live-alert"), form: $("live-form"),
  text: $("live-text"), voice: $("live-voice"), start: $("live-start"), flush: $("live-flush"),
  stop: $("live-stop"), end: $("live-end"), status: $("live-status"), log: $("live-log"),
};

const state = {
  ws: null, audio: null, next: 0, sources: new Set(), sent: 0, clearing: 0, loaded: false,
};

function setStatus(text) {
  els.status.textContent = text;
}

function setLive(live) {
  els.start.disabled = live;
  els.voice.disabled = live;
  for (const button of [els.flush, els.stop, els.end]) button.disabled = !live;
}

async function loadVoices() {
  if (state.loaded) return;
  try {
    const response = await fetch("/api/v1/voices", { headers: withKey({ Accept: "application/json" }) });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const body = await response.json();
    els.voice.replaceChildren(voiceOptions(body.voices, navigator.languages));
    state.loaded = true;
  } catch (error) {
    els.voice.replaceChildren(new Option("Voices unavailable", ""));
    showAlert(els.alert, { title: "Could not load the voices", message: error.message });
  }
}

function socketUrl() {
  const url = new URL("/api/v1/tts/realtime", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("encoding", "linear16");
  url.searchParams.set("sample_rate", String(RATE));
  if (els.voice.value) url.searchParams.set("voice", els.voice.value);
  const key = apiKey();
  if (key) url.searchParams.set("key", key);
  return url;
}

function goLive() {
  clearAlert(els.alert);
  state.audio ??= new AudioContext({ sampleRate: RATE }); // created on a click: allowed to play
  state.audio.resume();
  const ws = new WebSocket(socketUrl());
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  state.sent = 0;
  state.clearing = 0;
  let opened = false;
  setStatus("Connecting…");
  ws.addEventListener("open", () => {
    opened = true;
    setLive(true);
    sendTyped();
  });
  ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") onMessage(JSON.parse(event.data));
    else if (!state.clearing) play(event.data);
  });
  ws.addEventListener("close", (event) => {
    if (state.ws === ws) state.ws = null;
    setLive(false);
    if (!opened) {
      showAlert(els.alert, {
        title: "The server refused the live connection",
        message: "Check the API key (under Speak → API key) and the voice, then try again.",
      });
      setStatus("");
    } else {
      setStatus(event.code === 1000 ? "Ended." : `Disconnected (${event.code}).`);
    }
  });
}

function send(message) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

// What was typed since the last send goes out; text deleted is not unsaid (it was spoken or is due).
function sendTyped() {
  const text = els.text.value;
  if (text.length < state.sent) state.sent = text.length;
  if (text.length > state.sent) {
    send({ type: "speak", text: text.slice(state.sent) });
    state.sent = text.length;
  }
}

function play(buffer) {
  const audio = state.audio;
  const samples = new Int16Array(buffer);
  if (!audio || !samples.length) return;
  const clip = audio.createBuffer(1, samples.length, RATE);
  const channel = clip.getChannelData(0);
  for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 32768;
  const source = audio.createBufferSource();
  source.buffer = clip;
  source.connect(audio.destination);
  const at = Math.max(audio.currentTime + LEAD_S, state.next);
  source.start(at);
  state.next = at + clip.duration;
  state.sources.add(source);
  source.addEventListener("ended", () => state.sources.delete(source));
}

function stopPlayback() {
  for (const source of state.sources) source.stop();
  state.sources.clear();
  state.next = 0;
}

function onMessage(message) {
  switch (message.type) {
    case "metadata":
      setStatus(`Live: ${message.voice ?? "default voice"} (${(message.engine_chain ?? []).join(" → ")}).`);
      break;
    case "segment": {
      const item = document.createElement("li");
      const engine = ENGINE_NAMES[message.engine] ?? message.engine;
      const how = message.degraded ? `${engine}, fallback (${message.reason ?? "degraded"})` : engine;
      item.textContent = `${message.text} — ${how}`;
      if (message.degraded) item.classList.add("degraded");
      els.log.prepend(item);
      break;
    }
    case "cleared":
      state.clearing = Math.max(0, state.clearing - 1);
      setStatus("Stopped. Keep typing to speak again.");
      break;
    case "flushed":
      setStatus("Everything typed has been spoken.");
      break;
    case "warning":
      setStatus(message.message);
      break;
    case "error":
      showAlert(els.alert, { title: "The live connection reported an error", message: message.message, field: message.field });
      break;
    default:
      break;
  }
}

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!state.ws) goLive();
});
els.text.addEventListener("input", sendTyped);
els.flush.addEventListener("click", () => send({ type: "flush" }));
els.stop.addEventListener("click", () => {
  state.clearing += 1;
  send({ type: "clear" });
  stopPlayback();
  state.sent = els.text.value.length; // what was typed so far is dropped with the clear
});
els.end.addEventListener("click", () => send({ type: "close" }));

function onView() {
  if (!els.view.hidden) loadVoices();
}
window.addEventListener("hashchange", onView);
onView();
