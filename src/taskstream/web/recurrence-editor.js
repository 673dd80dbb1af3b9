// The recurrence editor: repeat rules in words (every N days/weeks/months/years, weekdays,
// nth/last weekday, ends never/on/after N, from due or completion), showing the RRULE it builds
// and, from the server's preview, the rule in words and its next occurrences.

import { ApiError } from "./api.js";
import { h, field, select, nextId } from "./dom.js";
import { debouncedPreview, occurrenceLabels, previewBody, ruleText } from "./recurrence-preview.js";
import { WEEKDAYS, DAY_NAMES, ORDINALS, parseRule, buildRule } from "./rrule.js";

const MODES = [
  ["none", "Does not repeat"], ["DAILY", "Daily"], ["WEEKDAYS", "Every weekday (Mon–Fri)"],
  ["WEEKLY", "Weekly"], ["MONTHLY", "Monthly"], ["YEARLY", "Yearly"], ["custom", "Custom RRULE"],
];
const UNIT_WORDS = { DAILY: "day(s)", WEEKLY: "week(s)", MONTHLY: "month(s)", YEARLY: "year(s)" };

function radio(name, value, labelText, checked) {
  const input = h("input", { type: "radio", name, value, id: nextId("r"), checked });
  return { input, el: h("span", { class: "choice" }, input, h("label", { for: input.id }, labelText)) };
}

/**
 * Build the editor. `getDue()` gives the first due {date: "YYYY-MM-DD" or "", time: "HH:MM" or "", zone}
 * used for previews and defaults; `onChange()` is called on every edit.
 * Returns {el, set(rrule, repeatFrom), value(), refresh()}; `el` is folded to the rule's words after set(rule).
 */
