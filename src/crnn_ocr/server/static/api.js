// Every call the page makes to the HTTP API (and the live stream's WebSocket), one function per
// endpoint, and the one place its answers are checked: a call that fails throws an ApiError with
// the server's error code and message ({"error": {code, message}}), "network" when the server
// could not be reached, or "internal_error" / "unknown" when a failed answer carries no error.
// Requests aborted through their AbortSignal throw the AbortError unchanged. Every call but
// /readyz sends the API key (apikey.js); on 401 the page asks for a (new) key and sends it again.

import { apiKey, askAgain } from "./apikey.js";

export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

/** The error a failed answer ``res`` carries in its JSON ``body`` (null when it has none). */
function answerError(res, body) {
  const error = body && body.error;
  if (error && error.code) return new ApiError(error.code, error.message || "", res.status);
  return new ApiError(res.status >= 500 ? "internal_error" : "unknown", `HTTP ${res.status}`, res.status);
}

async function jsonOrNull(res) {
  try { return await res.json(); } catch (_) { return null; }
}

/** ``call()``, its network failures (not aborts) as ApiError("network"). */
async function reaching(call) {
  try {
    return await call();
  } catch (e) {
    if (e.name === "AbortError" || e instanceof ApiError) throw e;
    throw new ApiError("network", String(e.message || e));
  }
}

/** fetch() for the API: with the key; on 401, ask for a (new) key and try again (twice at most).
 * A call refused while it was out, with a key since replaced (given to the dialog another call
 * opened, or forgotten), is sent again with the key kept now before anyone is asked: asking would
 * say "needs a key" when the key kept now has not been tried yet. */
async function apiFetch(url, options = {}) {
  for (let asked = 0; ; ) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const res = await fetch(url, { ...options, headers });
    if (res.status !== 401) return res;
    if (apiKey() !== key) continue;
    if (asked++ >= 2 || !(await askAgain(key))) return res;
  }
}

/** GET/POST ``url``: its JSON answer, or an ApiError. */
function getJson(url, options = {}) {
  return reaching(async () => {
    const res = await apiFetch(url, { cache: "no-store", ...options });
    const body = await jsonOrNull(res);
    if (!res.ok || !body) throw answerError(res, body);
    return body;
  });
}

