// A task's history in words: for an edit, each field that changed with its old and new value
// ("Due: Thu 3 Dec 09:00 → Fri 4 Dec 17:00", "Priority: None → High", "Tags: added #home").

import { knownWords } from "./recurrence-preview.js";
import { dateIn, relativeDay, timeIn } from "./time.js";

const LABELS = {
  title: "Title", description: "Description", priority: "Priority", timezone: "Time zone", tags: "Tags",
  recurrence: "Repeats", repeat_from: "Repeats from", reminders: "Reminders", estimate_minutes: "Estimate",
  keep_missed: "Missed occurrences",
};
const HIDDEN = new Set(["version", "updated_at", "due_sort", "series_anchor", "occurrence_key"]);
const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

function dueWords(due, tz, today) {
  if (!due) return "none";
  if (due.length === 10) return relativeDay(due, today);
  const instant = new Date(due);
  return `${relativeDay(dateIn(instant, tz), today)} ${timeIn(instant, tz)}`;
}

function minutesWords(minutes) {
  if (!minutes) return "none";
  const hours = Math.floor(minutes / 60);
  return [hours ? `${hours} h` : "", minutes % 60 ? `${minutes % 60} min` : ""].filter(Boolean).join(" ");
}

function valueWords(field, value) {
  if (value === null || value === undefined || value === "") return "none";
  if (field === "priority") return capital(String(value));
  if (field === "title") return `“${value}”`;
  if (field === "recurrence") return knownWords(value) || value;
  if (field === "repeat_from") return value === "completion" ? "completion" : "due date";
  if (field === "estimate_minutes") return minutesWords(value);
  if (field === "keep_missed") return value ? "kept" : "skipped";
  return String(value);
}

function tagWords({ old: before = [], new: after = [] }) {
  const added = after.filter((t) => !before.includes(t)).map((t) => `#${t}`);
  const removed = before.filter((t) => !after.includes(t)).map((t) => `#${t}`);
  return [added.length ? `added ${added.join(", ")}` : "", removed.length ? `removed ${removed.join(", ")}` : ""]
    .filter(Boolean).join("; ");
}

/** One line per changed field of an "updated" entry's `changes` ({field: {old, new}}), in the user's zone. */
export function changeLines(changes, tz, today) {
  const lines = [];
  if (changes.due_at || changes.due_date) {
    const before = changes.due_at?.old ?? changes.due_date?.old ?? null; // timed ↔ all-day: one of them is null
    const after = changes.due_at?.new ?? changes.due_date?.new ?? null;
    lines.push(`Due: ${dueWords(before, tz, today)} → ${dueWords(after, tz, today)}`);
  }
  for (const [field, change] of Object.entries(changes)) {
    if (HIDDEN.has(field) || field === "due_at" || field === "due_date" || !change || typeof change !== "object") continue;
    const label = LABELS[field] || capital(field.replaceAll("_", " "));
    if (field === "tags") lines.push(`Tags: ${tagWords(change)}`);
    else if (field === "description" || field === "reminders") lines.push(`${label} changed`);
    else lines.push(`${label}: ${valueWords(field, change.old)} → ${valueWords(field, change.new)}`);
  }
  return lines;
}
