// Errors, said out loud: every failed request ends up in the page's role="alert" region.
//
// The server's error body is {"error": {"message", "field", ...}}; a 429 carries Retry-After.

const TITLES = {
  400: "The request was not accepted",
  401: "An API key is needed",
  403: "Not allowed for this client",
  413: "The text is too long",
  422: "The request was not accepted",
  429: "voxgate is busy",
  503: "No engine could answer in time",
};

/**
 * Turn an error response into {title, message, field, status, retryAfter}.
 *
 * @param {Response} response a response with a 4xx or 5xx status.
 * @returns {Promise<object>}
 */
export async function requestError(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  let field = null;
  try {
    const body = await response.json();
    message = body.error?.message ?? body.detail ?? message;
    field = body.error?.field ?? null;
  } catch {
    // not JSON: keep the status line
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  const retryAfter = Number.isFinite(retry) ? retry : null;
  if (response.status === 429 && retryAfter !== null) {
    message = `${message}. Try again in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.`;
  }
  if (response.status === 401) message = `${message}. This server needs an API key: enter it under “API key”.`;
  const title = TITLES[response.status] ?? `The server answered ${response.status}`;
  return { title, message, field, status: response.status, retryAfter };
}

/**
 * Show an error in the alert region; when it names a field with a control, mark that control
 * invalid and offer a button that moves focus to it.
 *
 * @param {HTMLElement} region the role="alert" element.
 * @param {{title: string, message: string, field?: string|null}} error
 * @param {(field: string) => HTMLElement|null} controlFor the control of a field, if any.
 */
export function showAlert(region, { title, message, field }, controlFor) {
  const heading = document.createElement("strong");
  heading.textContent = title;
  const detail = document.createElement("p");
  detail.textContent = message;
  const parts = [heading, detail];
  const name = field ? field.split(".")[0] : null;
  const control = name ? controlFor(name) : null;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    const jump = document.createElement("button");
    jump.type = "button";
    jump.className = "button";
    jump.textContent = `Go to the ${name} field`;
    jump.addEventListener("click", () => control.focus());
    parts.push(jump);
  }
  region.replaceChildren(...parts);
  region.hidden = false;
}

/** Empty and hide the alert region. */
export function clearAlert(region) {
  region.hidden = true;
  region.replaceChildren();
}
