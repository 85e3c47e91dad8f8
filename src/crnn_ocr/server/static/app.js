// CRNN-OCR web page: choose / drop / paste an image or PDF, POST it to /ocr, draw the boxes, list the
// lines page by page, and download the result as text, JSON, hOCR, ALTO or a searchable PDF.
// Plain JavaScript, no dependencies; every asset is served by the app itself. API calls go through
// apiFetch, which adds the API key (asked once, kept in localStorage) when the server has keys.
"use strict";

const LOW_CONFIDENCE = 0.6;
const SVG_NS = "http://www.w3.org/2000/svg";

const I18N = {
  en: {
    title: "CRNN-OCR text recognition",
    model_loading: "Model loading…",
    model_ready: "Model: {name} {version}",
    model_failed: "Model failed to load",
    api_docs: "API docs",
    image: "Image",
    drop_here: "Drop an image or PDF here, choose a file, or paste (Ctrl+V)",
    formats: "PNG, JPEG, BMP, TIFF, WebP or PDF",
    document: "PDF and multi-page files",
    dpi: "Render at (dpi)",
    pages: "Pages",
    pages_hint: "all, or e.g. 1-3,5",
    page_of: "Page {i} of {n}",
    download: "Download",
    searchable_pdf: "Searchable PDF",
    preparing: "Preparing {format}…",
    downloaded: "Downloaded {name}.",
    detection: "Detection",
    detect_lines: "Find text lines (off: the whole image is one line)",
    preprocessing: "Preprocessing",
    grayscale: "Grayscale",
    clahe: "Contrast (CLAHE)",
    denoise: "Denoise",
    binarize: "Binarize",
    morph_close: "Close gaps (morphology)",
    deskew: "Deskew",
    detector: "Line finder",
    detector_auto: "Automatic",
    detector_learned: "Learned (photos, receipts, tilted text)",
    detector_classical: "Classical (clean scans)",
    auto_orient: "Turn sideways and upside-down pages upright",
    fields_option: "Find fields (invoices, receipts)",
    fields: "Fields",
    field: "Field",
    value: "Value",
    check: "Check",
    valid: "valid",
    invalid: "invalid",
    unchecked: "not checked",
    page_script: "On English pages, re-read unsure Chinese characters as Latin",
    decoding: "Decoding",
    method: "Method",
    greedy: "Greedy (fast)",
    beam: "Beam search",
    beam_width: "Beam width",
    allowlist: "Only these characters",
    allowlist_hint: "e.g. 0123456789",
    denylist: "Never these characters",
    lm: "Beam search uses the language model",
    pattern: "Field format",
    pattern_hint: "any text; or plate, date, amount, a regex…",
    min_confidence: "Hide lines below confidence",
    view: "View",
    show_processed: "Show the processed image",
    recognise: "Recognise",
    preview: "Preview",
    original: "(original image)",
    processed: "(processed image)",
    working: "Recognising…",
    empty_hint: "No image yet.",
    result: "Text",
    copy_all: "Copy all text",
    copied: "Copied to the clipboard.",
    copy_failed: "Could not copy; select the text below and copy it by hand.",
    no_lines: "No text found.",
    all_text: "All text",
    low_legend: "low confidence (below 60%)",
    low_title: "Low confidence: check this line",
    confidence: "confidence",
    timing: "Server {total} ms (preprocess {pre} · detect {det} · recognise {rec}) · round trip {rtt} ms · {w}×{h} px · {n} lines",
    timing_pages: "Server {total} ms (preprocess {pre} · detect {det} · recognise {rec}) · round trip {rtt} ms · {p} pages · {n} lines",
    file_label: "File: {name} ({size})",
    pasted: "pasted image",
    // error messages, by error code
    err_empty_image: "The file is empty.",
    err_unsupported_image: "This file is not an image we can read. Use PNG, JPEG, BMP, TIFF, WebP or PDF.",
    err_encrypted_document: "This PDF is password-protected. Remove the password and try again.",
    err_too_many_pages: "The document has too many pages. Choose fewer pages.",
    err_corrupt_image: "The image file is damaged or incomplete.",
    err_invalid_image: "The image could not be read.",
    err_invalid_base64: "The image data is not valid base64.",
    err_image_too_large: "The image is too large.",
    err_payload_too_large: "The file is too large.",
    err_invalid_options: "Some options are not valid.",
    err_unsupported_media_type: "The request was sent in a format the server does not read.",
    err_overloaded: "The server is busy. Please try again in a moment.",
    err_not_ready: "The model is not ready yet. Please try again in a moment.",
    err_model_error: "The model is not available.",
    err_timeout: "The server took too long to answer.",
    err_internal_error: "Something went wrong on the server.",
    err_network: "Could not reach the server. Is it still running?",
    err_not_image_file: "Please choose an image or PDF file.",
    err_too_big_local: "The file is {size}; the limit is {limit}.",
    err_unknown: "The request failed.",
    key_title: "API key",
    key_needed: "This server needs an API key. Ask its administrator for one (crnn-ocr keys create). It is kept in this browser only.",
    key_invalid: "That API key was not accepted (unknown or revoked). Enter another one.",
    key_save: "Use this key",
    key_cancel: "Cancel",
    forget_key: "Forget API key",
  },
  zh: {
    title: "CRNN-OCR 文字识别",
    model_loading: "模型加载中…",
    model_ready: "模型：{name} {version}",
    model_failed: "模型加载失败",
    api_docs: "API 文档",
    image: "图片",
    drop_here: "将图片或 PDF 拖到这里、选择文件，或粘贴（Ctrl+V）",
    formats: "支持 PNG、JPEG、BMP、TIFF、WebP、PDF",
    document: "PDF 与多页文件",
    dpi: "渲染分辨率（dpi）",
    pages: "页码",
    pages_hint: "全部，或如 1-3,5",
    page_of: "第 {i} 页，共 {n} 页",
    download: "下载",
    searchable_pdf: "可搜索 PDF",
    preparing: "正在生成 {format}…",
    downloaded: "已下载 {name}。",
    detection: "检测",
    detect_lines: "检测文本行（关闭：整张图作为一行）",
    preprocessing: "预处理",
    grayscale: "灰度",
    clahe: "增强对比度（CLAHE）",
    denoise: "去噪",
    binarize: "二值化",
    morph_close: "闭运算（填补笔画间隙）",
    deskew: "倾斜校正",
    detector: "文本行检测",
    detector_auto: "自动",
    detector_learned: "学习型（照片、小票、倾斜文字）",
    detector_classical: "传统（干净扫描件）",
    auto_orient: "自动转正横放或倒置的页面",
    fields_option: "提取字段（发票、收据）",
    fields: "字段",
    field: "字段",
    value: "值",
    check: "校验",
    valid: "通过",
    invalid: "未通过",
    unchecked: "未校验",
    page_script: "英文页面上，把不确定的汉字按拉丁字母重读",
    decoding: "解码",
    method: "方法",
    greedy: "贪心（快）",
    beam: "束搜索",
    beam_width: "束宽",
    allowlist: "只允许这些字符",
    allowlist_hint: "例如 0123456789",
    denylist: "禁止这些字符",
    lm: "束搜索使用语言模型",
    pattern: "字段格式",
    pattern_hint: "任意文字；或 plate、date、amount、正则表达式…",
    min_confidence: "隐藏置信度低于此值的行",
    view: "显示",
    show_processed: "显示预处理后的图片",
    recognise: "识别",
    preview: "预览",
    original: "（原图）",
    processed: "（预处理后）",
    working: "识别中…",
    empty_hint: "还没有图片。",
    result: "文字",
    copy_all: "复制全部文字",
    copied: "已复制到剪贴板。",
    copy_failed: "无法复制，请手动选中下面的文字复制。",
    no_lines: "没有识别到文字。",
    all_text: "全部文字",
    low_legend: "低置信度（低于 60%）",
    low_title: "置信度低：请核对这一行",
    confidence: "置信度",
    timing: "服务器 {total} 毫秒（预处理 {pre} · 检测 {det} · 识别 {rec}）· 往返 {rtt} 毫秒 · {w}×{h} 像素 · {n} 行",
    timing_pages: "服务器 {total} 毫秒（预处理 {pre} · 检测 {det} · 识别 {rec}）· 往返 {rtt} 毫秒 · {p} 页 · {n} 行",
    file_label: "文件：{name}（{size}）",
    pasted: "粘贴的图片",
    err_empty_image: "文件是空的。",
    err_unsupported_image: "无法读取这个文件。请使用 PNG、JPEG、BMP、TIFF、WebP 图片或 PDF。",
    err_encrypted_document: "这个 PDF 有密码保护。请先移除密码再试。",
    err_too_many_pages: "文档页数太多，请选择较少的页。",
    err_corrupt_image: "图片文件已损坏或不完整。",
    err_invalid_image: "无法读取这张图片。",
    err_invalid_base64: "图片数据不是有效的 base64。",
    err_image_too_large: "图片太大。",
    err_payload_too_large: "文件太大。",
    err_invalid_options: "部分选项无效。",
    err_unsupported_media_type: "请求格式不被服务器支持。",
    err_overloaded: "服务器繁忙，请稍后再试。",
    err_not_ready: "模型尚未就绪，请稍后再试。",
    err_model_error: "模型不可用。",
    err_timeout: "服务器响应超时。",
    err_internal_error: "服务器出错了。",
    err_network: "无法连接服务器，它还在运行吗？",
    err_not_image_file: "请选择图片或 PDF 文件。",
    err_too_big_local: "文件大小为 {size}，上限为 {limit}。",
    err_unknown: "请求失败。",
    key_title: "API 密钥",
    key_needed: "此服务器需要 API 密钥，请向管理员索取（crnn-ocr keys create）。密钥只保存在本浏览器中。",
    key_invalid: "该 API 密钥未被接受（未知或已吊销），请输入另一个。",
    key_save: "使用此密钥",
    key_cancel: "取消",
    forget_key: "忘记 API 密钥",
  },
};

