// The API key of a server with keys: asked for once (#key-dialog) when the API answers 401, kept
// in localStorage, forgotten on request (#forget-key).

import { $ } from "./dom.js";
import { t } from "./i18n.js";

const KEY_STORAGE = "crnn-ocr-api-key";
let prompt = null;  // the open dialog's promise, shared by requests refused at the same time

/** The key kept, or "". */
export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function forgetKey() {
  localStorage.removeItem(KEY_STORAGE);
  showForgetKey();
}

/** "Forget API key" is shown while a key is kept. */
export function showForgetKey() {
  $("forget-key").hidden = !apiKey();
}

/** Ask for a key (``reason``: the string saying why); true once one is given and kept. */
export function askForKey(reason) {
  if (prompt) return prompt;
  const dialog = $("key-dialog");
  $("key-reason").textContent = t(reason);
  const input = dialog.querySelector("input[name=key]");
  input.value = "";
  prompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) localStorage.setItem(KEY_STORAGE, key);
      showForgetKey();
      prompt = null;
      resolve(Boolean(key));
    }, { once: true });
  });
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return prompt;
}

/** Ask for a key after the server refused ``refused`` (the key sent, "" for none). */
export function askAgain(refused) {
  return askForKey(refused ? "key_invalid" : "key_needed");
}
