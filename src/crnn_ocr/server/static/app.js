// CRNN-OCR web page: choose / drop / paste an image or PDF (or give its URL), POST it to /ocr, draw
// the boxes, list the lines page by page, and download the result as text, JSON, hOCR, ALTO or a
// searchable PDF. A PDF is read through POST /api/v1/ocr/stream, its pages shown as they are read.
// The viewer zooms and pans, and compares the image before and after preprocessing
// (POST /api/v1/preprocess: no detection or recognition). Strings: i18n.js. Tabs: showTab.
// Plain JavaScript, no dependencies; every asset is served by the app itself. API calls go through
// apiFetch, which adds the API key (asked once, kept in localStorage) when the server has keys.
"use strict";

const LOW_CONFIDENCE = 0.6;
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

const state = {
  lang: pickLanguage(),
  file: null,          // the Blob being recognised
  url: "",             // or the image URL the server fetches
  fileName: "",
  images: {},          // SHA-256 of a file read here -> its object URL (history entries reopen with it)
  zoom: 0,             // 0: fit the panel; else the scale of the image
  compare: false,      // the before/after split is shown
  objectUrl: null,     // object URL of the original image
  result: null,        // last successful response
  pageIndex: 0,        // the page of the result shown
  selected: -1,        // index of the highlighted line (on the page shown)
  seq: 0,              // request counter: only the latest response is shown
  controller: null,    // AbortController of the request in flight
  limits: null,        // from /api/v1/info
  error: null,         // {code, detail} of the error shown
};

// ---- language ---------------------------------------------------------------------------------

function pickLanguage() {
  const saved = localStorage.getItem("crnn-ocr-lang");
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function t(key, params = {}) {
  const text = I18N[state.lang][key] ?? I18N.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  document.querySelectorAll("[data-i18n-aria-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  });
  renderModelChoices();
  showZoom();
  $("lang-toggle").textContent = state.lang === "zh" ? "English" : "中文";
  document.title = t("title");
  refreshModelBadge();
  showFileName();
  if (state.result) renderResult(state.result, state.rtt);
  if (state.error) showError(state.error.code, state.error.detail);
}

// ---- model status -----------------------------------------------------------------------------

let readiness = null;

async function pollReadiness() {
  try {
    const res = await fetch("/readyz", { cache: "no-store" });
    readiness = await res.json();
  } catch (_) {
    readiness = null;
  }
  refreshModelBadge();
  if (readiness && readiness.ready && !models.length) loadModels();
  if (!readiness || readiness.status === "loading" || readiness.status === "starting") {
    setTimeout(pollReadiness, 2000);
  }
}

function refreshModelBadge() {
  const badge = $("model-status");
  if (readiness && readiness.ready && readiness.model) {
    badge.dataset.state = "ready";
    badge.textContent = t("model_ready", readiness.model);
    badge.title = "";
  } else if (readiness && readiness.status === "failed") {
    badge.dataset.state = "failed";
    badge.textContent = t("model_failed");
    badge.title = readiness.error || "";
  } else {
    badge.dataset.state = "loading";
    badge.textContent = t("model_loading");
  }
}

// ---- API key ----------------------------------------------------------------------------------
// A server with API keys answers 401 without one: the page asks for the key once (a dialog),
// keeps it in localStorage and sends it as "Authorization: Bearer" on every API call.

const KEY_STORAGE = "crnn-ocr-api-key";
let keyPrompt = null;  // the open dialog's promise, shared by requests refused at the same time

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function showForgetKey() {
  $("forget-key").hidden = !apiKey();
}

function askForKey(reason) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("key-dialog");
  $("key-reason").textContent = t(reason);
  const input = dialog.querySelector("input[name=key]");
  input.value = "";
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) localStorage.setItem(KEY_STORAGE, key);
      showForgetKey();
      keyPrompt = null;
      resolve(Boolean(key));
    }, { once: true });
  });
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return keyPrompt;
}

// fetch() for the API: with the key; on 401, ask for a (new) key and try again.
async function apiFetch(url, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const res = await fetch(url, { ...options, headers });
    if (res.status !== 401 || attempt >= 2) return res;
    if (!(await askForKey(key ? "key_invalid" : "key_needed"))) return res;
  }
}