const $ = (id) => document.getElementById(id);

const state = {
  lang: pickLanguage(),
  file: null,          // the Blob being recognised
  fileName: "",
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
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.file = blob;
  state.fileName = name || "";
  state.objectUrl = URL.createObjectURL(blob);
  showFileName();
  clearResult();
  if (needsServerPreview()) {
    $("viewer").hidden = true;
    $("empty-hint").hidden = false;
  } else {
    showImage(state.objectUrl, "original", null);
  }
  $("run").disabled = false;
  recognise();
}

function setupInputs() {
  $("file-input").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) setImage(file, file.name);
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
    if (state.file) recognise();
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
}

// ---- the request ------------------------------------------------------------------------------

// The form to POST: the file and the options. ``forDownload``: no preview images are needed.
function buildForm(forDownload = false) {
  const form = $("options").elements;
  const data = new FormData();
  data.append("image", state.file, "upload");  // the server never uses the name
  for (const name of ["detect", "auto_orient", "fields", "grayscale", "clahe", "denoise", "binarize", "morph_close", "deskew", "page_script"]) {
    data.append(name, form[name].checked ? "true" : "false");
  }
  data.append("detector", form.detector.value);
  const preview = !forDownload && (form.return_processed_image.checked || needsServerPreview());
  data.append("return_processed_image", preview ? "true" : "false");
  if (form.dpi.value) data.append("dpi", form.dpi.value);
  if (form.pages.value.trim()) data.append("pages", form.pages.value.trim());
  appendDecodeFields(data, form);
  return data;
}

