// The tabs: a button [data-tab=NAME] in #tabs shows the section [data-tab-panel=NAME] and hides the
// others; another tab joins by adding such a pair, and its view refreshes in onTabShown(NAME, ...).

import { $ } from "../dom.js";

const shownListeners = [];  // [name, render]

export function showTab(name) {
  document.querySelectorAll("#tabs [data-tab]").forEach((b) => {
    b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false");
  });
  document.querySelectorAll("[data-tab-panel]").forEach((panel) => { panel.hidden = panel.dataset.tabPanel !== name; });
  for (const [tab, render] of shownListeners) if (tab === name) render();
}

/** ``render()`` whenever the tab ``name`` is shown. */
export function onTabShown(name, render) {
  shownListeners.push([name, render]);
}

export function setupTabs() {
  $("tabs").addEventListener("click", (e) => {
    const button = e.target.closest("[data-tab]");
    if (button) showTab(button.dataset.tab);
  });
}