// ---- tabs -------------------------------------------------------------------------------------
// A button [data-tab=NAME] in #tabs shows the section [data-tab-panel=NAME] and hides the others;
// another script's tab joins by adding such a pair. "tab:shown" is dispatched with the name.

function showTab(name) {
  document.querySelectorAll("#tabs [data-tab]").forEach((b) => {
    b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false");
  });
  document.querySelectorAll("[data-tab-panel]").forEach((panel) => { panel.hidden = panel.dataset.tabPanel !== name; });
  document.dispatchEvent(new CustomEvent("tab:shown", { detail: name }));
  if (name === "read") fitImage();
}

// ---- models -----------------------------------------------------------------------------------

let models = [];  // GET /api/v1/models

async function loadModels() {
  try {
    const res = await apiFetch("/api/v1/models", { cache: "no-store" });
    if (res.ok) models = (await res.json()).models;
  } catch (_) { models = []; }
  renderModelChoices();
}

function renderModelChoices() {
  const select = $("model-select");
  if (!select || !models.length) return;
  const chosen = select.value;
  select.replaceChildren(...models.map((m) => {
    const option = document.createElement("option");
    option.value = m.default ? "" : m.name;  // "" sends no model: the server's default
    option.textContent = t(m.default ? "model_default" : "model_option", { name: m.name, version: m.version || "" });
    if (m.card) option.title = m.card;
    return option;
  }));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function loadInfo() {
  try {
    const res = await apiFetch("/api/v1/info", { cache: "no-store" });
    if (res.ok) state.limits = (await res.json()).limits;
  } catch (_) { /* the limits only improve messages; the server checks them anyway */ }
}

// ---- choosing an image ------------------------------------------------------------------------

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

function isPdf(blob, name) {
  return blob.type === "application/pdf" || /\.pdf$/i.test(name || "");
}

// Files the browser cannot show in an <img> (PDF, TIFF): the server sends each page's image.
function needsServerPreview() {
  return Boolean(state.file) && (isPdf(state.file, state.fileName) || /^image\/tiff$/.test(state.file.type)
    || /\.tiff?$/i.test(state.fileName));
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
  clearResult();
  showSource();
  $("run").disabled = false;
  recognise();
}

// The image being read: the file itself, or (PDF, TIFF, URL) nothing until the server sends it.
function showSource() {
  if (state.file && !needsServerPreview()) {
    showImage(state.objectUrl, "original", null);
  } else {
    $("viewer").hidden = true;
    $("empty-hint").hidden = false;
  }
}

async function rememberImage(blob, url) {
  if (!(window.crypto && crypto.subtle)) return;  // plain-http hosts: no SubtleCrypto, no reopening with the image
  try {
    const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    state.images[hex] = url;
  } catch (_) { /* only a convenience */ }
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
  clearResult();
  showSource();
  $("run").disabled = false;
  recognise();
}

function setupInputs() {
  $("file-input").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) setImage(file, file.name);
  });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("image-url").value.trim();
    if (url) setUrl(url);
  });

  const zone = $("dropzone");
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) setImage(file, file.name);
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file-input").click(); }
  });
  // A file dropped outside the zone must not make the browser navigate away.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  document.addEventListener("paste", (e) => {
    const items = (e.clipboardData && e.clipboardData.items) || [];
    for (const item of items) {
      if (item.kind === "file" && item.type.startsWith("image/")) {
        e.preventDefault();
        showTab("read");
        state.scrollToResult = true;  // a paste while scrolled down: show where the result appears
        setImage(item.getAsFile(), "");
        return;
      }
    }
  });

  const form = $("options");
  form.elements.beam_width.disabled = form.elements.decode.value !== "beam";  // after a form restore
  const showFloor = () => { $("min-confidence-value").textContent = `${Math.round(form.elements.min_confidence.value * 100)}%`; };
  showFloor();
  form.elements.min_confidence.addEventListener("input", showFloor);
  form.addEventListener("submit", (e) => { e.preventDefault(); recognise(); });
  form.addEventListener("change", (e) => {
    if (e.target.name === "decode") form.elements.beam_width.disabled = e.target.value !== "beam";
    if (!state.file && !state.url) return;
    // While comparing, a preprocessing step only updates the before/after view (cheap); the text is
    // read again on "Recognise".
    if (state.compare && PREPROCESS_STEPS.includes(e.target.name)) {
      updateSplit();
      $("options-note").hidden = false;
      return;
    }
    recognise();
  });

  $("tabs").addEventListener("click", (e) => {
    const button = e.target.closest("[data-tab]");
    if (button) showTab(button.dataset.tab);
  });
  $("copy").addEventListener("click", copyAll);
  $("prev-page").addEventListener("click", () => showPage(state.pageIndex - 1));
  $("next-page").addEventListener("click", () => showPage(state.pageIndex + 1));
  document.querySelectorAll("#downloads button[data-format]").forEach((button) => {
    button.addEventListener("click", () => download(button.dataset.format));
  });
  $("forget-key").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    showForgetKey();
  });
  $("lang-toggle").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("crnn-ocr-lang", state.lang);
    applyLanguage();
  });
  setupViewer();
}

