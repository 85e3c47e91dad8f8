// The History tab: past results (GET /api/v1/history), searched (any case, Chinese too) and paged,
// refreshed after every read; each entry collapsed to one line, reopened in the Read tab with its
// boxes (over its image while this browser has it).

import { historyResult, searchHistory } from "../api.js";
import { $, el } from "../dom.js";
import { locale, onLanguageChange, t } from "../i18n.js";
import { state } from "../state.js";
import { errorText } from "./error.js";
import { onRead, openResult } from "./read.js";
import { onTabShown } from "./tabs.js";

const PAGE_SIZE = 10;
const history = { seq: 0, page: 1 };  // only the latest answer is shown

/** Show page ``page`` of the entries that match the search. */
export async function loadHistory(page = history.page) {
  const seq = ++history.seq;
  const q = $("history-search").elements.q.value.trim();
  let body;
  try {
    body = await searchHistory(q, page, PAGE_SIZE);
  } catch (e) {
    if (seq === history.seq) $("history-total").textContent = errorText(e);
    return;
  }
  if (seq !== history.seq) return;
  history.page = page;
  $("history-list").replaceChildren(...body.entries.map(entryItem));
  const pages = Math.max(1, Math.ceil(body.total / PAGE_SIZE));
  $("history-total").textContent = body.total ? t("history_total", { total: body.total }) : t("history_none");
  $("history-page").textContent = body.total ? t("history_page", { page, pages }) : "";
  $("history-prev").disabled = page <= 1;
  $("history-next").disabled = page >= pages;
}

function entryItem(entry) {
  const li = el("li");
  li.dataset.id = String(entry.id);
  const when = new Date(entry.created_at * 1000).toLocaleString(locale());
  const meta = el("span", "meta", [when, t(`src_${entry.source}`), entry.name, entry.model, entry.cached ? t("cached") : "",
    `${Math.round(entry.total_ms)} ms`].filter(Boolean).join(" · "));
  const text = el("span", "htext snippet", entry.text.replace(/\f/g, "\n"));  // one line; the whole text in the viewer
  text.title = entry.text.replace(/\f/g, "\n\n").slice(0, 2000);
  const body = el("div", "entry-body");
  body.append(meta, text);
  const open = el("button", "open", t("open"));
  open.type = "button";
  open.addEventListener("click", () => reopen(entry));
  li.append(body, open);
  return li;
}

async function reopen(entry) {
  try {
    openResult(await historyResult(entry.id), entry.name, state.images[entry.sha256] || null);
  } catch (e) {
    $("history-total").textContent = errorText(e);
  }
}

export function setupHistory() {
  $("history-search").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(1); });
  $("history-prev").addEventListener("click", () => loadHistory(history.page - 1));
  $("history-next").addEventListener("click", () => loadHistory(history.page + 1));
  onRead(() => loadHistory(1));  // live: after every read
  onTabShown("history", () => loadHistory());
  onLanguageChange(() => loadHistory());
  loadHistory(1);
}
