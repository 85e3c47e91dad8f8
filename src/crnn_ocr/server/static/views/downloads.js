// The Read tab's downloads (#downloads): JSON is the result already shown; text, hOCR, ALTO and the
// searchable PDF are made by the server from the same file and options (POST /ocr?format=...).

import { exportForm } from "../api.js";
import { $, saveFile } from "../dom.js";
import { t } from "../i18n.js";
import { ocrForm } from "../request.js";
import { hasSource, state } from "../state.js";
import { showError } from "./error.js";

const EXTENSIONS = { text: ".txt", json: ".json", hocr: ".hocr", alto: ".alto.xml", pdf: ".pdf" };
const FORMAT_NAMES = { text: "Text", json: "JSON", hocr: "hOCR", alto: "ALTO", pdf: "PDF" };

/** The buttons on (a result is shown) or off; all but JSON need the file or URL it was read from. */
export function setDownloads(enabled) {
  document.querySelectorAll("#downloads button[data-format]").forEach((b) => {
    b.disabled = !enabled || (b.dataset.format !== "json" && !hasSource());
  });
}

export function clearDownloads() {
  setDownloads(false);
  $("download-status").textContent = "";
}

function save(blob, name) {
  saveFile(blob, name);
  $("download-status").textContent = t("downloaded", { name });
}

async function download(format) {
  if (!state.result) return;
  const stem = (state.fileName || "pasted").replace(/\.[^.]*$/, "") || "result";
  const name = `${stem}.ocr${EXTENSIONS[format]}`;
  if (format === "json") {
    save(new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" }), name);
    return;
  }
  if (!hasSource()) return;  // a reopened result: only its JSON is at hand
  $("download-status").textContent = t("preparing", { format: FORMAT_NAMES[format] });
  setDownloads(false);
  try {
    save(await exportForm(ocrForm(true), format), name);
  } catch (e) {
    $("download-status").textContent = "";
    showError(e.code || "unknown", e.message);
  } finally {
    setDownloads(Boolean(state.result));
  }
}

export function setupDownloads() {
  document.querySelectorAll("#downloads button[data-format]").forEach((button) => {
    button.addEventListener("click", () => download(button.dataset.format));
  });
}
