// The model: its state in the top bar (#model-status, from /readyz, asked again every 2 s while it
// loads) and the model menu of the options (#model-select, GET /api/v1/models).

import { listModels, readiness } from "../api.js";
import { $ } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";

let ready = null;  // the last answer of /readyz
let models = [];   // GET /api/v1/models

async function pollReadiness() {
  ready = await readiness();
  showModelStatus();
  if (ready && ready.ready && !models.length) loadModels();
  if (!ready || ready.status === "loading" || ready.status === "starting") setTimeout(pollReadiness, 2000);
}

function showModelStatus() {
  const badge = $("model-status");
  if (ready && ready.ready && ready.model) {
    badge.dataset.state = "ready";
    badge.textContent = t("model_ready", ready.model);
    badge.title = "";
  } else if (ready && ready.status === "failed") {
    badge.dataset.state = "failed";
    badge.textContent = t("model_failed");
    badge.title = ready.error || "";
  } else {
    badge.dataset.state = "loading";
    badge.textContent = t("model_loading");
  }
}

async function loadModels() {
  try {
    models = await listModels();
  } catch (_) {
    models = [];  // the menu keeps "the server's default"
  }
  showModelChoices();
}

function showModelChoices() {
  const select = $("model-select");
  if (!models.length) return;
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

export function setupModels() {
  onLanguageChange(() => { showModelChoices(); showModelStatus(); });
  showModelStatus();
  pollReadiness();
  loadModels();
}
