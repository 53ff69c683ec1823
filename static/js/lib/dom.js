/* Rows cloned from the templates' <template> elements, filled with text only. */

/* Fill the [data-f=name] field of a row: textContent, never markup. */
export function setField(root, name, text) {
  const el = root.querySelector('[data-f="' + name + '"]');
  if (el && el.textContent !== text) el.textContent = text;
  return el;
}

export function clone(templateId) {
  return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
}
