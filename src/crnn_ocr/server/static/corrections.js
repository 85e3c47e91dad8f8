// The corrections made on the result shown, saved as labelled lines (POST /api/v1/corrections): a
// line read whose text the user corrected (views/edit.js), or a box the user drew where the
// detector missed a line (views/draw.js). Two choices of the user go with every save, both kept in
// localStorage: the dataset the lines join, and the opt-in to keeping training data. The server
// keeps each corrected line's text and box always; the page image and the line crops only with
// the opt-in (off until chosen).

import { saveCorrections } from "./api.js";
import { blobBase64, objectUrlBlob } from "./dom.js";
import { needsServerPreview, pagesOf, state } from "./state.js";

const KEEP_STORAGE = "crnn-ocr-keep-training-data";
const DATASET_STORAGE = "crnn-ocr-dataset";
export const DEFAULT_DATASET = "default";

const byResult = new WeakMap();  // a result -> its pages' corrections (pageRecord), by page index
const listeners = [];

/** The user opted in to keeping training data (the page image and the line crops). */
export function keepTrainingData() {
  return localStorage.getItem(KEEP_STORAGE) === "true";
}

export function setKeepTrainingData(keep) {
  localStorage.setItem(KEEP_STORAGE, keep ? "true" : "false");
}

/** The dataset corrected lines join. */
export function datasetName() {
  return localStorage.getItem(DATASET_STORAGE) || DEFAULT_DATASET;
}

export function setDatasetName(name) {
  if (name && name !== DEFAULT_DATASET) localStorage.setItem(DATASET_STORAGE, name);
  else localStorage.removeItem(DATASET_STORAGE);
}

/** ``listener(event)`` after each save: {status: "saved", dataset, line} with the line the server
 * stored ({id, text, crop_kept, heldout, ...}), or {status: "failed", dataset, error}. */
export function onCorrectionSaved(listener) {
  listeners.push(listener);
}

// A page's corrections: ``fixed`` (index of a line read -> {text, status}), ``added`` (boxes drawn:
// {box, text, status}); status is "saving", "saved" or "failed". ``sha256``: the page as the
// server stored it (sent instead of the image from the second line on), for ``dataset``.
function pageRecord(result, pageIndex) {
  let pages = byResult.get(result);
  if (!pages) {
    pages = [];
    byResult.set(result, pages);
  }
  if (!pages[pageIndex]) {
    pages[pageIndex] = { fixed: new Map(), added: [], sha256: null, dataset: null, imageKept: false, queue: Promise.resolve() };
  }
  return pages[pageIndex];
}

/** The lines of the page shown as the user sees them, in order: each line read ({box, text,
 * confidence, read: the model's text, status: null until corrected, added: false}), then the boxes
 * the user drew ({box, text, confidence: null, read: null, status, added: true}). */
export function shownLines() {
  if (!state.result) return [];
  const page = pagesOf(state.result)[state.pageIndex];
  const record = pageRecord(state.result, state.pageIndex);
  const read = page.lines.map((line, i) => {
    const fix = record.fixed.get(i);
    return {
      box: line.box, confidence: line.confidence, read: line.text, text: fix ? fix.text : line.text,
      status: fix ? fix.status : null, added: false,
    };
  });
  const added = record.added.map((a) => ({ box: a.box, text: a.text, confidence: null, read: null, status: a.status, added: true }));
  return read.concat(added);
}

/** The text of every page of ``result`` as the user corrected it: each page's lines, one a text
 * line, in reading order with corrected texts in place of those read, then the lines the user drew;
 * a page without corrections is the server's text as it came. */
export function correctedPageTexts(result) {
  const pages = pagesOf(result);
  const records = byResult.get(result) || [];
  const served = result.text.split("\f");
  return pages.map((page, i) => {
    const record = records[i];
    if (!record || (record.fixed.size === 0 && record.added.length === 0)) return served[i] ?? "";
    const read = page.lines.map((line, j) => (record.fixed.has(j) ? record.fixed.get(j).text : line.text));
    return read.concat(record.added.map((a) => a.text)).join("\n");
  });
}

/** Save ``text`` as the right text of line ``index`` of shownLines() (a line read or a box drawn);
 * resolves once the server answered (see onCorrectionSaved). */
export function correctLine(index, text) {
  const page = pagesOf(state.result)[state.pageIndex];
  const record = pageRecord(state.result, state.pageIndex);
  if (index < page.lines.length) {
    const read = page.lines[index];
    if (!record.fixed.has(index)) record.fixed.set(index, { text, status: "saving" });
    const entry = record.fixed.get(index);
    Object.assign(entry, { text, status: "saving" });
    return save(record, entry, { box: read.box, text, original_text: read.text, confidence: read.confidence });
  }
  const entry = record.added[index - page.lines.length];
  Object.assign(entry, { text, status: "saving" });
  return save(record, entry, { box: entry.box, text });
}

/** Add a line the detector missed: ``box`` (four [x, y] corners in page pixels) and its ``text``,
 * on the page shown; saved like a corrected line. */
export function addLine(box, text) {
  const record = pageRecord(state.result, state.pageIndex);
  const entry = { box, text, status: "saving" };
  record.added.push(entry);
  return save(record, entry, { box, text });
}

// One save at a time per page, so that the page image goes once and later lines name its hash.
function save(record, entry, line) {
  const dataset = datasetName();
  const keep = keepTrainingData();
  const image = pageImage();
  record.queue = record.queue.then(async () => {
    try {
      const request = { dataset, keep_training_data: keep, lines: [line] };
      if (record.sha256 && record.dataset === dataset && (record.imageKept || !keep)) request.page_sha256 = record.sha256;
      else request.image_base64 = await image();
      const answer = await saveCorrections(request);
      Object.assign(record, { sha256: answer.page_sha256, dataset, imageKept: answer.page_image_kept });
      entry.status = "saved";
      listeners.forEach((listener) => listener({ status: "saved", dataset, line: answer.lines[0] }));
    } catch (error) {
      entry.status = "failed";
      listeners.forEach((listener) => listener({ status: "failed", dataset, error }));
    }
  });
  return record.queue;
}

/** The image of the page shown, as the server read it, as base64 (a function: read when the save
 * runs): the file itself, else the server's copy of the page (PDF, TIFF, URL), else the image a
 * reopened result still has in this browser. */
function pageImage() {
  const page = pagesOf(state.result)[state.pageIndex];
  const processed = state.pageIndex === 0 ? state.result.processed_image_base64 : page.processed_image_base64;
  if (state.file && !needsServerPreview()) {
    const file = state.file;
    return () => blobBase64(file);
  }
  if (processed) return async () => processed;
  if (state.objectUrl) {
    const url = state.objectUrl;
    return async () => blobBase64(await objectUrlBlob(url));
  }
  return async () => {
    const error = new Error("this browser no longer has the page's image");
    error.code = "no_page_image";
    throw error;
  };
}
