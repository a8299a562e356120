// voxgate web UI: editable rows with per-row errors, shared by the Dialogue and Lexicon views.
//
// Each row has labelled controls and one error line (<p class="field-error">) that every control
// names in aria-describedby; a 422 naming a row's field puts its message there, marks the control
// aria-invalid and focuses it.

/** A labelled control: <div class=className><label for=id>[prefix]text</label>element</div>.
 *  ``prefixClass``: a visually hidden <span> before the text (e.g. "Turn 2 "), filled in later. */
export function labelled(id, text, element, { className = "field", prefixClass = null } = {}) {
  const wrap = document.createElement("div");
  wrap.className = className;
  const label = document.createElement("label");
  label.htmlFor = id;
  if (prefixClass) {
    const prefix = document.createElement("span");
    prefix.className = `visually-hidden ${prefixClass}`;
    label.append(prefix);
  }
  label.append(text);
  element.id = id;
  wrap.append(label, element);
  return wrap;
}

/** The row's (hidden) error line, named by each of ``controls`` as their description. */
export function errorLine(id, controls) {
  const error = document.createElement("p");
  error.className = "field-error";
  error.id = id;
  error.hidden = true;
  for (const c of controls) c.setAttribute("aria-describedby", id);
  return error;
}

/** Hide every row's error line and clear aria-invalid from its controls. */
export function clearRowErrors(items) {
  for (const item of items) {
    const error = item.querySelector(".field-error");
    error.hidden = true;
    error.textContent = "";
    error.removeAttribute("role");
    for (const c of item.querySelectorAll("input, select, textarea")) c.removeAttribute("aria-invalid");
  }
}

/** Show ``message`` on the row's error line, mark the control named ``name`` invalid and focus it. */
export function showRowError(item, name, message) {
  const target = item.querySelector(`[name="${name}"]`);
  const line = item.querySelector(".field-error");
  line.textContent = message;
  line.setAttribute("role", "alert");
  line.hidden = false;
  target.setAttribute("aria-invalid", "true");
  target.focus();
}