// ---- the options ------------------------------------------------------------------------------

const PREPROCESS_STEPS = ["grayscale", "clahe", "denoise", "binarize", "morph_close", "deskew"];

// The options form as the API's options object (POST /api/v1/ocr): the one conversion of the form.
function formOptions() {
  const f = $("options").elements;
  const text = (name) => f[name].value.trim() || null;
  const options = {
    detect: f.detect.checked, detector: f.detector.value, auto_orient: f.auto_orient.checked, fields: f.fields.checked,
    preprocess: Object.fromEntries(PREPROCESS_STEPS.map((name) => [name, f[name].checked])),
    decode: {
      method: f.decode.value, beam_width: Number(f.beam_width.value || 8), allowlist: f.allowlist.value || null,
      denylist: f.denylist.value || null, page_script: f.page_script.checked, lm: f.lm.checked,
      pattern: text("pattern"), min_confidence: Number(f.min_confidence.value || 0),
    },
    pages: text("pages"),
    model: f.model.value || null,
  };
  if (f.dpi.value) options.dpi = Number(f.dpi.value);
  return options;
}

// The same options as the flat form fields of POST /ocr and multipart POST /api/v1/jobs.
function appendOptionFields(data, options) {
  const flat = { ...options, ...options.preprocess, ...options.decode, decode: options.decode.method };
  delete flat.preprocess;
  delete flat.method;
  for (const [name, value] of Object.entries(flat)) {
    if (value === null || value === undefined) continue;
    if (name === "beam_width" && options.decode.method !== "beam") continue;
    data.append(name, typeof value === "boolean" ? String(value) : String(value));
  }
}

// The form to POST to /ocr: the file (or the URL) and the options. ``forDownload``: no previews.
function buildForm(forDownload = false) {
  const data = new FormData();
  if (state.file) data.append("image", state.file, "upload");  // the server never uses the name
  else data.append("image_url", state.url);
  appendOptionFields(data, formOptions());
  const preview = !forDownload && ($("options").elements.return_processed_image.checked || needsServerPreview() || !state.file);
  data.append("return_processed_image", preview ? "true" : "false");
  return data;
}

// ---- the request ------------------------------------------------------------------------------

async function recognise() {
  if (!state.file && !state.url) return;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const seq = ++state.seq;
  setBusy(true);
  hideError();
  $("options-note").hidden = true;
  const started = performance.now();
  try {
    const stream = state.file && isPdf(state.file, state.fileName);
    const { res, body } = stream ? await readStreaming(controller, seq) : await readOnce(controller);
    if (seq !== state.seq) return;  // a newer request replaced this one
    if (!res.ok || !body || body.success !== true) {
      clearResult();
      const err = (body && body.error) || { code: res.status >= 500 ? "internal_error" : "unknown", message: `HTTP ${res.status}` };
      showError(err.code, err.message);
      return;
    }
    state.rtt = Math.round(performance.now() - started);
    state.result = body;
    state.pageIndex = 0;
    state.selected = -1;
    renderResult(body, state.rtt);
    if (state.compare) updateSplit();
    document.dispatchEvent(new CustomEvent("ocr:read", { detail: body }));  // the history tab refreshes
    if (state.scrollToResult) {
      state.scrollToResult = false;
      $("viewer-heading").scrollIntoView({ block: "start" });
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === state.seq) { clearResult(); showError("network", String(e.message || e)); }
  } finally {
    if (seq === state.seq) { setBusy(false); state.controller = null; }
  }
}

