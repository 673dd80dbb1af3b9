// Time-zone arithmetic with Intl only: instants are UTC on the wire, shown in an IANA zone;
// all-day dates ("YYYY-MM-DD") are calendar dates and never shift.

const partFormats = new Map();

function partsFormat(tz) {
  if (!partFormats.has(tz)) {
    partFormats.set(
      tz,
      new Intl.DateTimeFormat("en-US", {
        timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      }),
    );
  }
  return partFormats.get(tz);
}

/** Wall-clock fields {year, month, day, hour, minute, second} of an instant in zone `tz`. */
export function wallClock(instant, tz) {
  const out = {};
  for (const part of partsFormat(tz).formatToParts(instant)) {
    if (part.type !== "literal") out[part.type] = Number(part.value);
  }
  return out;
}

function offsetMs(instant, tz) {
  const w = wallClock(instant, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(instant.getTime() / 1000) * 1000;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** The instant at wall-clock `date` ("YYYY-MM-DD") and `time` ("HH:MM[:SS]") in zone `tz`. */
export function instantAt(date, time, tz) {
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi, s = 0] = time.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  const first = offsetMs(new Date(guess), tz);
  let result = guess - first;
  const second = offsetMs(new Date(result), tz);
  if (second !== first) result = guess - second;
  return new Date(result);
}

/** RFC 3339 in UTC without milliseconds, e.g. "2030-01-02T08:00:00Z". */
export function rfc3339(instant) {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "YYYY-MM-DD" of an instant in zone `tz`. */
export function dateIn(instant, tz) {
  const w = wallClock(instant, tz);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

/** "HH:MM" (or "HH:MM:SS" with seconds=true) of an instant in zone `tz`. */
export function timeIn(instant, tz, seconds = false) {
  const w = wallClock(instant, tz);
  return `${pad(w.hour)}:${pad(w.minute)}${seconds ? `:${pad(w.second)}` : ""}`;
}

export function todayIn(tz, now = new Date()) {
  return dateIn(now, tz);
}

/** Calendar arithmetic on "YYYY-MM-DD" strings. */
export function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

export function daysBetween(from, to) {
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  return Math.round((b - a) / 86400000);
}

// Fixed English names (not Intl) so labels read the same in every browser and locale data version.
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

function calendar(date) {
  const t = new Date(`${date}T00:00:00Z`);
  return { weekday: DAYS[t.getUTCDay()], day: t.getUTCDate(), month: MONTHS[t.getUTCMonth()] };
}

/** "Tue 1 Dec" for a calendar date. */
export function shortDate(date) {
  const c = calendar(date);
  return `${c.weekday.slice(0, 3)} ${c.day} ${c.month.slice(0, 3)}`;
}

/** "Tuesday 1 December" for a calendar date. */
export function longDate(date) {
  const c = calendar(date);
  return `${c.weekday} ${c.day} ${c.month}`;
}

/** A calendar date in words relative to `today`: "Today", "Tomorrow", "Yesterday" or "Tue 1 Dec". */
export function relativeDay(date, today) {
  const diff = daysBetween(today, date);
  if (diff === 0) return "Today";
  if (diff === 1) return "Tomorrow";
  if (diff === -1) return "Yesterday";
  const label = shortDate(date);
  return date.slice(0, 4) === today.slice(0, 4) ? label : `${label} ${date.slice(0, 4)}`;
}

/**
 * Where a task's due falls for the user in zone `tz`:
 * {date, time|null, label, overdue, today} — or null when the task has no due.
 */
export function dueInfo(task, tz, now = new Date()) {
  const today = todayIn(tz, now);
  if (task.due_at) {
    const instant = new Date(task.due_at);
    const date = dateIn(instant, tz);
    const time = timeIn(instant, tz);
    return {
      date, time, label: `${relativeDay(date, today)}, ${time}`,
      overdue: !task.completed && instant < now, today: date === today,
    };
  }
  if (task.due_date) {
    const date = task.due_date;
    return {
      date, time: null, label: relativeDay(date, today),
      overdue: !task.completed && date < today, today: date === today,
    };
  }
  return null;
}

/** Old IANA names some ICU builds still list → the current names (the API accepts both). */
const RENAMED_ZONES = {
  "Asia/Calcutta": "Asia/Kolkata",
  "Europe/Kiev": "Europe/Kyiv",
  "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon",
  "Atlantic/Faeroe": "Atlantic/Faroe",
  "America/Godthab": "America/Nuuk",
  "Pacific/Enderbury": "Pacific/Kanton",
  "Europe/Uzhgorod": "Europe/Kyiv",
  "Europe/Zaporozhye": "Europe/Kyiv",
};

/** A zone's current IANA name ("Asia/Calcutta" → "Asia/Kolkata"); other names unchanged. */
export function currentZoneName(name) {
  return RENAMED_ZONES[name] || name;
}

/** The zones the browser knows, under their current names and sorted, with `first` listed even if missing. */
export function knownZones(first) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = ["UTC"];
  }
  zones = [...new Set(zones.map(currentZoneName))].sort();
  if (!zones.includes("UTC")) zones = ["UTC", ...zones];
  if (first && !zones.includes(first)) zones = [first, ...zones];
  return zones;
}

/** How the browser's locale writes numeric dates: "DMY" (en-GB, de), "MDY" (en-US) or "YMD" (ja, sv). */
export function browserDateOrder() {
  const parts = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "numeric", year: "numeric" })
    .formatToParts(new Date(2001, 10, 22))
    .map((part) => part.type[0].toUpperCase())
    .filter((letter) => "DMY".includes(letter))
    .join("");
  return ["DMY", "MDY", "YMD"].includes(parts) ? parts : "DMY";
}

