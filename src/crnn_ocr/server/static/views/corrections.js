// The Read tab's "Teach it your documents" box: the opt-in to keeping training data (a checkbox,
// off until chosen), the dataset corrected lines join, what the server keeps, and how the last
// correction went. The choices themselves live in corrections.js.

import {
  datasetName, DEFAULT_DATASET, keepTrainingData, onCorrectionSaved, setDatasetName, setKeepTrainingData,
} from "../corrections.js";
import { $ } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { errorText } from "./error.js";

let last = null;  // the last save's event (corrections.js), to say again in another language

function showStatus() {
  const status = $("correct-status");
  status.classList.toggle("error-text", Boolean(last && last.status === "failed"));
  if (!last) status.textContent = "";
  else if (last.status === "failed") status.textContent = t("save_failed", { reason: errorText(last.error) });
  else status.textContent = t(last.line.crop_kept ? "saved_to_with_image" : "saved_to", { dataset: last.dataset });
}

export function setupCorrections() {
  const keep = $("keep-training-data");
  keep.checked = keepTrainingData();
  keep.addEventListener("change", () => setKeepTrainingData(keep.checked));
  const dataset = $("dataset-name");
  dataset.value = datasetName();
  dataset.placeholder = DEFAULT_DATASET;
  dataset.addEventListener("change", () => {
    if (dataset.checkValidity()) setDatasetName(dataset.value.trim());
    dataset.reportValidity();
  });
  onCorrectionSaved((event) => { last = event; showStatus(); });
  onLanguageChange(showStatus);
}
