// The voice picker: voices from GET /api/v1/voices grouped by language in <optgroup>s.
//
// A voice that reads several languages (kokoro reads Chinese, Japanese and English) appears in
// each of their groups; the option remembers its group's language in data-lang.

export const ENGINE_NAMES = { kokoro: "Kokoro", piper: "Piper", espeak: "eSpeak NG", indextts2: "IndexTTS2" };

const displayNames = new Intl.DisplayNames(["en"], { type: "language" });

/** The English name of a language code ("zh" → "Chinese"); the code itself if it has none. */
export function languageName(code) {
  try {
    return displayNames.of(code) ?? code;
  } catch {
    return code; // not a BCP 47 subtag (espeak has a few private codes)
  }
}

/** The language of a text when its script says so (kana → ja, Han → zh), else null. */
export function scriptLanguage(text) {
  if (/[\u3040-\u30ff]/.test(text)) return "ja";
  if (/[\u3400-\u9fff]/.test(text)) return "zh";
  return null;
}

function label(voice) {
  const engine = ENGINE_NAMES[voice.engine] ?? voice.engine;
  const name = voice.engine === "espeak" ? voice.id.replace(/^espeak-/, "") : voice.id;
  return [name, engine, voice.gender !== "unknown" ? voice.gender : null].filter(Boolean).join(" · ");
}

/**
 * Build the <optgroup>s: languages with a neural voice first (the browser's languages leading),
 * then every other language by name; inside a group, voices whose first language it is come
 * first and the last-resort espeak voices last.
 *
 * @param {Array<object>} voices the "voices" array of GET /api/v1/voices.
 * @param {ReadonlyArray<string>} preferred BCP 47 tags the user prefers (navigator.languages).
 * @returns {DocumentFragment}
 */
export function voiceOptions(voices, preferred) {
  const groups = new Map();
  for (const voice of voices) {
    for (const lang of voice.languages) {
      if (!groups.has(lang)) groups.set(lang, []);
      groups.get(lang).push(voice);
    }
  }
  const neural = (lang) => Number(groups.get(lang).some((v) => v.engine !== "espeak"));
  const own = (lang) => Number(preferred.some((tag) => tag.split("-")[0] === lang));
  const langs = [...groups.keys()].sort(
    (a, b) => neural(b) - neural(a) || own(b) - own(a)
      || (neural(a) ? 0 : languageName(a).localeCompare(languageName(b))),
  );
  const rank = (voice, lang) => (voice.engine === "espeak" ? 2 : 0) + (voice.languages[0] === lang ? 0 : 1);
  const fragment = document.createDocumentFragment();
  for (const lang of langs) {
    const group = document.createElement("optgroup");
    group.label = languageName(lang);
    const members = groups.get(lang).map((voice, index) => ({ voice, index }));
    members.sort((a, b) => rank(a.voice, lang) - rank(b.voice, lang) || a.index - b.index);
    for (const { voice } of members) {
      const option = new Option(label(voice), voice.id);
      option.dataset.lang = lang;
      group.append(option);
    }
    fragment.append(group);
  }
  return fragment;
}

/**
 * One sentence about a voice and the engines that may speak for it.
 *
 * @param {object} voice an entry of GET /api/v1/voices.
 * @param {string} lang the language it will read (its chain depends on it).
 * @returns {string} e.g. "Kokoro jf_alpha, bright female, 24 kHz. Chinese: Kokoro → eSpeak NG."
 */
export function describeVoice(voice, lang) {
  const chain = (voice.fallback_chain?.[lang] ?? [voice.engine]).map((e) => ENGINE_NAMES[e] ?? e);
  const khz = voice.sample_rate / 1000;
  const rate = `${Number.isInteger(khz) ? khz : khz.toFixed(2)} kHz`;
  return `${voice.description || label(voice)}, ${rate}. ${languageName(lang)}: ${chain.join(" → ")}.`;
}
