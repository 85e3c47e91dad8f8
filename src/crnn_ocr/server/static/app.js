// CRNN-OCR web page, the one module index.html loads: it sets up each view and wires the top bar.
// The page is plain JavaScript modules, no dependencies; every asset is served by the app itself.
//   i18n.js      every string (English, Chinese), t(), the page's language
//   dom.js       small DOM helpers          overlay.js   line boxes over an image
//   apikey.js    the API key (asked once)   api.js       every call to the HTTP API, its errors
//   options.js   the options form → the API's options and the HTTP form's fields
//   state.js     what the Read tab shows    request.js   the image + options as request bodies
//   views/       one file per view: tabs, error, models, viewer, result, downloads, read (input
//                and reading), history, batch, live

import { forgetKey, showForgetKey } from "./apikey.js";
import { $ } from "./dom.js";
import { language, onLanguageChange, setLanguage, translatePage } from "./i18n.js";
import { setupBatch } from "./views/batch.js";
import { setupDownloads } from "./views/downloads.js";
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
setupError();
setupDownloads();
setupRead();
setupHistory();
setupBatch();
setupLive();
