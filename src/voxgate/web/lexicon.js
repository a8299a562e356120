// voxgate web UI: the Lexicon view (#lexicon). The caller's pronunciation entries.
//
// GET /api/v1/lexicon lists the caller's entries (its API key's; everyone's when keys are off) and
// the entries of the server's lexicon file (`server`, shown read-only: the caller's override them).
// Rows are edited here and saved together with PUT (it replaces the whole list); a 422 naming
// `entries[i].word` / `entries[i].say` / `entries[i]` is shown on that row.

import { clearAlert, requestError, showAlert } from "./alerts.js";
import { onKeyChange, withKey } from "./key.js";
import { clearRowErrors, errorLine, labelled, showRowError } from "./rows.js";

const KINDS = { say: "Say as", ipa: "IPA", pinyin: "Pinyin" };
const PLACEHOLDERS = { say: "sequel", ipa: "təˈmɑːtoʊ", pinyin: "chong2 qing4" };
const ROW_FIELD = /^entries\[(\d+)\](?:\.(word|say|ipa|pinyin|case_sensitive))?$/;

const $ = (id) => document.getElementById(id);
const els = {
  view: document.querySelector('.view[data-view="lexicon"]'), alert: $("lex-alert"), form: $("lex-form"),
  rows: $("lex-rows"), empty: $("lex-empty"), server: $("lex-server"), add: $("lex-add"), save: $("lex-save"),
  reload: $("lex-reload"), status: $("lex-status"), live: $("lex-live"),
  serverBox: $("lex-server-box"), serverSummary: $("lex-server-summary"), serverRows: $("lex-server-rows"),
};

const state = { loaded: false, busy: false, nextId: 1, sent: [] };

/** One entry row: word, kind, value, case-sensitive, remove; an error line under it. */
function makeRow(entry = {}) {
  const id = state.nextId++;
  const kind = ["ipa", "pinyin"].find((k) => entry[k] !== undefined) ?? "say";
  const item = document.createElement("li");
  item.className = "lex-row";
  const word = document.createElement("input");
  word.type = "text";
  word.name = "word";
  word.autocomplete = "off";
  word.maxLength = 64;
  word.value = entry.word ?? "";
  const select = document.createElement("select");
  select.name = "kind";
  for (const [value, text] of Object.entries(KINDS)) select.add(new Option(text, value));
  select.value = kind;
  const value = document.createElement("input");
  value.type = "text";
  value.name = "value";
  value.autocomplete = "off";
  value.value = entry[kind] ?? "";
  value.placeholder = PLACEHOLDERS[kind];
  select.addEventListener("change", () => { value.placeholder = PLACEHOLDERS[select.value]; });
  const caseBox = document.createElement("input");
  caseBox.type = "checkbox";
  caseBox.name = "case_sensitive";
  caseBox.checked = Boolean(entry.case_sensitive);
  const caseLabel = document.createElement("label");
  caseLabel.className = "check";
  caseLabel.append(caseBox, Object.assign(document.createElement("span"), { textContent: "Match case" }));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button button--small lex-remove";
  remove.textContent = "Delete";
  const error = errorLine(`lex-error-${id}`, [word, select, value]);

  const grid = document.createElement("div");
  grid.className = "lex-row__grid";
  grid.append(
    labelled(`lex-word-${id}`, "Word", word),
    labelled(`lex-kind-${id}`, "Kind", select),
    labelled(`lex-value-${id}`, "Value", value),
  );
  const tools = document.createElement("div");
  tools.className = "lex-row__tools";
  tools.append(caseLabel, remove);
  item.append(grid, tools, error);
  return item;
}

function rowItems() {
  return [...els.rows.children];
}

/** Name each row's controls after its word ("Word of entry 2"), so a screen reader knows the row. */
function relabel() {
  rowItems().forEach((item, index) => {
    const n = index + 1;
    item.querySelector('[name="word"]').setAttribute("aria-label", `Word of entry ${n}`);
    item.querySelector('[name="kind"]').setAttribute("aria-label", `Kind of entry ${n}`);
    item.querySelector('[name="value"]').setAttribute("aria-label", `Value of entry ${n}`);
    item.querySelector(".lex-remove").setAttribute("aria-label", `Delete entry ${n}`);
  });
  els.empty.hidden = rowItems().length > 0;
}

