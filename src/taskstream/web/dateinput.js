// Date and time entry in the user's own format: a date typed as the user writes numeric dates (their
// date_order setting: 31/12/2026, 12/31/2026 or 2026-12-31; ISO 8601 is always understood) with a calendar
// button, and a time in the browser's clock (17:00 or 5:00 PM; either is understood). The browser's own
// date and time inputs follow the operating system's locale instead, whatever the user chose.

import { h, nextId } from "./dom.js";

const PATTERN = { DMY: "DD/MM/YYYY", MDY: "MM/DD/YYYY", YMD: "YYYY-MM-DD" };
const pad = (n) => String(n).padStart(2, "0");

/** "2026-12-31" written in `order`: "31/12/2026", "12/31/2026" or "2026-12-31". */
export function formatDate(iso, order) {
  if (!iso) return "";
  const [y, m, d] = iso.split("-");
  return order === "MDY" ? `${m}/${d}/${y}` : order === "YMD" ? iso : `${d}/${m}/${y}`;
}

/** The ISO date of `text` read in `order` ("" for blank, null when it is no date). */
export function parseDate(text, order) {
  const value = text.trim();
  if (!value) return "";
  let parts = value.match(/^(\d{4})-(\d{1,2})-(\d{1,2})$/)?.slice(1);
  if (!parts) {
    const numbers = value.split(/[/.\-\s]+/).filter(Boolean);
    if (numbers.length !== 3 || !numbers.every((n) => /^\d+$/.test(n))) return null;
    const [a, b, c] = numbers;
    if (a.length === 4 || order === "YMD") parts = [a, b, c];
    else parts = order === "MDY" ? [c, a, b] : [c, b, a];
  }
  let [year, month, day] = parts.map(Number);
  if (year < 100) year += 2000;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return `${year}-${pad(month)}-${pad(day)}`;
}

/** True when the browser's clock is 12-hour (en-US); false for 24-hour (en-GB, de, …). */
export function twelveHour() {
  return new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions().hour12 === true;
}

/** "17:05" in the browser's clock: "17:05" or "5:05 PM". */
export function formatTime(hhmm) {
  if (!hhmm || !twelveHour()) return hhmm || "";
  const [hour, minute] = hhmm.split(":").map(Number);
  return `${hour % 12 || 12}:${pad(minute)} ${hour < 12 ? "AM" : "PM"}`;
}

/** "HH:MM" of "17:05", "5:05 pm", "5pm", "1705" ("" for blank, null when it is no time). */
export function parseTime(text) {
  const value = text.trim().toLowerCase().replace(/\./g, "");
  if (!value) return "";
  const match = value.match(/^(\d{1,2})(?::?(\d{2}))?\s*(am|pm|a|p)?$/);
  if (!match) return null;
  let hour = Number(match[1]);
  const minute = Number(match[2] || 0);
  const half = match[3]?.[0];
  if (half && (hour < 1 || hour > 12)) return null;
  if (half === "p" && hour < 12) hour += 12;
  if (half === "a" && hour === 12) hour = 0;
  if (hour > 23 || minute > 59) return null;
  return `${pad(hour)}:${pad(minute)}`;
}

function calendarIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (const [name, value] of Object.entries({ viewBox: "0 0 24 24", width: "18", height: "18", "aria-hidden": "true" })) {
    svg.setAttribute(name, value);
  }
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M7 2h2v2h6V2h2v2h3a1 1 0 0 1 1 1v15a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1h3V2Zm12 8H5v9h14v-9ZM5 8h14V6H5v2Zm2 4h3v3H7v-3Z");
  svg.append(path);
  return svg;
}

/**
 * A date entry. `order()` gives the user's date order. Returns {el (the controls), input (labelled by the
 * caller), get value() (ISO, "" or null when unreadable), set(iso)}.
 */
export function dateEntry({ order, onChange = () => {} }) {
  const input = h("input", { type: "text", inputmode: "numeric", autocomplete: "off", spellcheck: "false" });
  const picker = h("input", { type: "date", tabindex: "-1", "aria-hidden": "true", class: "picker-proxy" });
  const button = h("button", { type: "button", class: "icon-button calendar", "aria-label": "Pick a date" }, calendarIcon());
  const el = h("span", { class: "date-entry" }, input, button, picker);
  const hint = () => { input.placeholder = PATTERN[order()] || PATTERN.DMY; };
  button.addEventListener("click", () => {
    picker.value = parseDate(input.value, order()) || "";
    try {
      picker.showPicker();
    } catch {
      picker.focus(); // browsers without showPicker()
    }
  });
  picker.addEventListener("change", () => {
    input.value = formatDate(picker.value, order());
    input.focus();
    onChange();
  });
  input.addEventListener("blur", () => { // tidy what was typed into the user's format
    const iso = parseDate(input.value, order());
    if (iso) input.value = formatDate(iso, order());
  });
  input.addEventListener("input", onChange);
  return {
    el,
    input,
    get value() { return parseDate(input.value, order()); },
    set(iso) { hint(); input.value = formatDate(iso, order()); },
  };
}

/** A time entry in the browser's clock: {input, get value() ("HH:MM", "" or null), set("HH:MM")}. */
export function timeEntry({ onChange = () => {} } = {}) {
  const input = h("input", { type: "text", autocomplete: "off", spellcheck: "false", id: nextId("t"),
    placeholder: twelveHour() ? "h:mm AM" : "HH:MM" });
  input.addEventListener("blur", () => {
    const hhmm = parseTime(input.value);
    if (hhmm) input.value = formatTime(hhmm);
  });
  input.addEventListener("input", onChange);
  return {
    input,
    get value() { return parseTime(input.value); },
    set(hhmm) { input.value = formatTime(hhmm); },
  };
}