async function readOnce(controller) {
  const res = await apiFetch("/ocr", { method: "POST", body: buildForm(), signal: controller.signal });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON: handled by the caller */ }
  return { res, body };
}

// A PDF: POST /api/v1/ocr/stream, its pages counted as they are read (Server-Sent Events).
async function readStreaming(controller, seq) {
  const options = formOptions();
  const body = JSON.stringify({
    image_base64: await blobBase64(state.file), options,
    return_processed_image: true,
  });
  const res = await apiFetch("/api/v1/ocr/stream", {
    method: "POST", body, signal: controller.signal, headers: { "Content-Type": "application/json" },
  });
  if (!res.ok) {
    let error = null;
    try { error = await res.json(); } catch (_) { /* not JSON */ }
    return { res, body: error };
  }
  let result = null;
  await readEvents(res, (name, data) => {
    if (seq !== state.seq) return;
    if (name === "page") $("progress-text").textContent = t("page_reading", data);
    else if (name === "result") result = data;
    else if (name === "error") result = { success: false, error: data };
  });
  return { res, body: result };
}

// Each Server-Sent Event of a fetch() response: onEvent(name, data). (EventSource cannot send
// the API key, so the page reads the stream itself.)
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
    if (done) return;
  }
}

function blobBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function setBusy(busy) {
  $("progress").hidden = !busy;
  $("progress-text").textContent = t("working");
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  $("run").disabled = busy || (!state.file && !state.url);
}

function clearResult() {
  state.result = null;
  state.pageIndex = 0;
  state.selected = -1;
  $("page-nav").hidden = true;
  setDownloads(false);
  $("download-status").textContent = "";
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
}

// ---- the viewer: zoom, pan, before/after ------------------------------------------------------

// Show ``src`` in the viewer; ``size`` ({width, height} of the page) scales the overlay.
function showImage(src, kind, size) {
  const img = $("view-image");
  img.classList.remove("blank");
  if (img.getAttribute("src") !== src) img.src = src;
  img.alt = t(kind);
  $("view-kind").textContent = t(kind);
  $("viewer").hidden = false;
  $("empty-hint").hidden = true;
  if (size) $("overlay").setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  fitImage();
}

// No image (a history entry whose image this browser no longer has): a blank page of its size.
function showBlank(size) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.min(size.width, 4000));
  canvas.height = Math.max(1, Math.min(size.height, 4000));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  showImage(canvas.toDataURL("image/png"), "original", size);
  $("view-image").classList.add("blank");
}

// The scale that fits the image in the panel (small images up to 4x).
function fitScale() {
  const img = $("view-image");
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (!w || !h) return 1;
  const room = Math.max(50, $("viewport").clientWidth - 4);
  return Math.min(room / w, (window.innerHeight * 0.7) / h, 4);
}

function fitImage() {
  applyZoom(state.zoom || fitScale());
}

function applyZoom(scale) {
  const img = $("view-image");
  if (!img.naturalWidth) return;
  img.style.width = `${Math.max(1, Math.floor(img.naturalWidth * scale))}px`;
  state.shownScale = scale;
  showZoom();
}

function showZoom() {
  const label = $("zoom-label");
  if (label) label.textContent = t("zoom_label", { percent: Math.round((state.shownScale || 1) * 100) });
}

function zoomBy(factor) {
  const scale = Math.min(16, Math.max(0.05, (state.shownScale || fitScale()) * factor));
  state.zoom = scale;
  applyZoom(scale);
}

function setupViewer() {
  $("zoom-in").addEventListener("click", () => zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => zoomBy(0.8));
  $("zoom-fit").addEventListener("click", () => { state.zoom = 0; fitImage(); });
  const viewport = $("viewport");
  viewport.addEventListener("wheel", (e) => {
    if (!e.ctrlKey) return;  // plain wheel scrolls the page; ctrl+wheel (and pinch) zooms
    e.preventDefault();
    zoomBy(e.deltaY < 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });
  let drag = null;  // drag the image to pan it
  viewport.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
    viewport.classList.add("panning");
  });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    viewport.scrollLeft = drag.left - (e.clientX - drag.x);
    viewport.scrollTop = drag.top - (e.clientY - drag.y);
  });
  window.addEventListener("pointerup", () => { drag = null; viewport.classList.remove("panning"); });
  $("compare").addEventListener("change", (e) => {
    state.compare = e.target.checked;
    $("compare-hint").hidden = !state.compare;
    $("split").hidden = $("split-slider").hidden = !state.compare;
    if (state.compare) updateSplit();
    else $("options-note").hidden = true;
  });
  $("split-slider").addEventListener("input", (e) => {
    $("split").style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
  });
}