function serverRow(entry) {
  const kind = ["say", "ipa", "pinyin"].find((k) => entry[k] !== undefined) ?? "say";
  const row = document.createElement("tr");
  for (const text of [entry.word, KINDS[kind], entry[kind] ?? ""]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

function render(body) {
  els.rows.replaceChildren(...body.entries.map((entry) => makeRow(entry)));
  relabel();
  const server = Array.isArray(body.server) ? body.server : [];
  const extra = body.server_entries ?? server.length;
  els.server.textContent = extra
    ? `${extra} more entr${extra === 1 ? "y comes" : "ies come"} from the server’s lexicon file (read-only; yours override them). At most ${body.max_entries} entries of yours.`
    : `At most ${body.max_entries} entries.`;
  els.serverRows.replaceChildren(...server.map(serverRow));
  els.serverSummary.textContent = `Server entries (${server.length}, read-only)`;
  els.serverBox.hidden = server.length === 0;
}

function clearErrors() {
  clearAlert(els.alert);
  clearRowErrors(rowItems());
}

function showError(error) {
  const match = ROW_FIELD.exec(error.field ?? "");
  const item = match ? state.sent[Number(match[1])] : null;
  if (!item) {
    showAlert(els.alert, error, () => null);
    return;
  }
  const name = match[2] === "word" ? "word" : match[2] === "case_sensitive" ? "case_sensitive" : "value";
  showRowError(item, name, error.message);
}

async function request(method, body) {
  const headers = withKey({ Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}) });
  const response = await fetch("/api/v1/lexicon", { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!response.ok) throw await requestError(response);
  return response.json();
}

async function load() {
  clearErrors();
  els.status.textContent = "Loading…";
  try {
    render(await request("GET"));
    state.loaded = true;
    els.status.textContent = `${rowItems().length} entr${rowItems().length === 1 ? "y" : "ies"}.`;
  } catch (error) {
    els.status.textContent = "";
    showError(error.title ? error : { title: "Could not load the lexicon", message: error.message });
  }
}

async function save() {
  if (state.busy) return;
  clearErrors();
  // rows left blank are dropped; the others keep their place so a 422's index finds its row
  state.sent = rowItems().filter((item) => item.querySelector('[name="word"]').value.trim()
    || item.querySelector('[name="value"]').value.trim());
  const entries = state.sent.map((item) => {
    const entry = { word: item.querySelector('[name="word"]').value.trim() };
    entry[item.querySelector('[name="kind"]').value] = item.querySelector('[name="value"]').value;
    if (item.querySelector('[name="case_sensitive"]').checked) entry.case_sensitive = true;
    return entry;
  });
  state.busy = true;
  els.save.setAttribute("aria-disabled", "true");
  els.status.textContent = "Saving…";
  try {
    const body = await request("PUT", { entries });
    render(body);
    els.status.textContent = `Saved ${body.entries.length} entr${body.entries.length === 1 ? "y" : "ies"}.`;
    els.form.dataset.version = body.version; // for tests and scripts: the lexicon version after saving
  } catch (error) {
    els.status.textContent = "Not saved.";
    showError(error.title || error.field ? error : { title: "Could not save the lexicon", message: error.message });
  } finally {
    state.busy = false;
    els.save.setAttribute("aria-disabled", "false");
  }
}

function onRowClick(event) {
  const b = event.target.closest("button.lex-remove");
  if (!b) return;
  const item = b.closest("li");
  const neighbour = item.nextElementSibling ?? item.previousElementSibling;
  const word = item.querySelector('[name="word"]').value.trim();
  item.remove();
  relabel();
  els.live.textContent = `Deleted ${word ? `“${word}”` : "the entry"}; Save to apply.`;
  els.status.textContent = "Unsaved changes.";
  (neighbour?.querySelector(".lex-remove") ?? els.add).focus();
}

function onView() {
  if (!els.view.hidden && !state.loaded) load();
}

els.rows.addEventListener("click", onRowClick);
els.rows.addEventListener("input", () => { els.status.textContent = "Unsaved changes."; });
els.add.addEventListener("click", () => {
  const item = makeRow();
  els.rows.append(item);
  relabel();
  item.querySelector('[name="word"]').focus();
});
els.reload.addEventListener("click", load);
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  save();
});
onKeyChange(() => { // another key, another lexicon
  state.loaded = false;
  onView();
});
window.addEventListener("hashchange", onView);
onView();
