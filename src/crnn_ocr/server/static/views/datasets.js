// The Datasets tab: the user's datasets of corrected lines (GET /api/v1/datasets), each with its
// counts (lines, held out for evaluation, with their line image), exported as a zip of PaddleOCR
// labels or deleted (after a confirmation). Refreshed when shown and after every correction.

import { deleteDataset, exportDataset, listDatasets } from "../api.js";
import { onCorrectionSaved } from "../corrections.js";
import { $, el, saveFile } from "../dom.js";
import { locale, onLanguageChange, t } from "../i18n.js";
import { errorText } from "./error.js";
import { onTabShown } from "./tabs.js";

const datasets = { seq: 0 };  // only the latest answer is shown

/** List the user's datasets again. */
export async function loadDatasets() {
  const seq = ++datasets.seq;
  let list;
  try {
    list = await listDatasets();
  } catch (e) {
    if (seq === datasets.seq) $("datasets-status").textContent = errorText(e);
    return;
  }
  if (seq !== datasets.seq) return;
  $("dataset-list").replaceChildren(...list.map(datasetItem));
  $("datasets-none").hidden = list.length > 0;
}

function datasetItem(dataset) {
  const li = el("li");
  li.dataset.name = dataset.name;
  li.title = dataset.owner;
  const when = new Date(dataset.updated_at * 1000).toLocaleString(locale());
  const body = el("div", "entry-body");
  body.append(el("span", "name", dataset.name), el("span", "meta", t("dataset_counts", {
    lines: dataset.lines, heldout: dataset.heldout, crops: dataset.crops, pages: dataset.pages, when,
  })));
  const exportButton = el("button", "export", t("dataset_export"));
  exportButton.type = "button";
  exportButton.addEventListener("click", () => exportOne(dataset));
  const remove = el("button", "delete", t("delete"));
  remove.type = "button";
  remove.addEventListener("click", () => deleteOne(dataset));
  li.append(body, exportButton, remove);
  return li;
}

async function exportOne(dataset) {
  const name = `${dataset.name}.zip`;
  try {
    saveFile(await exportDataset(dataset.name, dataset.owner), name);
    $("datasets-status").textContent = t("downloaded", { name });
  } catch (e) {
    $("datasets-status").textContent = errorText(e);
  }
}

async function deleteOne(dataset) {
  if (!window.confirm(t("dataset_delete_confirm", { name: dataset.name, lines: dataset.lines }))) return;
  try {
    await deleteDataset(dataset.name, dataset.owner);
    $("datasets-status").textContent = t("dataset_deleted", { name: dataset.name });
  } catch (e) {
    $("datasets-status").textContent = errorText(e);
    return;
  }
  loadDatasets();
}

export function setupDatasets() {
  $("datasets-refresh").addEventListener("click", loadDatasets);
  onTabShown("datasets", loadDatasets);
  onCorrectionSaved((event) => { if (event.status === "saved") loadDatasets(); });
  onLanguageChange(loadDatasets);
}