// The before/after split: the preprocessed page from POST /api/v1/preprocess (no detection, no
// recognition) over the right part of the image.
async function updateSplit() {
  if (!state.compare || (!state.file && !state.url)) return;
  const seq = (state.splitSeq = (state.splitSeq || 0) + 1);
  const options = formOptions();
  const body = { options };
  if (state.file) body.image_base64 = await blobBase64(state.file);
  else body.image_url = state.url;
  const page = state.result && state.result.pages ? state.result.pages[state.pageIndex].page : null;
  try {
    const res = await apiFetch(`/api/v1/preprocess${page ? `?page=${page}` : ""}`, {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    if (seq !== state.splitSeq) return;
    if (!res.ok) {
      const err = await res.json().catch(() => null);
      if (err && err.error) showError(err.error.code, err.error.message);
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const old = $("split-image").src;
    $("split-image").src = url;
    $("split-image").dataset.steps = res.headers.get("X-Preprocessing") || "";
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  } catch (e) {
    showError("network", String(e.message || e));
  }
}

function showError(code, detail) {
  state.error = { code, detail };
  const key = `err_${code}`;
  $("error-title").textContent = key in I18N.en ? t(key) : t("err_unknown");
  $("error-detail").textContent = detail || "";
  $("error").hidden = false;
}

function hideError() {
  state.error = null;
  $("error").hidden = true;
}

// A result read earlier (a history entry, a batch file) in the viewer: ``image`` is its image's
// object URL while the browser still has it, else the boxes are drawn on a blank page.
function openResult(result, name, image) {
  if (state.controller) state.controller.abort();
  state.seq++;
  setBusy(false);
  hideError();
  state.file = null;
  state.url = "";
  state.fileName = name || "";
  state.objectUrl = image || null;
  state.reopened = true;
  $("file-name").textContent = name || "";
  clearResult();
  state.result = result;
  state.pageIndex = 0;
  state.selected = -1;
  showTab("read");
  renderResult(result, null);
  $("run").disabled = true;
}

// ---- the result -------------------------------------------------------------------------------

function renderResult(result, rtt) {
  const pages = result.pages && result.pages.length ? result.pages : [{ ...result.image, lines: result.lines }];
  state.pageIndex = Math.min(Math.max(state.pageIndex, 0), pages.length - 1);
  const page = pages[state.pageIndex];
  const { width, height } = page;
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

  const svg = $("overlay");
  svg.replaceChildren();
  page.lines.forEach((line, i) => {
    const poly = document.createElementNS(SVG_NS, "polygon");
    poly.setAttribute("points", line.box.map(([x, y]) => `${x},${y}`).join(" "));
    poly.dataset.index = String(i);
    if (line.confidence < LOW_CONFIDENCE) poly.classList.add("low");
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = `${line.text} (${(line.confidence * 100).toFixed(1)}%)`;
    poly.appendChild(title);
    poly.addEventListener("click", () => select(i));
    svg.appendChild(poly);
  });

  const list = $("lines");
  list.replaceChildren();
  page.lines.forEach((line, i) => {
    const li = document.createElement("li");
    li.dataset.index = String(i);
    const low = line.confidence < LOW_CONFIDENCE;
    if (low) li.classList.add("low");
    const button = document.createElement("button");
    button.type = "button";
    const no = document.createElement("span");
    no.className = "no";
    no.textContent = String(i + 1);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = line.text;
    const conf = document.createElement("span");
    conf.className = "conf";
    conf.textContent = `${(line.confidence * 100).toFixed(1)}%`;
    conf.title = t("confidence");
    button.append(no, text, conf);
    if (low) {
      const mark = document.createElement("span");
      mark.className = "low-mark";
      mark.textContent = "!";
      mark.title = t("low_title");
      button.title = t("low_title");
      button.append(mark);
    }
    button.addEventListener("click", () => select(i));
    li.appendChild(button);
    list.appendChild(li);
  });
  $("no-lines").hidden = page.lines.length > 0;
  renderFields(page.fields || []);
  $("all-text").value = allText(result);
  $("copy").disabled = !result.text;
  $("copy-status").textContent = "";
  setDownloads(true);

  const tm = result.timings;
  $("timing").textContent = t(pages.length > 1 ? "timing_pages" : "timing", {
    total: Math.round(result.cost_time_ms), pre: Math.round(tm.preprocess_ms), det: Math.round(tm.detect_ms),
    rec: Math.round(tm.recognize_ms), rtt: rtt ?? "?", w: width, h: height, n: result.lines.length,
    p: pages.length,
  });
  if (state.selected >= 0) select(state.selected);
}

// The page's fields (options.fields) as a table beside the lines: name, value, the validator's verdict.
function renderFields(fields) {
  const table = $("fields");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const field of fields) {
    const tr = document.createElement("tr");
    tr.dataset.name = field.name;
    const verdict = field.valid === true ? "valid" : field.valid === false ? "invalid" : "unchecked";
    tr.className = verdict;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = field.name;
    const value = document.createElement("td");
    value.className = "value";
    value.textContent = field.value || field.text;
    if (field.text && field.text !== field.value) value.title = field.text;
    const check = document.createElement("td");
    check.className = "check";
    check.textContent = `${field.valid === true ? "✓" : field.valid === false ? "✗" : "–"} ${t(verdict)}`;
    if (field.check) check.title = field.check;
    tr.append(name, value, check);
    body.appendChild(tr);
  }
  table.hidden = fields.length === 0;
}

// The document's text: pages (separated by form feeds in the API) shown a blank line apart.
function allText(result) {
  return result.text.split("\f").join("\n\n");
}

function showPage(index) {
  if (!state.result) return;
  state.pageIndex = index;
  state.selected = -1;
  renderResult(state.result, state.rtt);
}

// ---- downloads --------------------------------------------------------------------------------

const EXTENSIONS = { text: ".txt", json: ".json", hocr: ".hocr", alto: ".alto.xml", pdf: ".pdf" };
const FORMAT_NAMES = { text: "Text", json: "JSON", hocr: "hOCR", alto: "ALTO", pdf: "PDF" };

function setDownloads(enabled) {
  const source = Boolean(state.file || state.url);
  document.querySelectorAll("#downloads button[data-format]").forEach((b) => {
    b.disabled = !enabled || (b.dataset.format !== "json" && !source);
  });
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  $("download-status").textContent = t("downloaded", { name });
}

// JSON is the result already shown; the other formats are made by the server from the same file
// and options (POST /ocr?format=...).
async function download(format) {
  if (!state.result) return;
  const stem = (state.fileName || "pasted").replace(/\.[^.]*$/, "") || "result";
  const name = `${stem}.ocr${EXTENSIONS[format]}`;
  if (format === "json") {
    saveBlob(new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" }), name);
    return;
  }
  if (!state.file && !state.url) return;  // a reopened result: only its JSON is at hand
  $("download-status").textContent = t("preparing", { format: FORMAT_NAMES[format] });
  setDownloads(false);
  try {
    const res = await apiFetch(`/ocr?format=${format}`, { method: "POST", body: buildForm(true) });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      const err = (body && body.error) || { code: "unknown", message: `HTTP ${res.status}` };
      $("download-status").textContent = "";
      showError(err.code, err.message);
      return;
    }
    saveBlob(await res.blob(), name);
  } catch (e) {
    $("download-status").textContent = "";
    showError("network", String(e.message || e));
  } finally {
    setDownloads(Boolean(state.result));
  }
}

function select(index) {
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
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); ok = true; } catch (_) { ok = false; }
  }
  if (!ok) {  // older browsers, plain-http hosts: copy from the textarea
    const area = $("all-text");
    area.focus();
    area.select();
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  }
  $("copy-status").textContent = t(ok ? "copied" : "copy_failed");
}

// ---- start ------------------------------------------------------------------------------------

setupInputs();
$("view-image").addEventListener("load", fitImage);
$("view-image").addEventListener("error", () => {  // a file the browser cannot display
  $("viewer").hidden = true;
  $("empty-hint").hidden = false;
});
window.addEventListener("resize", fitImage);
applyLanguage();
showForgetKey();
pollReadiness();
loadInfo();
loadModels();
