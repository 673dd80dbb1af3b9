// RFC 5545 RRULE values as the recurrence editor's controls see them: parse a rule into its parts and
// build one back. Covers what the editor builds (FREQ, INTERVAL, BYDAY with ordinals, BYMONTHDAY,
// BYMONTH, BYSETPOS, COUNT, UNTIL); anything else marks the rule custom. Words and occurrences come from
// the server (see recurrence-preview.js), never from here.

export const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const FREQS = new Set(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
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
  if (!FREQS.has(rule.freq)) rule.custom = true;
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
