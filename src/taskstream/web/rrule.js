// RFC 5545 RRULE values for the recurrence editor and previews: parse, build, describe in words,
// and expand the next occurrences on calendar dates (wall-clock time of day stays fixed).
// Covers what the editor builds: FREQ, INTERVAL, BYDAY (with ordinals), BYMONTHDAY, BYMONTH,
// BYSETPOS, COUNT, UNTIL. Anything else is kept as is and described as a custom rule.

import { addDays, shortDate } from "./time.js";

export const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTH_NAMES = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
const UNIT = { DAILY: "day", WEEKLY: "week", MONTHLY: "month", YEARLY: "year" };
const KNOWN = new Set(["FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "COUNT", "UNTIL", "WKST"]);
export const ORDINALS = { 1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", "-1": "last" };

/** "FREQ=WEEKLY;BYDAY=MO,WE" → {freq, interval, byday:[{n, day}], bymonthday:[], bymonth:[], setpos, count, until, custom}. */
export function parseRule(text) {
  const rule = { freq: null, interval: 1, byday: [], bymonthday: [], bymonth: [], setpos: null, count: null, until: null, custom: false };
  const value = (text || "").trim().replace(/^RRULE:/i, "");
  if (!value) return null;
  for (const piece of value.split(";")) {
    const [rawKey, raw = ""] = piece.split("=");
    const key = rawKey.trim().toUpperCase();
    if (!KNOWN.has(key)) rule.custom = true;
    if (key === "FREQ") rule.freq = raw.toUpperCase();
    else if (key === "INTERVAL") rule.interval = Math.max(1, parseInt(raw, 10) || 1);
    else if (key === "COUNT") rule.count = parseInt(raw, 10) || null;
    else if (key === "UNTIL") rule.until = raw.slice(0, 8).replace(/(\d{4})(\d{2})(\d{2})/, "$1-$2-$3");
    else if (key === "BYMONTHDAY") rule.bymonthday = raw.split(",").map(Number);
    else if (key === "BYMONTH") rule.bymonth = raw.split(",").map(Number);
    else if (key === "BYSETPOS") rule.setpos = Number(raw);
    else if (key === "BYDAY") {
      rule.byday = raw.toUpperCase().split(",").map((item) => {
        const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(item.trim());
        if (!m) rule.custom = true;
        return m ? { n: m[1] ? Number(m[1]) : null, day: m[2] } : { n: null, day: "MO" };
      });
    }
  }
  if (!UNIT[rule.freq]) rule.custom = true;
  return rule;
}

/** The RRULE value of a rule object (inverse of parseRule). */
export function buildRule(rule) {
  const parts = [`FREQ=${rule.freq}`];
  if (rule.interval > 1) parts.push(`INTERVAL=${rule.interval}`);
  if (rule.bymonth.length) parts.push(`BYMONTH=${rule.bymonth.join(",")}`);
  if (rule.bymonthday.length) parts.push(`BYMONTHDAY=${rule.bymonthday.join(",")}`);
  if (rule.byday.length) parts.push(`BYDAY=${rule.byday.map((d) => `${d.n ?? ""}${d.day}`).join(",")}`);
  if (rule.setpos) parts.push(`BYSETPOS=${rule.setpos}`);
  if (rule.count) parts.push(`COUNT=${rule.count}`);
  else if (rule.until) parts.push(`UNTIL=${rule.until.replaceAll("-", "")}`);
  return parts.join(";");
}

export function ordinalNumber(n) {
  const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${tail}`;
}

function listWords(words) {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

function dayWords(byday, setpos) {
  const plain = byday.map((d) => d.day).join(",");
  if (plain === "MO,TU,WE,TH,FR" && byday.every((d) => d.n === null) && !setpos) return "weekday";
  const names = byday.map((d) => {
    const n = d.n ?? setpos;
    const name = DAY_NAMES[WEEKDAYS.indexOf(d.day)];
    return n ? `the ${ORDINALS[n] || ordinalNumber(n)} ${name}` : name;
  });
  return listWords(names);
}

/** English words for a rule: "every 2 weeks on Monday and Wednesday, 5 times". */
export function describeRule(text, repeatFrom = "due") {
  const rule = typeof text === "string" ? parseRule(text) : text;
  if (!rule) return "Does not repeat";
  if (rule.custom) return `Custom rule (${typeof text === "string" ? text : buildRule(rule)})`;
  const unit = UNIT[rule.freq];
  let words = rule.interval === 1 ? `every ${unit}` : `every ${rule.interval} ${unit}s`;
  if (rule.freq === "WEEKLY" && dayWords(rule.byday) === "weekday" && rule.interval === 1) {
    words = "every weekday";
  } else if (rule.byday.length && rule.freq !== "DAILY") {
    words += ` on ${dayWords(rule.byday, rule.setpos)}`;
  }
  if (rule.bymonthday.length) {
    const days = rule.bymonthday.map((d) => (d === -1 ? "the last day" : `the ${ordinalNumber(d)}`));
    words += ` on ${listWords(days)}`;
  }
  if (rule.bymonth.length) words += ` in ${listWords(rule.bymonth.map((m) => MONTH_NAMES[m - 1]))}`;
  if (rule.count) words += `, ${rule.count} time${rule.count === 1 ? "" : "s"}`;
  else if (rule.until) words += `, until ${shortDate(rule.until)} ${rule.until.slice(0, 4)}`;
  if (repeatFrom === "completion") words += ", counted from completion";
  return words[0].toUpperCase() + words.slice(1);
}

function weekdayIndex(date) {
  return (new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0
}

function monthLength(year, month) {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const pad = (n) => String(n).padStart(2, "0");
const ymd = (y, m, d) => `${y}-${pad(m)}-${pad(d)}`;

function monthCandidates(rule, year, month, startDay) {
  const length = monthLength(year, month);
  if (rule.bymonthday.length) {
    return rule.bymonthday
      .map((d) => (d < 0 ? length + 1 + d : d))
      .filter((d) => d >= 1 && d <= length)
      .map((d) => ymd(year, month, d));
  }
  if (rule.byday.length) {
    let found = [];
    for (const { n, day } of rule.byday) {
      const all = [];
      for (let d = 1; d <= length; d += 1) {
        if (WEEKDAYS[weekdayIndex(ymd(year, month, d))] === day) all.push(ymd(year, month, d));
      }
      if (n === null) found.push(...all);
      else if (all.at(n > 0 ? n - 1 : n)) found.push(all.at(n > 0 ? n - 1 : n));
    }
    found = [...new Set(found)].sort();
    if (rule.setpos) found = [found.at(rule.setpos > 0 ? rule.setpos - 1 : rule.setpos)].filter(Boolean);
    return found;
  }
  return [ymd(year, month, Math.min(startDay, length))]; // plain rule: the anchor's day, clamped
}

function periodCandidates(rule, start, index) {
  const [sy, sm, sd] = start.split("-").map(Number);
  const step = index * rule.interval;
  if (rule.freq === "DAILY") return [addDays(start, step)];
  if (rule.freq === "WEEKLY") {
    const monday = addDays(start, step * 7 - weekdayIndex(start));
    const days = rule.byday.length ? rule.byday.map((d) => WEEKDAYS.indexOf(d.day)) : [weekdayIndex(start)];
    return [...new Set(days)].sort().map((i) => addDays(monday, i));
  }
  if (rule.freq === "MONTHLY") {
    const serial = sy * 12 + (sm - 1) + step;
    const year = Math.floor(serial / 12);
    const month = (serial % 12) + 1;
    if (rule.bymonth.length && !rule.bymonth.includes(month)) return [];
    return monthCandidates(rule, year, month, sd);
  }
  const year = sy + step;
  const months = rule.bymonth.length ? rule.bymonth : [sm];
  return months.flatMap((m) => (rule.bymonthday.length || rule.byday.length
    ? monthCandidates(rule, year, m, sd)
    : [ymd(year, m, Math.min(sd, monthLength(year, m)))]));
}

/** The first `count` occurrence dates ("YYYY-MM-DD") of `text` on or after `start`, honouring COUNT and UNTIL. */
export function nextDates(text, start, count = 3) {
  const rule = typeof text === "string" ? parseRule(text) : text;
  if (!rule || rule.custom || !start) return [];
  const out = [];
  let produced = 0;
  for (let index = 0; index < 2000 && out.length < count; index += 1) {
    for (const date of periodCandidates(rule, start, index)) {
      if (date < start) continue;
      if (rule.until && date > rule.until) return out;
      produced += 1;
      if (rule.count && produced > rule.count) return out;
      out.push(date);
      if (out.length >= count) return out;
    }
  }
  return out;
}