export function recurrenceEditor({ getDue, onChange = () => {} }) {
  const group = nextId("rec");
  const mode = select(MODES, "none", { name: "repeat-mode" });
  const interval = h("input", { type: "number", min: "1", max: "999", value: "1", inputmode: "numeric" });
  const unit = h("span", { class: "unit", id: nextId("unit") }, "");
  const dayBoxes = WEEKDAYS.map((code, i) => {
    const box = h("input", { type: "checkbox", value: code, id: nextId("wd") });
    return { box, el: h("span", { class: "chip-check" }, box, h("label", { for: box.id, title: DAY_NAMES[i] }, DAY_NAMES[i].slice(0, 3))) };
  });
  const weekly = h("fieldset", { class: "sub weekly" }, h("legend", {}, "On these days"), ...dayBoxes.map((d) => d.el));

  const mSame = radio(`${group}-m`, "same", "On the due date's day", true);
  const mDay = radio(`${group}-m`, "day", "On day", false);
  const monthDay = select(
    [...Array.from({ length: 31 }, (_, i) => [String(i + 1), String(i + 1)]), ["-1", "last"]], "1",
    { "aria-label": "Day of the month" },
  );
  const mNth = radio(`${group}-m`, "nth", "On the", false);
  const nth = select(Object.entries(ORDINALS).sort((a, b) => (a[0] === "-1") - (b[0] === "-1") || a[0] - b[0]), "1", { "aria-label": "Which week" });
  const nthDay = select(WEEKDAYS.map((c, i) => [c, DAY_NAMES[i]]), "MO", { "aria-label": "Weekday" });
  const monthly = h("fieldset", { class: "sub monthly" }, h("legend", {}, "Day of the month"),
    h("div", {}, mSame.el), h("div", {}, mDay.el, " ", monthDay), h("div", {}, mNth.el, " ", nth, " ", nthDay));

  const endNever = radio(`${group}-e`, "never", "Ends never", true);
  const endOn = radio(`${group}-e`, "on", "Ends on", false);
  const until = h("input", { type: "date", "aria-label": "End date" });
  const endAfter = radio(`${group}-e`, "after", "Ends after", false);
  const count = h("input", { type: "number", min: "1", max: "999", value: "10", "aria-label": "Number of occurrences" });
  const afterNote = h("span", { class: "hint" }, " — not with “repeat from completion”; use an end date");
  const ends = h("fieldset", { class: "sub ends" }, h("legend", {}, "Ends"),
    h("div", {}, endNever.el), h("div", {}, endOn.el, " ", until), h("div", {}, endAfter.el, " ", count, " times", afterNote));

  const fromDue = radio(`${group}-f`, "due", "Repeat from the due date", true);
  const fromDone = radio(`${group}-f`, "completion", "Repeat from completion", false);
  const from = h("fieldset", { class: "sub from" }, h("legend", {}, "Next date counts from"), h("div", {}, fromDue.el), h("div", {}, fromDone.el));

  const custom = h("input", { type: "text", spellcheck: "false", placeholder: "FREQ=WEEKLY;BYDAY=MO" });
  const customField = field("RRULE", custom, "An RFC 5545 rule value, kept exactly as written.");
  const summary = h("p", { class: "rrule-words", "data-testid": "recurrence-words" });
  const code = h("code", { "data-testid": "rrule" });
  const upcoming = h("p", { class: "rrule-next", "data-testid": "recurrence-next" });
  const problem = h("p", { class: "form-error", "data-testid": "recurrence-error", hidden: true });
  const out = h("div", { class: "rrule-out", "aria-live": "polite" }, summary, problem, h("p", {}, "RRULE: ", code), upcoming);
  interval.setAttribute("aria-describedby", unit.id);
  const intervalField = h("div", { class: "field inline" }, h("label", { for: (interval.id = nextId("f")) }, "Every"), interval, unit);

  // Folded to one line ("Repeat · Every week on Monday") while a task's rule is only being looked at.
  const folded = h("span", { class: "repeat-folded" });
  const el = h("details", { class: "recurrence", open: true },
    h("summary", {}, h("span", { class: "repeat-label" }, "Repeat"), folded),
    h("div", { class: "row" }, field("Repeats", mode), intervalField),
    weekly, monthly, customField, h("div", { class: "row ends-from" }, ends, from), out);

  function startDate() {
    return getDue().date || null;
  }

  let undated = false; // the preview is asked without a due date (words only)
  let answer = null; // the last outcome, {result} or {error}, and the key of the body it answers
  function show() {
    const { result, error } = answer;
    out.removeAttribute("aria-busy");
    custom.removeAttribute("aria-invalid");
    problem.hidden = !error;
    if (error) {
      const invalid = error instanceof ApiError && error.status === 422;
      problem.textContent = invalid ? error.message : `Preview unavailable: ${error.message}`;
      if (invalid && mode.value === "custom") custom.setAttribute("aria-invalid", "true");
      summary.textContent = "";
      upcoming.textContent = "";
      return;
    }
    summary.textContent = ruleText(result.text, fromDone.input.checked ? "completion" : "due");
    folded.textContent = summary.textContent;
    upcoming.textContent = undated ? "Set a due date to see the next dates."
      : `Next: ${occurrenceLabels(result.occurrences, getDue().zone).join(", ")}`;
  }
  const preview = debouncedPreview((outcome, key) => {
    answer = { ...outcome, key };
    show();
  });

  function askPreview(rule) {
    if (!rule) {
      preview.cancel();
      answer = null;
      out.removeAttribute("aria-busy");
      summary.textContent = "Does not repeat";
      folded.textContent = summary.textContent;
      problem.hidden = true;
      upcoming.textContent = "";
      return;
    }
    const due = getDue();
    const asked = previewBody({
      recurrence: rule, repeatFrom: fromDone.input.checked ? "completion" : "due", date: due.date, time: due.time, zone: due.zone,
    });
    undated = asked.undated;
    if (preview.ask(asked.body)) out.setAttribute("aria-busy", "true");
    else if (answer?.key === JSON.stringify(asked.body)) show(); // answered already; only `undated` may differ
  }

  function currentRule() {
    const m = mode.value;
    if (m === "none") return null;
    if (m === "custom") return custom.value.trim() || null;
    const rule = { freq: m === "WEEKDAYS" ? "WEEKLY" : m, interval: 1, byday: [], bymonthday: [], bymonth: [], setpos: null, count: null, until: null };
    if (m !== "WEEKDAYS") rule.interval = Math.max(1, parseInt(interval.value, 10) || 1);
    if (m === "WEEKDAYS") rule.byday = WEEKDAYS.slice(0, 5).map((day) => ({ n: null, day }));
    if (m === "WEEKLY") rule.byday = dayBoxes.filter((d) => d.box.checked).map((d) => ({ n: null, day: d.box.value }));
    if (m === "MONTHLY" && mDay.input.checked) rule.bymonthday = [Number(monthDay.value)];
    if (m === "MONTHLY" && mNth.input.checked) rule.byday = [{ n: Number(nth.value), day: nthDay.value }];
    if (endOn.input.checked && until.value) rule.until = until.value;
    if (endAfter.input.checked) rule.count = Math.max(1, parseInt(count.value, 10) || 1);
    return buildRule(rule);
  }

  function refresh() {
    const m = mode.value;
    const repeating = m !== "none";
    intervalField.hidden = !repeating || m === "custom" || m === "WEEKDAYS";
    unit.textContent = UNIT_WORDS[m] || "";
    weekly.hidden = m !== "WEEKLY";
    monthly.hidden = m !== "MONTHLY";
    customField.hidden = m !== "custom";
    ends.hidden = !repeating || m === "custom";
    from.hidden = !repeating;
    out.hidden = !repeating;
    if (fromDone.input.checked && endAfter.input.checked) endNever.input.checked = true;
    endAfter.input.disabled = fromDone.input.checked; // the server counts occurrences only from the due date
    afterNote.hidden = !fromDone.input.checked;
    until.disabled = !endOn.input.checked;
    count.disabled = !endAfter.input.checked;
    const rule = currentRule();
    code.textContent = rule || "—";
    askPreview(rule);
  }

  function set(rrule, repeatFrom = "due") {
    const rule = parseRule(rrule);
    el.open = !rrule; // a rule shows as its words; opening the fold edits it
    folded.textContent = rrule ? "…" : "";
    const start = startDate();
    const startDay = start ? Number(start.slice(8, 10)) : 1;
    monthDay.value = String(startDay);
    dayBoxes.forEach((d) => { d.box.checked = false; });
    endNever.input.checked = true;
    interval.value = "1";
    (repeatFrom === "completion" ? fromDone : fromDue).input.checked = true;
    custom.value = rrule || "";
    if (!rule) mode.value = "none";
    else if (rule.custom || rule.bymonth.length || rule.bymonthday.length > 1 || rule.byday.length > 1 && rule.freq === "MONTHLY") mode.value = "custom";
    else {
      const plainDays = rule.byday.map((d) => d.day).join(",");
      mode.value = rule.freq === "WEEKLY" && plainDays === "MO,TU,WE,TH,FR" && rule.interval === 1 ? "WEEKDAYS" : rule.freq;
      interval.value = String(rule.interval);
      dayBoxes.forEach((d) => { d.box.checked = rule.byday.some((b) => b.day === d.box.value); });
      mSame.input.checked = true;
      if (rule.bymonthday.length) { mDay.input.checked = true; monthDay.value = String(rule.bymonthday[0]); }
      if (rule.freq === "MONTHLY" && rule.byday.length) {
        mNth.input.checked = true;
        nth.value = String(rule.byday[0].n ?? rule.setpos ?? 1);
        nthDay.value = rule.byday[0].day;
      }
      if (rule.count) { endAfter.input.checked = true; count.value = String(rule.count); }
      else if (rule.until) { endOn.input.checked = true; until.value = rule.until; }
    }
    refresh();
  }

  function preset() {
    // Sensible defaults when a mode is first chosen: the due date's weekday / day of month.
    const start = startDate();
    if (!start) return;
    const weekday = WEEKDAYS[(new Date(`${start}T00:00:00Z`).getUTCDay() + 6) % 7];
    if (mode.value === "WEEKLY" && !dayBoxes.some((d) => d.box.checked)) {
      dayBoxes.find((d) => d.box.value === weekday).box.checked = true;
    }
    if (mode.value === "MONTHLY") {
      nthDay.value = weekday;
      nth.value = String(Math.min(4, Math.ceil(Number(start.slice(8, 10)) / 7)));
    }
  }

  el.addEventListener("input", () => { refresh(); onChange(); });
  el.addEventListener("change", (event) => {
    if (event.target === mode) preset();
    refresh();
    onChange();
  });

  return {
    el,
    set,
    refresh,
    value: () => ({ recurrence: currentRule(), repeat_from: fromDone.input.checked ? "completion" : "due" }),
  };
}
