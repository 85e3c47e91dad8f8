// The options form (#options), the one place the page reads it. readOptions() gives the API's
// options object (POST /api/v1/ocr's "options": OptionsIn, the nested shape of OCROptions.to_dict()
// plus dpi, pages and model); appendOptionFields() writes the same options as the flat fields of
// POST /ocr and multipart POST /api/v1/jobs by the HTTP form's one naming rule (crnn_ocr.client.
// form_fields): preprocess.* and decode.* at the top, the decoding method named "decode".

import { $ } from "./dom.js";

/** The preprocessing steps of the form, in the order the server applies them. */
export const PREPROCESS_STEPS = ["grayscale", "clahe", "denoise", "binarize", "morph_close", "deskew"];

/** The options of the document, not of the image: they do not apply to a live stream's frames. */
const DOCUMENT_KEYS = ["dpi", "pages", "model", "fields"];

function elements() {
  return $("options").elements;
}

/** The form as the API's options object. */
export function readOptions() {
  const f = elements();
  const text = (name) => f[name].value.trim() || null;
  const options = {
    detect: f.detect.checked, detector: f.detector.value, auto_orient: f.auto_orient.checked, fields: f.fields.checked,
    preprocess: Object.fromEntries(PREPROCESS_STEPS.map((name) => [name, f[name].checked])),
    decode: {
      method: f.decode.value, allowlist: f.allowlist.value || null, denylist: f.denylist.value || null,
      page_script: f.page_script.checked, lm: f.lm.checked, pattern: text("pattern"),
      min_confidence: Number(f.min_confidence.value || 0),
    },
    pages: text("pages"),
    model: f.model.value || null,
  };
  if (f.decode.value === "beam") options.decode.beam_width = Number(f.beam_width.value || 8);  // greedy has none
  if (f.dpi.value) options.dpi = Number(f.dpi.value);
  return options;
}

/** The options a live stream reads its frames with (WS /api/v1/stream): the form's, less those
 * about documents, fields and models. */
export function streamOptions() {
  const options = readOptions();
  for (const key of DOCUMENT_KEYS) delete options[key];
  return options;
}

/** ``options`` (readOptions()) as the flat form fields, appended to the FormData ``data``; unset
 * options are left out (the server's defaults). */
export function appendOptionFields(data, options) {
  const { preprocess, decode, ...rest } = options;
  const { method, ...decodeRest } = decode;
  const flat = { ...rest, ...preprocess, decode: method, ...decodeRest };
  for (const [name, value] of Object.entries(flat)) {
    if (value === null || value === undefined) continue;
    data.append(name, String(value));
  }
}

/** The user asked to see the preprocessed image. */
export function wantsProcessedImage() {
  return elements().return_processed_image.checked;
}

/** Keep the form consistent as it changes (beam width only for beam search, the confidence floor
 * written out); ``onChange(name)`` for every change of an option. */
export function setupOptionsForm(onChange, onSubmit) {
  const form = $("options");
  const f = form.elements;
  f.beam_width.disabled = f.decode.value !== "beam";  // after a form restore
  const showFloor = () => { $("min-confidence-value").textContent = `${Math.round(f.min_confidence.value * 100)}%`; };
  showFloor();
  f.min_confidence.addEventListener("input", showFloor);
  form.addEventListener("submit", (e) => { e.preventDefault(); onSubmit(); });
  form.addEventListener("change", (e) => {
    if (e.target.name === "decode") f.beam_width.disabled = e.target.value !== "beam";
    onChange(e.target.name);
  });
}