export const DATE_ORDER_WORDS = { DMY: "day first (31/12)", MDY: "month first (12/31)", YMD: "year first (2026/12/31)" };

export function browserZone() {
  return currentZoneName(Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
}

/** ISO 8601 duration ("PT10M", "P1D", "PT1H30M") → {amount, unit} in the largest whole unit. */
export function splitDuration(text) {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text || "");
  if (!m) return { amount: 0, unit: "minute" };
  const days = +(m[1] || 0) * 7 + +(m[2] || 0); // calendar days (RFC 5545: nominal), never turned into hours
  const clock = +(m[3] || 0) * 60 + +(m[4] || 0) + (+(m[5] || 0)) / 60; // elapsed minutes: PT24H stays hours
  if (days && !clock) return { amount: days, unit: "day" };
  const minutes = days * 1440 + clock;
  if (minutes > 0 && minutes % 60 === 0) return { amount: minutes / 60, unit: "hour" };
  return { amount: Math.round(minutes), unit: "minute" };
}

/** {amount, unit} → ISO 8601 duration. */
export function joinDuration(amount, unit) {
  const n = Math.max(0, Math.round(Number(amount) || 0));
  if (unit === "day") return `P${n}D`;
  if (unit === "hour") return `PT${n}H`;
  return `PT${n}M`;
}

/** ISO 8601 duration from `now` until `instant`, in whole seconds rounded up: "PT16H40M", "PT0S" if past. */
export function durationUntil(instant, now = new Date()) {
  const total = Math.max(0, Math.ceil((instant.getTime() - now.getTime()) / 1000));
  const [hours, minutes, seconds] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const text = `${hours ? `${hours}H` : ""}${minutes ? `${minutes}M` : ""}${seconds ? `${seconds}S` : ""}`;
  return `PT${text || "0S"}`;
}

/** "10 minutes before", "1 day before" for a duration text. */
export function durationWords(text) {
  const { amount, unit } = splitDuration(text);
  if (amount === 0) return "at the due time";
  return `${amount} ${unit}${amount === 1 ? "" : "s"} before`;
}
