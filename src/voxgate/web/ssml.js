// SSML in the Speak view: the mode switch, the tag toolbar and the check before sending.
//
// The check is the browser's own XML parser (DOMParser, no network): a malformed document is
// reported with its line and column before any request, like the server's 422 would be. The
// server stays the judge of everything else (unknown voices, sizes, nesting); its 422 message is
// shown next to the field by the caller (app.js) through showFieldError.

/** Whether the server reads a text as SSML: `<speak` or `<!DOCTYPE` first (after an XML declaration). */
export function looksLikeSsml(text) {
  return /^\s*(?:<\?xml[^<>]{0,200}\?>\s*)?(?:<speak|<!DOCTYPE)/.test(text);
}

/**
 * Check that a document is well-formed XML whose root is <speak>.
 *
 * @param {string} text
 * @returns {{line: number|null, column: number|null, message: string}|null} null when well-formed.
 */
export function checkSsml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  const error = doc.getElementsByTagName("parsererror")[0];
  if (error) {
    const detail = error.textContent ?? "";
    // Chromium: "error on line 1 at column 35: Opening and ending tag mismatch: …";
    // Firefox: "XML Parsing Error: mismatched tag … Line Number 1, Column 35:".
    const at = detail.match(/line (\d+) at column (\d+):\s*([^\n]*)/i)
      ?? detail.match(/Line Number (\d+), Column (\d+):?\s*([^\n]*)/i);
    if (at) {
      const reason = at[3].trim() || detail.split("\n")[0];
      return { line: Number(at[1]), column: Number(at[2]), message: `line ${at[1]}, column ${at[2]}: ${reason}` };
    }
    return { line: null, column: null, message: detail.split("\n").find((l) => l.trim()) ?? "not well-formed XML" };
  }
  if (doc.documentElement.localName !== "speak") {
    return { line: 1, column: 1, message: `line 1, column 1: the root element is <${doc.documentElement.localName}>, not <speak>` };
  }
  return null;
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

/** Plain text as an SSML document: `<speak>` around it, with &, < and > escaped. */
export function wrapInSpeak(text) {
  return `<speak>${text.replace(/[&<>]/g, (c) => ESCAPES[c])}</speak>`;
}

/** The words of an SSML document without its markup (for leaving SSML mode); null when malformed. */
export function ssmlToText(text) {
  if (checkSsml(text)) return null;
  return new DOMParser().parseFromString(text, "application/xml").documentElement.textContent ?? "";
}

/**
 * The toolbar's tags. `open`/`close` wrap the selection (or the placeholder `sample` when nothing
 * is selected); an empty `close` inserts `open` alone (a void element).
 */
export const TAGS = {
  break: { open: '<break time="500ms"/>', close: "", sample: "" },
  emphasis: { open: '<emphasis level="strong">', close: "</emphasis>", sample: "really" },
  slow: { open: '<prosody rate="slow">', close: "</prosody>", sample: "slowly" },
  fast: { open: '<prosody rate="fast">', close: "</prosody>", sample: "quickly" },
  spell: { open: '<say-as interpret-as="characters">', close: "</say-as>", sample: "ABC" },
  date: { open: '<say-as interpret-as="date" format="ymd">', close: "</say-as>", sample: "2026-12-07" },
};

/**
 * Insert a tag at the cursor of a textarea, around the selection if there is one, and select
 * what is inside the new element (so typing replaces the placeholder). Fires an input event.
 *
 * @param {HTMLTextAreaElement} area
 * @param {keyof TAGS} name
 */
export function insertTag(area, name) {
  const tag = TAGS[name];
  const { selectionStart: start, selectionEnd: end, value } = area;
  const inner = tag.close ? value.slice(start, end) || tag.sample : "";
  const before = value.slice(0, start);
  const after = value.slice(tag.close ? end : start);
  area.value = `${before}${tag.open}${inner}${tag.close}${after}`;
  const from = start + tag.open.length;
  area.focus();
  area.setSelectionRange(from, from + inner.length);
  area.dispatchEvent(new Event("input", { bubbles: true }));
}
