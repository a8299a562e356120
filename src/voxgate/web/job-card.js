// One job in the Jobs list, from GET /api/v1/jobs/{id}: built once, then updated in place on
// every poll, so that keyboard focus on a Cancel button or a download link survives a refresh.
//
// Status is always said in words (a badge with text and a shape), never by colour alone;
// progress bars are native <progress> elements named by the text beside them.

const STATUS = {
  queued: { text: "queued", tone: "neutral" },
  running: { text: "running", tone: "engine" },
  done: { text: "done", tone: "ok" },
  failed: { text: "failed", tone: "bad" },
  cancelled: { text: "cancelled", tone: "warn" },
};
const WAITING = { // the runner's pause reasons: admission's ShedReason values, or "retry"
  rate_limit: "the rate limit was reached",
  quota: "the daily quota is used up",
  overload: "the server is busy with interactive requests",
  queue_full: "the server is busy with interactive requests",
  retry: "a segment failed and will be retried",
};

const OPEN_CHAPTERS = 6;
const number = new Intl.NumberFormat("en");

/** A length of time in words: "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function when(epochSeconds) {
  const date = new Date(epochSeconds * 1000);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = date.toDateString() === new Date().toDateString();
  return today ? time : `${date.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fact(label) {
  const dd = make("dd");
  const wrap = make("div");
  wrap.append(make("dt", "", label), dd);
  return { wrap, dd };
}

function link(text, className) {
  const a = make("a", className, text);
  a.dataset.authDownload = ""; // jobs.js fetches it with the API key when one is set
  return a;
}

/** The title a job is known by in messages. */
export function jobName(job) {
  return job.title ? `“${job.title}”` : `job ${job.id.slice(0, 8)}`;
}

export class JobCard {
  /**
   * @param {object} job the job's status.
   * @param {(job: object) => void} onCancel called when its Cancel button is pressed.
   */
  constructor(job, onCancel) {
    const id = `job-${job.id}`;
    const base = `/api/v1/jobs/${encodeURIComponent(job.id)}`;
    this.id = job.id;
    this.base = base;
    this.index = null;
    this.indexRequested = false;
    this.job = job;

    this.element = make("li", "job");
    this.element.dataset.jobId = job.id;
    const article = make("article");
    article.setAttribute("aria-labelledby", `${id}-title`);

    const head = make("div", "job__head");
    this.title = make("h3", "job__title");
    this.title.id = `${id}-title`;
    this.title.tabIndex = -1; // focus lands here when the Cancel button goes away
    this.status = make("span", "badge");
    head.append(this.title, this.status);
    this.meta = make("p", "job__meta muted small");

    const overall = make("div", "job__overall");
    this.bar = make("progress", "meter");
    this.bar.max = 1;
    this.bar.setAttribute("aria-labelledby", `${id}-summary`);
    this.summary = make("p", "job__summary");
    this.summary.id = `${id}-summary`;
    overall.append(this.bar, this.summary);

    const facts = make("dl", "facts job__facts");
    this.eta = fact("Time left");
    this.engines = fact("Engines");
    this.degraded = fact("Degraded");
    this.length = fact("Audio length");
    facts.append(this.eta.wrap, this.engines.wrap, this.degraded.wrap, this.length.wrap);
    this.note = make("p", "reason job__note");
    this.note.hidden = true;

    this.chapters = this.buildChapters(job, id);

    const actions = make("div", "job__actions");
    this.downloads = make("p", "job__downloads");
    const kind = job.format.toUpperCase();
    this.book = link(`Whole book (${kind})`, "button button--ghost");
    this.book.href = `${base}/audio`;
    this.book.download = `book.${job.format === "opus" ? "ogg" : job.format}`;
    this.indexLink = link("Index (JSON)", "button");
    this.indexLink.href = `${base}/index`;
    this.indexLink.download = `chapters-${job.id.slice(0, 8)}.json`;
    this.vtt = link("Captions (VTT)", "button");
    this.vtt.href = `${base}/captions.vtt`;
    this.vtt.download = "book.vtt";
    this.srt = link("Captions (SRT)", "button");
    this.srt.href = `${base}/captions.srt`;
    this.srt.download = "book.srt";
    this.downloads.append(this.book, this.indexLink, this.vtt, this.srt);
    this.cancel = make("button", "button button--danger");
    this.cancel.type = "button";
    this.cancel.append("Cancel", make("span", "visually-hidden", ` ${jobName(job)}`));
    this.cancel.addEventListener("click", () => onCancel(this.job));
    actions.append(this.downloads, this.cancel);

    article.append(head, this.meta, overall, facts, this.note, this.chapters.box, actions);
    this.element.append(article);
    this.update(job);
  }

