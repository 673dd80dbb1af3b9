// Quick add: one line of natural language, a live preview of what /api/v1/parse understood
// (due, priority, tags, reminders; the recurrence in words and its next three dates from the server's
// recurrence preview), Enter to add.

import { api, ApiError } from "./api.js";
import { h } from "./dom.js";
import { debouncedPreview, occurrenceLabels, previewBody, ruleText } from "./recurrence-preview.js";
import { DATE_ORDER_WORDS, dueInfo, dateIn, shortDate, durationWords, timeIn } from "./time.js";

const WAIT_MS = 180;
// A numeric date as the server reads one ("10/12", "10/12/26", "2026/12/10", "24.12."), in the user's order.
const NUMERIC_DATE = /(?<![\w/.])(\d{1,4}\/\d{1,2}(?:\/\d{2,4})?|\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})?)(?![\w/]|\.\d)/;

/** "Thu 10 Dec, 14:00", and how a numeric date of the text was read: "(“10/12” read day first (31/12))". */
function dueWords(due, text, unparsed, order) {
  const numeric = text.match(NUMERIC_DATE)?.[1];
  if (!numeric || unparsed.includes(numeric) || numeric.length === 10) return due.label;
  return `${due.label} (“${numeric}” read ${DATE_ORDER_WORDS[order] || DATE_ORDER_WORDS.DMY})`;
}

/** The POST /tasks body of what /parse understood in `text`, in zone `tz`. */
export function taskBody(result, text, tz) {
  const out = {
    title: result.title || text.trim(), priority: result.priority || "none", tags: result.tags || [],
    reminders: result.reminders || [], timezone: tz,
  };
  if (result.due_at) out.due_at = result.due_at;
  else if (result.due_date) out.due_date = result.due_date;
  if (result.recurrence) Object.assign(out, { recurrence: result.recurrence, repeat_from: result.repeat_from || "due" });
  return out;
}

/** Wire the quick-add form. ctx = {zone(), dateOrder(), created(task), openForm(draft)}. */
export function quickAdd(ctx) {
  const form = document.getElementById("quick-add");
  const input = document.getElementById("quick-input");
  const preview = document.getElementById("quick-preview");
  const more = document.getElementById("quick-more");
  let timer = null;
  let latest = { text: "", result: null, pending: null };
  let parserMissing = false;
  let repeats = null; // the recurrence preview last answered: {key, result} or {key, error}
  // The parse is already debounced, so the preview that follows it is sent without a further wait.
  const recurrencePreview = debouncedPreview((outcome, key) => {
    repeats = { ...outcome, key };
    if (latest.result) render(latest.result);
  }, { wait: 0 });

  function fallback(text) {
    return { title: text.trim(), due_at: null, due_date: null, recurrence: null, repeat_from: "due", priority: "none", tags: [], reminders: [], unparsed: [] };
  }

  async function parse(text) {
    if (parserMissing) return fallback(text);
    try {
      return await api.parse(text);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status >= 500)) {
        parserMissing = true;
        return fallback(text);
      }
      if (err instanceof ApiError && err.status === 422) return { ...fallback(text), error: err.message };
      throw err;
    }
  }

  function item(label, value, key) {
    return h("div", { class: "pv", dataset: { key } }, h("dt", {}, label), h("dd", {}, value));
  }

  /** Rows for the rule in words and its next dates once the server previewed them; asks for it otherwise. */
  function repeatRows(result, tz) {
    const { body, undated } = previewBody({
      recurrence: result.recurrence, repeatFrom: result.repeat_from, dueAt: result.due_at, date: result.due_date, zone: tz,
    });
    const key = JSON.stringify(body);
    if (repeats?.key !== key) {
      recurrencePreview.ask(body);
      preview.setAttribute("aria-busy", "true");
      return [item("Repeats", "…", "repeats")];
    }
    if (repeats.error) return [item("Problem", repeats.error.message, "repeats-error")];
    const rows = [item("Repeats", ruleText(repeats.result.text, result.repeat_from), "repeats")];
    if (!undated) {
      const labels = occurrenceLabels(repeats.result.occurrences, tz, { withTime: Boolean(result.due_at) });
      rows.push(item("Next", labels.join(" · "), "next"));
    }
    return rows;
  }

  function render(result) {
    if (!result) {
      preview.removeAttribute("aria-busy");
      preview.replaceChildren();
      preview.hidden = true;
      return;
    }
    const tz = ctx.zone();
    preview.removeAttribute("aria-busy");
    const rows = [item("Title", result.title || "(no title yet)", "title")];
    const due = dueInfo(result, tz);
    if (due) rows.push(item("Due", dueWords(due, latest.text, result.unparsed || [], ctx.dateOrder()), "due"));
    if (result.recurrence) rows.push(...repeatRows(result, tz));
    if (result.priority && result.priority !== "none") {
      rows.push(item("Priority", result.priority[0].toUpperCase() + result.priority.slice(1), "priority"));
    }
    if (result.tags?.length) rows.push(item("Tags", result.tags.map((t) => `#${t}`).join(" "), "tags"));
    if (result.reminders?.length) {
      const words = result.reminders.map((r) => (r.before ? durationWords(r.before) : `at ${shortDate(dateIn(new Date(r.at), tz))} ${timeIn(new Date(r.at), tz)}`));
      rows.push(item("Reminders", words.join(", "), "reminders"));
    }
    if (result.unparsed?.length) rows.push(item("Not understood", result.unparsed.join(", "), "unparsed"));
    if (result.error) rows.push(item("Problem", result.error, "error"));
    if (parserMissing) rows.push(item("Note", "Natural-language dates are unavailable; the text is added as the title.", "note"));
    preview.replaceChildren(h("dl", {}, ...rows));
    preview.hidden = false;
  }

  function schedule() {
    clearTimeout(timer);
    const text = input.value;
    if (!text.trim()) {
      latest = { text: "", result: null, pending: null };
      render(null);
      return;
    }
    timer = setTimeout(() => {
      const pending = parse(text);
      latest = { text, result: latest.result, pending };
      pending.then((result) => {
        if (latest.text === text) {
          latest.result = result;
          render(result);
        }
      }).catch(() => {});
    }, WAIT_MS);
  }

  async function understood() {
    const text = input.value;
    if (latest.text === text && latest.pending) return latest.pending;
    clearTimeout(timer);
    return parse(text);
  }

  const body = (result) => taskBody(result, input.value, ctx.zone());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      const result = await understood();
      if (result.error) {
        render(result);
        return;
      }
      const task = await api.createTask(body(result));
      input.value = "";
      render(null);
      latest = { text: "", result: null, pending: null };
      ctx.created(task);
    } catch (err) {
      render({ ...fallback(input.value), error: err.message });
    }
  });
  more.addEventListener("click", async () => {
    const draft = input.value.trim() ? body(await understood().catch(() => fallback(input.value))) : {};
    input.value = "";
    render(null);
    ctx.openForm(draft);
  });
  input.addEventListener("input", schedule);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      input.value = "";
      render(null);
      input.blur();
    }
  });
}
