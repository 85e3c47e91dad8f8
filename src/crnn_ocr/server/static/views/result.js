// The Read tab's result: the page shown (its lines listed, their boxes over the image, its fields),
// the pages of a document one at a time, the timings, all the text to copy. Lines are shown as
// corrected where the user corrected them (corrections.js; editing: views/edit.js).

import { correctedPageTexts, shownLines } from "../corrections.js";
import { $, copyText, el } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { linePolygon, LOW_CONFIDENCE, percent } from "../overlay.js";
import { needsServerPreview, pagesOf, state } from "../state.js";
import { clearDownloads, setDownloads } from "./downloads.js";
import { showBlank, showImage } from "./viewer.js";

/** Show ``result`` (``rtt``: its round trip, ms, or null for a result read earlier). */
export function renderResult(result, rtt) {
  const pages = pagesOf(result);
  state.pageIndex = Math.min(Math.max(state.pageIndex, 0), pages.length - 1);
  const page = pages[state.pageIndex];
  const processed = state.pageIndex === 0 ? result.processed_image_base64 : page.processed_image_base64;
  if (processed) {
    showImage(`data:image/png;base64,${processed}`, "processed", page);
  } else if (state.objectUrl && !needsServerPreview()) {
    showImage(state.objectUrl, "original", page);
  } else {
    showBlank(page);
  }
  $("view-note").hidden = !(state.reopened && !state.objectUrl);
  $("view-note").textContent = t("no_image_kept");
  $("cached-badge").hidden = !result.cached;
  $("model-used").textContent = result.model ? t("read_with", { name: `${result.model.name} ${result.model.version}` }) : "";
  $("page-nav").hidden = pages.length < 2;
  $("page-label").textContent = t("page_of", { i: page.page ?? state.pageIndex + 1, n: result.page_count ?? pages.length });
  $("prev-page").disabled = state.pageIndex === 0;
  $("next-page").disabled = state.pageIndex >= pages.length - 1;
  renderLines();
  renderFields(page.fields || []);
  $("all-text").value = allText(result);
  $("copy").disabled = !result.text;
  $("draw-box").disabled = false;
  $("copy-status").textContent = "";
  setDownloads(true);

  const tm = result.timings;
  $("timing").textContent = t(pages.length > 1 ? "timing_pages" : "timing", {
    total: Math.round(result.cost_time_ms), pre: Math.round(tm.preprocess_ms), det: Math.round(tm.detect_ms),
    rec: Math.round(tm.recognize_ms), rtt: rtt ?? "?", w: page.width, h: page.height, n: result.lines.length,
    p: pages.length,
  });
  if (state.selected >= 0) select(state.selected);
}

// The page's lines (shownLines(): as read, corrected, drawn): a box each over the image, and the
// list beside it; a click on either selects it. Corrected lines are marked in both.
function renderLines() {
  const lines = shownLines();
  $("overlay").replaceChildren(...lines.map((line, i) => {
    const poly = linePolygon(line, line.added ? line.text : `${line.text} (${percent(line.confidence)})`);
    poly.dataset.index = String(i);
    if (line.status) poly.classList.add("corrected");
    poly.addEventListener("click", () => select(i));
    return poly;
  }));
  $("lines").replaceChildren(...lines.map((line, i) => lineItem(line, i)));
  $("no-lines").hidden = lines.length > 0;
}

function lineItem(line, i) {
  const li = el("li");
  li.dataset.index = String(i);
  const low = line.confidence !== null && line.confidence < LOW_CONFIDENCE;
  if (low) li.classList.add("low");
  if (line.status) li.classList.add(line.status === "saved" ? "corrected" : line.status);
  const button = el("button");
  button.type = "button";
  const conf = el("span", "conf", line.added ? t("drawn") : percent(line.confidence));
  conf.title = line.added ? t("drawn_title") : t("confidence");
  const text = el("span", "text", line.text);
  if (line.status && line.read !== null && line.read !== line.text) text.title = t("was_read", { text: line.read });
  button.append(el("span", "no", String(i + 1)), text, conf);
  if (low && !line.status) {
    const mark = el("span", "low-mark", "!");
    mark.title = t("low_title");
    button.title = t("low_title");
    button.append(mark);
  }
  if (line.status) {
    const mark = el("span", `fix-mark ${line.status}`, line.status === "saved" ? "✓" : line.status === "failed" ? "✗" : "…");
    mark.title = t(`fix_${line.status}`);
    button.append(mark);
  }
  button.addEventListener("click", () => select(i));
  li.appendChild(button);
  return li;
}

