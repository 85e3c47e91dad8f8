// The Read tab's error box (#error): a translated title for the error's code, the server's own
// words folded away under "Details". errorText() is the same title as a line of text.

import { $ } from "../dom.js";
import { hasText, onLanguageChange, t } from "../i18n.js";

let shown = null;  // {code, detail} of the error shown

/** The page's words for ``error`` ({code, message}): its translation, else the server's message. */
export function errorText(error) {
  if (!error) return t("err_unknown");
  const key = `err_${error.code}`;
  return hasText(key) ? t(key) : error.message || t("err_unknown");
}

export function showError(code, detail) {
  shown = { code, detail };
  const key = `err_${code}`;
  $("error-title").textContent = hasText(key) ? t(key) : t("err_unknown");
  $("error-detail").textContent = detail || "";
  $("error").hidden = false;
}

export function hideError() {
  shown = null;
  $("error").hidden = true;
}

export function setupError() {
  onLanguageChange(() => { if (shown) showError(shown.code, shown.detail); });
}
