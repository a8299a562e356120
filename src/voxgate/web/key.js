// The API key: one for the whole page (Speak, Jobs, the service-level panel), remembered in this
// browser (localStorage) and sent as `Authorization: Bearer <key>` with every API request.
//
// The page itself (HTML, JS, CSS) loads without a key; every request for data needs one when the
// server has keys configured, and a 401 says to enter it. localStorage is readable by any script of
// this origin: the page loads no third-party script and writes text only through textContent.

const STORE = "voxgate.api-key";
const listeners = new Set();
let memory = ""; // when storage is unavailable (private mode): this tab only

/** The key the user entered, or "". */
export function apiKey() {
  try {
    return localStorage.getItem(STORE) ?? "";
  } catch {
    return memory;
  }
}

function setApiKey(value) {
  if (value === apiKey()) return;
  memory = value;
  try {
    if (value) localStorage.setItem(STORE, value);
    else localStorage.removeItem(STORE);
  } catch { /* private mode: kept in memory */ }
  for (const listener of listeners) listener(value);
}

/** `headers` plus the Authorization header when a key is set. */
export function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

/** Call `listener(key)` whenever the key changes (typed in any key field, or in another tab). */
export function onKeyChange(listener) {
  listeners.add(listener);
}

/**
 * Make `input` edit the page's key: it shows the stored key and stores what is typed into it.
 *
 * @param {HTMLInputElement|null} input
 */
export function bindKeyField(input) {
  if (!input) return;
  input.value = apiKey();
  input.addEventListener("change", () => setApiKey(input.value.trim()));
  onKeyChange((key) => {
    if (input.value.trim() !== key) input.value = key;
  });
}

window.addEventListener("storage", (event) => {
  if (event.key !== STORE) return;
  memory = event.newValue ?? "";
  for (const listener of listeners) listener(memory);
});
