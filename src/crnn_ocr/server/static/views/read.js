// The Read tab's input and its reading: choose, drop or paste an image or PDF, or give its URL;
// read it with the options of the form (POST /ocr, or POST /api/v1/ocr/stream for a PDF, whose
// pages are counted as they are read) again whenever an option changes; only the latest answer is
// shown. openResult() shows a result read earlier (history, batch) the same way.

import { readForm, readStreaming, serverLimits } from "../api.js";
import { $, dropZone } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { PREPROCESS_STEPS, setupOptionsForm } from "../options.js";
import { ocrForm, ocrJson } from "../request.js";
import { hasSource, isPdf, needsServerPreview, state } from "../state.js";
import { hideError, showError } from "./error.js";
import { clearResult, showResult } from "./result.js";
import { showTab } from "./tabs.js";
import { comparing, hideImage, showImage, updateSplit } from "./viewer.js";

const reading = {
  seq: 0,                 // request counter: only the latest response is shown
  controller: null,       // AbortController of the request in flight
  scrollToResult: false,  // a paste while scrolled down: show where the result appears
};
const readListeners = [];

/** ``listener(result)`` after every image read here (not for results opened from elsewhere). */
export function onRead(listener) {
  readListeners.push(listener);
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function showFileName() {
  $("file-name").textContent = state.file
    ? t("file_label", { name: state.fileName || t("pasted"), size: formatBytes(state.file.size) })
    : "";
}

function setImage(blob, name) {
  if (!blob) return;
  if (blob.type && !blob.type.startsWith("image/") && !isPdf(blob, name)) {
    showError("not_image_file", blob.type);
    return;
  }
  if (state.limits && blob.size > state.limits.max_bytes) {
    showError("payload_too_large", t("err_too_big_local", {
      size: formatBytes(blob.size), limit: formatBytes(state.limits.max_bytes),
    }));
    return;
  }
  state.file = blob;
  state.url = "";
  state.fileName = name || "";
  state.objectUrl = URL.createObjectURL(blob);  // kept (state.images) so history can show it again
  state.reopened = false;
  if (!needsServerPreview()) rememberImage(blob, state.objectUrl);
  showFileName();
  startReading();
}

function setUrl(url) {
  state.file = null;
  state.reopened = false;
  state.objectUrl = null;
  state.url = url;
  let host = url;
  try { host = new URL(url).host; } catch (_) { /* the server says what is wrong with it */ }
  state.fileName = t("url_name", { host });
  $("file-name").textContent = url;
  startReading();
}

function startReading() {
  clearResult();
  // The image being read: the file itself, or (PDF, TIFF, URL) nothing until the server sends it.
  if (state.file && !needsServerPreview()) showImage(state.objectUrl, "original", null);
  else hideImage();
  $("run").disabled = false;
  recognise();
}

async function rememberImage(blob, url) {
  if (!(window.crypto && crypto.subtle)) return;  // plain-http hosts: no SubtleCrypto, no reopening with the image
  try {
    const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    state.images[hex] = url;
  } catch (_) { /* only a convenience */ }
}

async function recognise() {
  if (!hasSource()) return;
  if (reading.controller) reading.controller.abort();
  const controller = new AbortController();
  reading.controller = controller;
  const seq = ++reading.seq;
  setBusy(true);
  hideError();
  $("options-note").hidden = true;
  const started = performance.now();
  try {
    const result = state.file && isPdf(state.file, state.fileName)
      ? await readStreaming(await ocrJson({ return_processed_image: true }), controller.signal, (progress) => {
        if (seq === reading.seq) $("progress-text").textContent = t("page_reading", progress);
      })
      : await readForm(ocrForm(), controller.signal);
    if (seq !== reading.seq) return;  // a newer request replaced this one
    showResult(result, Math.round(performance.now() - started));
    if (comparing()) updateSplit();
    readListeners.forEach((listener) => listener(result));
    if (reading.scrollToResult) {
      reading.scrollToResult = false;
      $("viewer-heading").scrollIntoView({ block: "start" });
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === reading.seq) { clearResult(); showError(e.code || "unknown", e.message); }
  } finally {
    if (seq === reading.seq) { setBusy(false); reading.controller = null; }
  }
}

function setBusy(busy) {
  $("progress").hidden = !busy;
  $("progress-text").textContent = t("working");
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  $("run").disabled = busy || !hasSource();
}

/** Show a result read earlier (a history entry, a batch file) in the Read tab: ``image`` is its
 * image's object URL while the browser still has it, else the boxes are drawn on a blank page. */
export function openResult(result, name, image) {
  if (reading.controller) reading.controller.abort();
  reading.seq++;
  setBusy(false);
  hideError();
  state.file = null;
  state.url = "";
  state.fileName = name || "";
  state.objectUrl = image || null;
  state.reopened = true;
  $("file-name").textContent = name || "";
  clearResult();
  showTab("read");
  showResult(result, null);
  $("run").disabled = true;
}

// A change of an option reads the image again; while comparing before / after, a preprocessing
// step only updates that view (cheap), and the text is read again on "Recognise".
function optionChanged(name) {
  if (!hasSource()) return;
  if (comparing() && PREPROCESS_STEPS.includes(name)) {
    updateSplit();
    $("options-note").hidden = false;
    return;
  }
  recognise();
}

async function loadLimits() {
  try {
    state.limits = await serverLimits();
  } catch (_) { /* the limits only improve messages; the server checks them anyway */ }
}

export function setupRead() {
  $("file-input").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) setImage(file, file.name);
  });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("image-url").value.trim();
    if (url) setUrl(url);
  });
  dropZone($("dropzone"), $("file-input"), (files) => setImage(files[0], files[0].name));
  // A file dropped outside the zone must not make the browser navigate away.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  document.addEventListener("paste", (e) => {
    const items = (e.clipboardData && e.clipboardData.items) || [];
    for (const item of items) {
      if (item.kind === "file" && item.type.startsWith("image/")) {
        e.preventDefault();
        showTab("read");
        reading.scrollToResult = true;
        setImage(item.getAsFile(), "");
        return;
      }
    }
  });
  setupOptionsForm(optionChanged, recognise);
  onLanguageChange(() => { if (state.file) showFileName(); });
  loadLimits();
}
