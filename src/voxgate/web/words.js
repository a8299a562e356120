// Word highlighting, a reading aid: the words of the answer under the player, the one being
// spoken marked as the audio plays.
//
// The Speak request asks for `"timestamps": true` with `"stream": true`: the server answers with
// Server-Sent Events (see voxgate.api.timestamps), `audio` pieces of the encoded file and `words`
// ({text, start, end} in seconds from the start of the audio) as each sentence is ready.
// timedAudio() turns that back into a Response whose body is the audio bytes, so the player
// streams it exactly as a plain answer, and hands the words over as they come.
//
// WordTrack shows them: each word is a button (click or Enter plays from it); one tab stop for
// the whole list (arrow keys, Home and End move between words); the word being spoken has
// aria-current and a highlight that is not colour alone (an underline too). The list is not a
// live region: a screen reader following every word would talk over the speech itself.

const CJK = /^(zh|ja)/; // languages written without spaces between words
const LEAD_S = 0.03; // mark a word a touch early: the eye should not trail the ear

function bytesOf(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { name, data: data.length ? JSON.parse(data.join("\n")) : null };
}

/**
 * The audio of a timestamped SSE answer, as a Response whose body is the encoded file.
 *
 * @param {Response} response a successful `text/event-stream` answer of POST /api/v1/tts.
 * @param {string} mime the audio's MIME type (the response's own says text/event-stream).
 * @param {(words: {text: string, start: number, end: number}[]) => void} onWords called with
 *   each sentence's words as they arrive.
 * @param {(done: {engine: string, degraded: boolean, fallback_reason: string | null,
 *   spoken_by: string[]}) => void} [onDone] called with the `done` event: how the whole answer
 *   was made (the headers say how its first sentence was; a later one may have degraded).
 * @returns {Response} the same status and X-Voxgate-* headers; an `error` event mid-stream
 *   fails the body with {title, message, field}.
 */
export function timedAudio(response, mime, onWords, onDone = () => {}) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const body = new ReadableStream({
    async pull(controller) {
      for (;;) {
        const cut = pending.indexOf("\n\n");
        if (cut >= 0) {
          const { name, data } = parseEvent(pending.slice(0, cut));
          pending = pending.slice(cut + 2);
          if (name === "audio") {
            controller.enqueue(bytesOf(data.audio));
            return;
          }
          if (name === "words" && Array.isArray(data?.words) && data.words.length) onWords(data.words);
          else if (name === "done" && data) onDone(data);
          else if (name === "error") {
            const { message = "the answer broke off", field = null } = data?.error ?? {};
            controller.error({ title: "The answer broke off", message, field });
            return;
          }
          continue;
        }
        const { done, value } = await reader.read(); // an abort (Stop) rejects here and fails the body
        if (done) {
          controller.close();
          return;
        }
        pending += value.replaceAll("\r\n", "\n");
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const headers = new Headers(response.headers);
  headers.set("Content-Type", mime);
  return new Response(body, { status: response.status, headers });
}

/** The words of the latest answer under the player, the spoken one highlighted. */
export class WordTrack {
  /**
   * @param {HTMLElement} list the container (#result-words).
   * @param {HTMLMediaElement} player the audio element whose time drives the highlight.
   * @param {HTMLElement | null} hint shown with the list (how to use it).
   */
  constructor(list, player, hint = null) {
    this.list = list;
    this.player = player;
    this.hint = hint;
    this.buttons = [];
    this.starts = [];
    this.current = -1;
    this.frame = 0;
    const tick = () => {
      this.update();
      this.frame = this.player.paused ? 0 : requestAnimationFrame(tick);
    };
    player.addEventListener("play", () => {
      if (!this.frame) this.frame = requestAnimationFrame(tick);
    });
    for (const name of ["timeupdate", "seeked", "pause", "ended", "emptied"]) {
      player.addEventListener(name, () => this.update()); // also when frames do not run (hidden tab)
    }
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-index]");
      if (button) this.playFrom(Number(button.dataset.index));
    });
    list.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** Empty the list for a new answer in language `lang` (its words are read in that language). */
  reset(lang) {
    this.list.replaceChildren();
    this.list.lang = lang;
    this.list.hidden = true;
    if (this.hint) this.hint.hidden = true;
    this.buttons = [];
    this.starts = [];
    this.current = -1;
  }

  /** Append one sentence's words ({text, start, end}, seconds). */
  add(words) {
    const gap = CJK.test(this.list.lang) ? "" : " ";
    const items = document.createDocumentFragment();
    for (const word of words) {
      if (this.buttons.length && gap) items.append(gap);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "word";
      button.textContent = word.text;
      button.dataset.index = String(this.buttons.length);
      button.dataset.start = String(word.start);
      button.tabIndex = this.buttons.length ? -1 : 0; // one tab stop; arrows move within
      this.buttons.push(button);
      this.starts.push(Number(word.start));
      items.append(button);
    }
    this.list.append(items);
    this.list.hidden = false;
    if (this.hint) this.hint.hidden = false;
    this.update();
  }

  /** The words so far, as {text, start}. */
  words() {
    return this.buttons.map((b, i) => ({ text: b.textContent, start: this.starts[i] }));
  }

  /** Play from word `index`. */
  playFrom(index) {
    this.player.currentTime = this.starts[index];
    this.player.play().catch(() => {});
    this.update();
  }

  /** Highlight the word the player has reached (none before the first or after the end). */
  update() {
    const t = this.player.currentTime + LEAD_S;
    let index = -1;
    if (!this.player.ended) {
      let low = 0;
      let high = this.starts.length - 1;
      while (low <= high) { // the last word that has started
        const mid = (low + high) >> 1;
        if (this.starts[mid] <= t) {
          index = mid;
          low = mid + 1;
        } else high = mid - 1;
      }
    }
    if (index === this.current) return;
    this.buttons[this.current]?.classList.remove("is-current");
    this.buttons[this.current]?.removeAttribute("aria-current");
    this.current = index;
    const button = this.buttons[index];
    if (!button) return;
    button.classList.add("is-current");
    button.setAttribute("aria-current", "true");
    this.keepInView(button);
  }

  keepInView(button) { // scroll the list only, never the page under the reader
    const top = button.offsetTop; // the list is position: relative, the buttons' offset parent
    const bottom = top + button.offsetHeight;
    const { scrollTop, clientHeight } = this.list;
    if (top >= scrollTop && bottom <= scrollTop + clientHeight) return;
    const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
    this.list.scrollTo({ top: Math.max(0, top - clientHeight / 3), behavior: still ? "auto" : "smooth" });
  }

  onKey(event) {
    const from = this.buttons.indexOf(event.target);
    if (from < 0) return;
    const last = this.buttons.length - 1;
    const to = {
      ArrowRight: Math.min(last, from + 1), ArrowDown: Math.min(last, from + 1),
      ArrowLeft: Math.max(0, from - 1), ArrowUp: Math.max(0, from - 1), Home: 0, End: last,
    }[event.key];
    if (to === undefined) return; // Enter and Space click the button: play from it
    event.preventDefault();
    this.buttons[from].tabIndex = -1;
    this.buttons[to].tabIndex = 0;
    this.buttons[to].focus();
  }
}
