// Progressive playback of a streamed audio response.
//
// MP3 and AAC (ADTS) go through Media Source Extensions: each chunk the server sends (one per
// sentence) is appended to a SourceBuffer as it arrives, so playback starts with the first
// sentence. Formats MSE cannot take in a bare byte stream (WAV, FLAC, Opus in Ogg) are read to
// the end and played from a Blob. Either way the caller gets the whole file back as a Blob.

const MSE_TYPES = new Set(["audio/mpeg", "audio/aac"]);

/** Whether audio of this MIME type can start playing before the whole response has arrived. */
export function canStream(mime) {
  return (
    MSE_TYPES.has(mime) &&
    typeof window.MediaSource === "function" &&
    window.MediaSource.isTypeSupported(mime)
  );
}

function appendChunk(buffer, chunk) {
  return new Promise((resolve, reject) => {
    const done = () => {
      buffer.removeEventListener("updateend", done);
      buffer.removeEventListener("error", failed);
      resolve();
    };
    const failed = () => {
      buffer.removeEventListener("updateend", done);
      buffer.removeEventListener("error", failed);
      reject(new Error("the browser could not decode a streamed chunk"));
    };
    buffer.addEventListener("updateend", done);
    buffer.addEventListener("error", failed);
    buffer.appendBuffer(chunk);
  });
}

/**
 * Play a fetch Response in an <audio> element while it downloads.
 *
 * @param {Response} response a successful response whose body is audio.
 * @param {HTMLAudioElement} audio the player.
 * @param {{mime: string, onFirstChunk: () => void, setSource: (url: string) => void}} options
 *   mime: the body's MIME type (no parameters); onFirstChunk: called once, when the first bytes
 *   are in the player (MSE) or have arrived (Blob path); setSource: gives the player a URL and
 *   revokes the previous one.
 * @returns {Promise<{blob: Blob, streamed: boolean}>} the whole file, and whether playback was
 *   progressive.
 */
export async function playResponse(response, audio, { mime, onFirstChunk, setSource }) {
  const reader = response.body.getReader();
  const parts = [];
  let buffer = null;
  let source = null;

  if (canStream(mime)) {
    source = new MediaSource();
    const opened = new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    setSource(URL.createObjectURL(source));
    await opened;
    buffer = source.addSourceBuffer(mime);
    if (buffer.mode !== "sequence") {
      buffer.mode = "sequence"; // raw MP3/ADTS frames carry no timestamps: play them back to back
    }
  }

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value || value.byteLength === 0) continue;
      parts.push(value);
      if (buffer !== null) {
        try {
          await appendChunk(buffer, value);
        } catch {
          buffer = null; // keep reading; the Blob path below plays the whole file
        }
      }
      if (parts.length === 1) {
        onFirstChunk();
        if (buffer !== null) audio.play().catch(() => {});
      }
    }
  } catch (error) {
    if (source !== null && source.readyState === "open") source.endOfStream("network");
    throw error;
  }

  const blob = new Blob(parts, { type: mime });
  if (buffer !== null && source.readyState === "open") {
    source.endOfStream(); // the duration becomes finite: the player shows it and can seek
    return { blob, streamed: true };
  }
  setSource(URL.createObjectURL(blob));
  audio.play().catch(() => {});
  return { blob, streamed: false };
}
