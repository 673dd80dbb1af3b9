// Recurrence previews from the server (POST /api/v1/recurrence/preview): a rule in words and its next
// occurrences. The server is the only implementation of RFC 5545 expansion and wording; this module asks,
// debounces, caches words per rule, and formats the answer for display.

import { api } from "./api.js";
import { dateIn, instantAt, rfc3339, shortDate, timeIn, todayIn } from "./time.js";

export const PREVIEW_WAIT_MS = 250;

/**
 * The endpoint's body for a series: the first due as {due_at} (date and "HH:MM" time in `zone`) or
 * {due_date}; without a date, today stands in so the words still come back (`undated` is then true).
 */
export function previewBody({ recurrence, repeatFrom = "due", date, time, dueAt, zone, count = 3 }) {
  const body = { recurrence, repeat_from: repeatFrom, timezone: zone, count };
  if (dueAt) body.due_at = dueAt;
  else if (date && time) body.due_at = rfc3339(instantAt(date, time, zone));
  else body.due_date = date || todayIn(zone);
  return { body, undated: !dueAt && !date };
}

/** The server's words for a rule, with how the next date is counted when that is from completion. */
export function ruleText(text, repeatFrom) {
  return repeatFrom === "completion" ? `${text}, counted from completion` : text;
}

/** Occurrences (RFC 3339 instants or "YYYY-MM-DD") as "Tue 1 Dec" in `zone`, plus ", 09:00" with `withTime`. */
export function occurrenceLabels(occurrences, zone, { withTime = false } = {}) {
  return occurrences.map((value) => {
    if (value.length === 10) return shortDate(value);
    const instant = new Date(value);
    const day = shortDate(dateIn(instant, zone));
    return withTime ? `${day}, ${timeIn(instant, zone)}` : day;
  });
}

/**
 * A debounced preview: `ask(body)` as often as controls change; after `wait` ms of quiet the latest body
 * is sent once and `onDone({result} | {error}, key)` runs for it — answers to older bodies are dropped.
 * `ask` returns false when that body is already the one asked for (nothing new is sent).
 */
export function debouncedPreview(onDone, { wait = PREVIEW_WAIT_MS } = {}) {
  let timer = null;
  let wanted = null; // key of the body asked for last
  return {
    ask(body) {
      const key = JSON.stringify(body);
      if (key === wanted) return false;
      wanted = key;
      clearTimeout(timer);
      timer = setTimeout(async () => {
        let outcome;
        try {
          outcome = { result: await api.previewRecurrence(body) };
        } catch (error) {
          outcome = { error };
        }
        if (wanted === key) onDone(outcome, key);
      }, wait);
      return true;
    },
    cancel() {
      clearTimeout(timer);
      wanted = null;
    },
  };
}

const words = new Map(); // rule → the server's text, once known
const asking = new Map(); // rule → its pending request

/** The server's words for `rule` if already fetched, else undefined. */
export function knownWords(rule) {
  return words.get(rule);
}

/** The server's words for a saved task's rule (cached per rule); resolves to null when it cannot say. */
export function wordsFor(task, zone) {
  const rule = task.recurrence;
  if (words.has(rule)) return Promise.resolve(words.get(rule));
  if (!asking.has(rule)) {
    const tz = task.timezone || zone;
    const { body } = previewBody({ recurrence: rule, dueAt: task.due_at, date: task.due_date, zone: tz, count: 1 });
    asking.set(rule, api.previewRecurrence(body).then(
      (answer) => { words.set(rule, answer.text); return answer.text; },
      () => null,
    ).finally(() => asking.delete(rule)));
  }
  return asking.get(rule);
}
