// CRNN-OCR web page, the one module index.html loads: it sets up each view and wires the top bar.
// The page is plain JavaScript modules, no dependencies; every asset is served by the app itself.
//   i18n.js      every string (English, Chinese), t(), the page's language
//   dom.js       small DOM helpers          overlay.js   line boxes over an image
//   apikey.js    the API key (asked once)   api.js       every call to the HTTP API, its errors
//   options.js   the options form → the API's options and the HTTP form's fields
//   state.js     what the Read tab shows    request.js   the image + options as request bodies
//   corrections.js  the corrections of the result shown, saved as labelled lines; the opt-in
//   views/       one file per view: tabs, error, models, viewer, result, downloads, read (input
//                and reading), edit (correct lines in place), draw (a box the detector missed),
//                corrections (the opt-in box), datasets, history, batch, live

import { forgetKey, showForgetKey } from "./apikey.js";
import { $ } from "./dom.js";
import { language, onLanguageChange, setLanguage, translatePage } from "./i18n.js";
import { setupBatch } from "./views/batch.js";
import { setupCorrections } from "./views/corrections.js";
import { setupDatasets } from "./views/datasets.js";
import { setupDownloads } from "./views/downloads.js";
import { setupDraw } from "./views/draw.js";
import { setupEdit } from "./views/edit.js";
import { setupError } from "./views/error.js";
import { setupHistory } from "./views/history.js";
import { setupLive } from "./views/live.js";
import { setupModels } from "./views/models.js";
import { setupRead } from "./views/read.js";
import { setupResult } from "./views/result.js";
import { setupTabs } from "./views/tabs.js";
import { setupViewer } from "./views/viewer.js";

function showLanguageToggle() {
  $("lang-toggle").textContent = language() === "zh" ? "English" : "中文";
}

translatePage();
showLanguageToggle();
onLanguageChange(showLanguageToggle);
$("lang-toggle").addEventListener("click", () => setLanguage(language() === "zh" ? "en" : "zh"));
$("forget-key").addEventListener("click", forgetKey);
showForgetKey();
setupTabs();
setupModels();
setupViewer();
setupResult();
setupEdit();
setupDraw();
setupCorrections();
setupError();
setupDownloads();
setupRead();
setupHistory();
setupBatch();
setupLive();
setupDatasets();