  buildChapters(job, id) {
    const table = make("table", "table chapters");
    const caption = make("caption", "visually-hidden", `Chapters of ${jobName(job)}`);
    const head = make("thead");
    const row = make("tr");
    for (const [text, cls] of [["Chapter", ""], ["Progress", ""], ["Characters", "num"], ["Audio", "num"]]) {
      const th = make("th", cls, text);
      th.scope = "col";
      row.append(th);
    }
    head.append(row);
    const body = make("tbody");
    const rows = job.chapters.map((chapter) => {
      const tr = make("tr");
      const th = make("th", "chapters__title");
      th.scope = "row";
      th.append(make("span", "chapters__n", `${chapter.n}`), ` ${chapter.title || `Chapter ${chapter.n}`}`);
      const progress = make("td", "chapters__progress");
      const bar = make("progress", "meter meter--small");
      bar.max = 1;
      bar.setAttribute("aria-label", `Chapter ${chapter.n}`);
      const state = make("span", "chapters__state");
      progress.append(bar, state);
      const chars = make("td", "num");
      const audio = make("td", "num");
      const download = link("", "download");
      download.href = `${this.base}/chapters/${chapter.n}/audio`;
      download.download = `chapter-${String(chapter.n).padStart(3, "0")}.${job.format === "opus" ? "ogg" : job.format}`;
      download.setAttribute("aria-label", `Download chapter ${chapter.n} (${job.format.toUpperCase()})`);
      download.append(svgArrow(), job.format.toUpperCase());
      const length = make("span", "chapters__length muted small");
      const pending = make("span", "muted", "—");
      pending.setAttribute("aria-label", "not ready yet");
      audio.append(length, download, pending);
      tr.append(th, progress, chars, audio);
      body.append(tr);
      return { bar, state, chars, download, length, pending };
    });
    table.id = `${id}-chapters`;
    table.append(caption, head, body);
    // Open while the job is being watched; a long finished book starts folded to keep the list short.
    const box = make("details", "chapters-box");
    box.open = job.status === "queued" || job.status === "running" || job.chapters.length <= OPEN_CHAPTERS;
    const n = job.chapters.length;
    box.append(make("summary", "", `${n} chapter${n === 1 ? "" : "s"}`), table);
    return { box, rows };
  }

  /** Show a fresh status of the job. */
  update(job) {
    this.job = job;
    const status = STATUS[job.status] ?? { text: job.status, tone: "neutral" };
    const active = job.status === "queued" || job.status === "running";
    this.element.dataset.status = job.status;
    this.title.textContent = job.title || `Untitled job ${job.id.slice(0, 8)}`;
    this.status.textContent = status.text;
    this.status.className = `badge badge--${status.tone} job__status`;

    this.meta.textContent = `${job.voice} · ${job.format.toUpperCase()} · ${job.speed.toFixed(2)}× · `
      + `submitted ${when(job.created_at)}`;

    const p = job.progress;
    const percent = Math.floor(p.fraction * 100);
    this.bar.value = p.fraction;
    this.summary.textContent = `${number.format(p.chars_done)} of ${number.format(p.chars_total)} characters`
      + ` (${percent}%) · ${p.chapters_done} of ${p.chapters_total} chapter${p.chapters_total === 1 ? "" : "s"}`
      + " ready";

    const finished = job.finished_at !== null;
    this.eta.wrap.firstChild.textContent = finished ? "Took" : "Time left";
    this.eta.dd.textContent = finished ? formatDuration(job.finished_at - job.created_at) : this.etaText(job);
    const engines = Object.entries(job.engines);
    this.engines.dd.replaceChildren(...(engines.length ? engines.map(([name, count]) => {
      const badge = make("span", "badge badge--engine", name);
      badge.title = `${count} segment${count === 1 ? "" : "s"}`;
      badge.append(make("span", "badge__count", ` ${number.format(count)}`));
      return badge;
    }) : ["—"]));
    const degraded = job.degraded_segments;
    this.degraded.dd.replaceChildren(degraded
      ? Object.assign(make("span", "badge badge--warn", `${degraded} segment${degraded === 1 ? "" : "s"}`), {
        title: "spoken by a fallback engine",
      })
      : "none");
    this.length.dd.textContent = this.index ? formatDuration(this.index.duration_s) : "—";

    const note = job.error ?? (job.waiting ? `Paused: ${WAITING[job.waiting.reason] ?? job.waiting.reason};`
      + ` resuming in ${formatDuration(job.waiting.retry_in_s)}.` : null);
    this.note.hidden = !note;
    this.note.textContent = note ?? "";
    this.note.classList.toggle("reason--bad", Boolean(job.error));

    job.chapters.forEach((chapter, i) => this.updateChapter(this.chapters.rows[i], chapter, job));
    this.book.hidden = !job.audio_ready;
    for (const a of [this.indexLink, this.vtt, this.srt]) a.hidden = job.status !== "done";
    this.downloads.hidden = this.book.hidden && job.status !== "done";
    this.cancel.hidden = !active;
  }

  updateChapter(row, chapter, job) {
    if (!row) return;
    const fraction = chapter.chars_total ? chapter.chars_done / chapter.chars_total : 1;
    row.bar.value = chapter.audio_ready ? 1 : fraction;
    const inProgress = chapter.chars_done > 0 && !chapter.audio_ready;
    row.state.textContent = chapter.audio_ready ? "ready"
      : inProgress && job.status === "running" ? `${Math.floor(fraction * 100)}%`
        : inProgress ? `stopped at ${Math.floor(fraction * 100)}%`
          : job.status === "running" || job.status === "queued" ? "waiting" : "not made";
    row.chars.textContent = `${number.format(chapter.chars_done)} / ${number.format(chapter.chars_total)}`;
    row.download.hidden = !chapter.audio_ready;
    row.pending.hidden = chapter.audio_ready;
    const span = this.index?.chapters.find((c) => c.n === chapter.n);
    row.length.textContent = span ? formatDuration(span.duration_s) : "";
  }

  etaText(job) {
    if (job.status === "queued") return "waiting to start";
    if (job.eta_s === null) return "estimating…";
    return `about ${formatDuration(job.eta_s)}`;
  }

  /** Add the chapter index of a finished job (lengths of the book and its chapters). */
  setIndex(index) {
    this.index = index;
    this.update(this.job);
  }
}

function svgArrow() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5M5 19h14");
  svg.append(path);
  return svg;
}
