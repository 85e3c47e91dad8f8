// Correcting the Read tab's lines in place, keyboard first. Click a line's text, or press Enter on
// a focused line, and its text becomes a field:
//   Enter      save (corrections.js) and go on to the next line not corrected yet that was read
//              with less than REVIEW_CONFIDENCE (the field opens there; none left: back to the line)
//   Tab        save and go on to the next line (Shift+Tab: the line before)
//   Escape     cancel: nothing is saved
// Leaving the field saves it when its text changed. editNewLine() asks the text of a box drawn on
// the viewer (views/draw.js) the same way.

import { addLine, correctLine, shownLines } from "../corrections.js";
import { $, el } from "../dom.js";
import { t } from "../i18n.js";
import { refreshLine, refreshLines, select } from "./result.js";

/** Enter goes on to the next line read with less confidence than this. */
export const REVIEW_CONFIDENCE = 0.9;

let field = null;  // the open field: {li, input, original, onCommit(text, move), onCancel()}

function lineItem(index) {
  return $("lines").querySelector(`li[data-index="${index}"]`);
}

function focusLine(index) {
  const li = lineItem(index);
  if (li) li.querySelector("button").focus();
}

// A field over ``li``'s text holding ``text``: onCommit(text, move) on Enter ("review"), Tab
// ("next", "previous") or on leaving it changed (null); onCancel(byKey) on Escape (true) or on
// leaving it unchanged (false).
function openField(li, text, label, onCommit, onCancel) {
  closeField();
  const input = el("input", "edit-line");
  input.type = "text";
  input.value = text;
  input.maxLength = 1000;
  input.spellcheck = false;
  input.setAttribute("aria-label", label);
  const button = li.querySelector("button");
  if (button) button.hidden = true;
  li.classList.add("editing");
  li.appendChild(input);
  field = { li, input, original: text, onCommit, onCancel };
  input.addEventListener("keydown", (e) => onFieldKey(e, input));
  input.addEventListener("input", () => input.setCustomValidity(""));
  input.addEventListener("blur", () => onFieldBlur(input));
  input.focus();
  input.select();
}

// Close the open field (nothing saved); the field that was open, or null.
function closeField() {
  const closed = field;
  if (!closed) return null;
  field = null;
  closed.input.remove();
  closed.li.classList.remove("editing");
  const button = closed.li.querySelector("button");
  if (button) button.hidden = false;
  return closed;
}

function onFieldKey(e, input) {
  if (!field || field.input !== input || e.isComposing || e.keyCode === 229) return;  // an IME is composing
  if (e.key === "Escape") {
    e.preventDefault();
    closeField().onCancel(true);
  } else if (e.key === "Enter" || e.key === "Tab") {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) {
      input.setCustomValidity(t("edit_empty"));
      input.reportValidity();
      return;
    }
    closeField().onCommit(text, e.key === "Enter" ? "review" : e.shiftKey ? "previous" : "next");
  }
}

function onFieldBlur(input) {
  if (!field || field.input !== input) return;
  const text = input.value.trim();
  const closed = closeField();
  if (text && text !== closed.original) closed.onCommit(text, null);
  else closed.onCancel(false);
}

/** Open line ``index`` of the page shown for correcting. */
export function editLine(index) {
  const lines = shownLines();
  const li = lineItem(index);
  if (!lines[index] || !li) return;
  select(index);
  openField(li, lines[index].text, t("edit_label", { n: index + 1 }), (text, move) => {
    showSaving(index, correctLine(index, text));
    goOn(index, move);
  }, (byKey) => {
    if (byKey) focusLine(index);
  });
}

// Show line ``index`` as being saved, then as saved (or failed) unless it is open again by then.
function showSaving(index, saving) {
  refreshLine(index);
  saving.then(() => {
    if (!(field && field.li.dataset.index === String(index))) refreshLine(index);
  });
}

// After saving line ``index``: where the keyboard goes (``move``: "review", "next", "previous", or
// null when the field was left with the mouse).
function goOn(index, move) {
  if (move === null) return;
  const lines = shownLines();
  let next = -1;
  if (move === "next") next = index + 1 < lines.length ? index + 1 : -1;
  else if (move === "previous") next = index - 1;
  else next = nextToReview(lines, index);
  if (next >= 0) editLine(next);
  else focusLine(index);
}

// The first line after ``index`` (then from the top) read with little confidence and not corrected yet.
function nextToReview(lines, index) {
  for (let step = 1; step < lines.length; step++) {
    const i = (index + step) % lines.length;
    const line = lines[i];
    if (!line.status && line.confidence !== null && line.confidence < REVIEW_CONFIDENCE) return i;
  }
  return -1;
}

/** Ask the text of ``box`` (a line drawn on the page shown) in a new line at the end of the list,
 * and save it (Enter or Tab); resolves with true once it is saved (or failed), false when cancelled. */
export function editNewLine(box) {
  const li = el("li", "new-line");
  $("lines").appendChild(li);
  $("no-lines").hidden = true;
  li.scrollIntoView({ block: "nearest" });
  return new Promise((resolve) => {
    openField(li, "", t("new_line_label"), async (text, move) => {
      li.remove();
      const saving = addLine(box, text);
      refreshLines();
      const index = shownLines().length - 1;
      if (move !== null) focusLine(index);
      await saving;
      if (!(field && field.li.dataset.index === String(index))) refreshLine(index);
      resolve(true);
    }, () => {
      li.remove();
      $("no-lines").hidden = shownLines().length > 0;
      resolve(false);
    });
  });
}

export function setupEdit() {
  const list = $("lines");
  list.addEventListener("keydown", (e) => {
    const button = e.target.closest("li > button");
    if (e.key !== "Enter" || !button || e.isComposing) return;
    e.preventDefault();  // not a click: opens the field instead
    editLine(Number(button.parentElement.dataset.index));
  });
  list.addEventListener("click", (e) => {
    const text = e.target.closest("li > button .text");
    if (text) editLine(Number(text.closest("li").dataset.index));
  });
}