function postJson(url, body, signal) {
  return apiFetch(url, {
    method: "POST", body: JSON.stringify(body), signal, headers: { "Content-Type": "application/json" },
  });
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

// ---- the service ------------------------------------------------------------------------------

/** GET /readyz (no key needed): {ready, status, model, error}, or null when it cannot be reached. */
export async function readiness() {
  try {
    return await (await fetch("/readyz", { cache: "no-store" })).json();
  } catch (_) {
    return null;
  }
}

/** GET /api/v1/models: the models the server reads with. */
export async function listModels() {
  return (await getJson("/api/v1/models")).models;
}

/** GET /api/v1/info: the server's limits. */
export async function serverLimits() {
  return (await getJson("/api/v1/info")).limits;
}

// ---- reading ----------------------------------------------------------------------------------

/** POST /ocr with a multipart form (source.js): the result. */
export function readForm(form, signal) {
  return reaching(async () => {
    const res = await apiFetch("/ocr", { method: "POST", body: form, signal });
    const body = await jsonOrNull(res);
    if (!res.ok || !body || body.success !== true) throw answerError(res, body);
    return body;
  });
}

/** POST /ocr?format=... (text, hocr, alto, pdf): the file the server made. */
export function exportForm(form, format) {
  return reaching(async () => {
    const res = await apiFetch(`/ocr?format=${format}`, { method: "POST", body: form });
    if (!res.ok) throw answerError(res, await jsonOrNull(res));
    return res.blob();
  });
}

/** POST /api/v1/ocr/stream (a JSON request): ``onPage({page, pages})`` as each page is read, then
 * the result (Server-Sent Events). */
export function readStreaming(request, signal, onPage) {
  return reaching(async () => {
    const res = await postJson("/api/v1/ocr/stream", request, signal);
    if (!res.ok) throw answerError(res, await jsonOrNull(res));
    let result = null;
    await readEvents(res, (name, data) => {
      if (name === "page") onPage(data);
      else if (name === "result") result = data;
      else if (name === "error") result = { success: false, error: data };
    });
    if (!result || result.success !== true) throw answerError(res, result);
    return result;
  });
}

/** POST /api/v1/preprocess (a JSON request; ``page`` of a document, or null): the preprocessed
 * image and the steps applied (its X-Preprocessing header). */
export function preprocess(request, page) {
  return reaching(async () => {
    const res = await postJson(`/api/v1/preprocess${page ? `?page=${page}` : ""}`, request);
    if (!res.ok) throw answerError(res, await jsonOrNull(res));
    return { image: await res.blob(), steps: res.headers.get("X-Preprocessing") || "" };
  });
}

// ---- batch jobs -------------------------------------------------------------------------------

/** POST /api/v1/jobs with a multipart form (the files and the option fields): the new job. */
export function submitJob(form) {
  return reaching(async () => {
    const res = await apiFetch("/api/v1/jobs", { method: "POST", body: form });
    const body = await jsonOrNull(res);
    if (res.status !== 202 || !body) throw answerError(res, body);
    return body;
  });
}

/** GET /api/v1/jobs/{id}/events until the stream ends: onEvent(name, data) for each event
 * (progress, result, error). */
export function followJobEvents(id, signal, onEvent) {
  return reaching(async () => {
    const res = await apiFetch(`/api/v1/jobs/${id}/events`, { signal, cache: "no-store" });
    if (!res.ok) throw answerError(res, await jsonOrNull(res));
    await readEvents(res, onEvent);
  });
}

/** GET /api/v1/jobs: the latest jobs ({jobs, total}). */
export function listJobs(pageSize) {
  return getJson(`/api/v1/jobs?page_size=${pageSize}`);
}

/** DELETE /api/v1/jobs/{id}: cancels an unfinished job, removes a finished one. */
export function deleteJob(id) {
  return getJson(`/api/v1/jobs/${id}`, { method: "DELETE" });
}

// ---- history ----------------------------------------------------------------------------------

/** GET /api/v1/history: a page of past results ({entries, total}), those whose text holds ``q``. */
export function searchHistory(q, page, pageSize) {
  const params = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  if (q) params.set("q", q);
  return getJson(`/api/v1/history?${params}`);
}

/** GET /api/v1/history/{id}: one past result, whole. */
export async function historyResult(id) {
  return (await getJson(`/api/v1/history/${id}`)).result;
}

// ---- corrections and datasets ------------------------------------------------------------------

/** POST /api/v1/corrections: store corrected lines of one page ({dataset, image_base64 or
 * page_sha256, keep_training_data, lines: [{box, text, original_text, confidence}]}); the answer
 * ({dataset, page_sha256, page_image_kept, lines: [{id, text, crop_kept, heldout, ...}]}). */
export function saveCorrections(request) {
  return reaching(async () => {
    const res = await postJson("/api/v1/corrections", request);
    const body = await jsonOrNull(res);
    if (res.status !== 201 || !body) throw answerError(res, body);
    return body;
  });
}

/** GET /api/v1/datasets: the caller's datasets (an admin's: everyone's) ([{name, owner, lines,
 * crops, heldout, pages, updated_at}]). */
export async function listDatasets() {
  return (await getJson("/api/v1/datasets")).datasets;
}

// A dataset's URL; ``owner`` (the one GET /api/v1/datasets names) lets an admin key reach another's.
function datasetUrl(name, owner, tail = "") {
  const query = owner ? `?${new URLSearchParams({ owner })}` : "";
  return `/api/v1/datasets/${encodeURIComponent(name)}${tail}${query}`;
}

/** GET /api/v1/datasets/{name}/export: the dataset of ``owner`` as a zip of PaddleOCR labels (a Blob). */
export function exportDataset(name, owner) {
  return reaching(async () => {
    const res = await apiFetch(datasetUrl(name, owner, "/export"), { cache: "no-store" });
    if (!res.ok) throw answerError(res, await jsonOrNull(res));
    return res.blob();
  });
}

/** DELETE /api/v1/datasets/{name}: removes the dataset of ``owner`` ({dataset, deleted, lines}). */
export function deleteDataset(name, owner) {
  return getJson(datasetUrl(name, owner), { method: "DELETE" });
}

// ---- live streams -----------------------------------------------------------------------------

/** A WebSocket to WS /api/v1/stream (binary messages as ArrayBuffers); the caller sends the start
 * message, with the key (apiKey()), since a browser's WebSocket cannot send Authorization. */
export function openStream() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
  ws.binaryType = "arraybuffer";
  return ws;
}