/** Show line ``index`` of the page shown again (its correction saved or failed), keeping its
 * selection and focus. */
export function refreshLine(index) {
  const line = shownLines()[index];
  const old = $("lines").querySelector(`li[data-index="${index}"]`);
  if (!line || !old) return;
  const li = lineItem(line, index);
  li.classList.toggle("selected", old.classList.contains("selected"));
  const focused = old.contains(document.activeElement);
  old.replaceWith(li);
  if (focused) li.querySelector("button").focus();
  const poly = $("overlay").querySelector(`polygon[data-index="${index}"]`);
  if (poly) poly.classList.toggle("corrected", Boolean(line.status));
  $("all-text").value = allText(state.result);
}

/** Draw the lines of the page shown again (after a correction), keeping the selection. */
export function refreshLines() {
  if (!state.result) return;
  renderLines();
  $("all-text").value = allText(state.result);
  if (state.selected >= 0) select(state.selected);
}

// The page's fields (options.fields) as a table beside the lines: name, value, the validator's verdict.
function renderFields(fields) {
  const table = $("fields");
  table.querySelector("tbody").replaceChildren(...fields.map((field) => {
    const tr = el("tr");
    tr.dataset.name = field.name;
    const verdict = field.valid === true ? "valid" : field.valid === false ? "invalid" : "unchecked";
    tr.className = verdict;
    const name = el("th", "", field.name);
    name.scope = "row";
    const value = el("td", "value", field.value || field.text);
    if (field.text && field.text !== field.value) value.title = field.text;
    const check = el("td", "check", `${field.valid === true ? "✓" : field.valid === false ? "✗" : "–"} ${t(verdict)}`);
    if (field.check) check.title = field.check;
    tr.append(name, value, check);
    return tr;
  }));
  table.hidden = fields.length === 0;
}

// The document's text as corrected so far: pages (separated by form feeds in the API) shown a
// blank line apart.
function allText(result) {
  return correctedPageTexts(result).join("\n\n");
}

/** Forget the result shown. */
export function clearResult() {
  state.result = null;
  state.pageIndex = 0;
  state.selected = -1;
  $("page-nav").hidden = true;
  clearDownloads();
  $("overlay").replaceChildren();
  $("lines").replaceChildren();
  renderFields([]);
  $("no-lines").hidden = true;
  $("all-text").value = "";
  $("timing").textContent = "";
  $("model-used").textContent = "";
  $("cached-badge").hidden = true;
  $("view-note").hidden = true;
  $("copy").disabled = true;
  $("copy-status").textContent = "";
  $("draw-box").disabled = true;
}

/** Show ``result``, just read, from its first page. */
export function showResult(result, rtt) {
  state.result = result;
  state.rtt = rtt;
  state.pageIndex = 0;
  state.selected = -1;
  renderResult(result, rtt);
}

function showPage(index) {
  if (!state.result) return;
  state.pageIndex = index;
  state.selected = -1;
  renderResult(state.result, state.rtt);
}

/** Highlight line ``index`` of the page shown, in the list and over the image. */
export function select(index) {
  state.selected = index;
  document.querySelectorAll("#overlay polygon").forEach((p) => {
    p.classList.toggle("selected", Number(p.dataset.index) === index);
  });
  document.querySelectorAll("#lines li").forEach((li) => {
    const on = Number(li.dataset.index) === index;
    li.classList.toggle("selected", on);
    if (on) li.scrollIntoView({ block: "nearest" });
  });
  const poly = document.querySelector(`#overlay polygon[data-index="${index}"]`);
  if (poly) poly.parentNode.appendChild(poly);  // draw the selected box on top
}

async function copyAll() {
  const text = state.result ? allText(state.result) : "";
  if (!text) return;
  const ok = await copyText(text, $("all-text"));
  $("copy-status").textContent = t(ok ? "copied" : "copy_failed");
}

export function setupResult() {
  $("copy").addEventListener("click", copyAll);
  $("prev-page").addEventListener("click", () => showPage(state.pageIndex - 1));
  $("next-page").addEventListener("click", () => showPage(state.pageIndex + 1));
  onLanguageChange(() => { if (state.result) renderResult(state.result, state.rtt); });
}