// The decoding fields of the options form (shared by single reads and batch jobs).
function appendDecodeFields(data, form) {
  data.append("decode", form.decode.value);
  if (form.decode.value === "beam") data.append("beam_width", form.beam_width.value || "8");
  if (form.allowlist.value) data.append("allowlist", form.allowlist.value);
  if (form.denylist.value) data.append("denylist", form.denylist.value);
  data.append("lm", form.lm.checked ? "true" : "false");
  if (form.pattern.value.trim()) data.append("pattern", form.pattern.value.trim());
  data.append("min_confidence", form.min_confidence.value || "0");
}

async function recognise() {
  if (!state.file) return;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const seq = ++state.seq;
  setBusy(true);
  hideError();
  const started = performance.now();
  try {
    const res = await apiFetch("/ocr", { method: "POST", body: buildForm(), signal: controller.signal });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON: handled below */ }
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
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === state.seq) { clearResult(); showError("network", String(e.message || e)); }
  } finally {
    if (seq === state.seq) { setBusy(false); state.controller = null; }
  }
}

function setBusy(busy) {
  $("progress").hidden = !busy;
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  $("run").disabled = busy || !state.file;
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
  $("copy").disabled = true;
  $("copy-status").textContent = "";
}

// Show ``src`` in the viewer; ``size`` ({width, height} of the original) scales the overlay.
function showImage(src, kind, size) {
  const img = $("view-image");
  if (img.getAttribute("src") !== src) img.src = src;
  img.alt = t(kind);
  $("view-kind").textContent = t(kind);
  $("viewer").hidden = false;
  $("empty-hint").hidden = true;
  if (size) $("overlay").setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  fitImage();
}

// Fit the image to the panel: shrink big ones, enlarge small ones up to 4x, keep the aspect.
function fitImage() {
  const img = $("view-image");
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (!w || !h) return;
  const room = $("viewer").parentElement.clientWidth - 40;
  const scale = Math.min(room / w, (window.innerHeight * 0.75) / h, 4);
  img.style.width = `${Math.max(1, Math.floor(w * scale))}px`;
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

// ---- the result -------------------------------------------------------------------------------

function renderResult(result, rtt) {
  const pages = result.pages && result.pages.length ? result.pages : [{ ...result.image, lines: result.lines }];
  state.pageIndex = Math.min(Math.max(state.pageIndex, 0), pages.length - 1);
  const page = pages[state.pageIndex];
  const { width, height } = page;
  const processed = state.pageIndex === 0 ? result.processed_image_base64 : page.processed_image_base64;
  if (processed) {
    showImage(`data:image/png;base64,${processed}`, "processed", page);
  } else if (!needsServerPreview()) {
    showImage(state.objectUrl, "original", page);
  }
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
  document.querySelectorAll("#downloads button[data-format]").forEach((b) => { b.disabled = !enabled; });
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
  if (!state.result || !state.file) return;
  const stem = (state.fileName || "pasted").replace(/\.[^.]*$/, "") || "result";
  const name = `${stem}.ocr${EXTENSIONS[format]}`;
  if (format === "json") {
    saveBlob(new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" }), name);
    return;
  }
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
