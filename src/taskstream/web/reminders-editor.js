// Reminders editor: several reminders, each "N minutes/hours/days before" the due time or "at" a time.

import { h, select, nextId } from "./dom.js";
import { splitDuration, joinDuration, instantAt, rfc3339, dateIn, timeIn } from "./time.js";

const UNITS = [["minute", "minutes"], ["hour", "hours"], ["day", "days"]];
const KINDS = [["before", "before the due time"], ["at", "at a date and time"]];

/**
 * Build the editor. `getZone()` gives the zone the "at" inputs are read in; `onFirstAdd()` runs the first
 * time the user adds a reminder (to ask for notification permission). Returns {el, set(list), value()}.
 */
export function remindersEditor({ getZone, onFirstAdd = () => {} }) {
  const list = h("ol", { class: "reminder-list" });
  const add = h("button", { type: "button", class: "secondary" }, "Add reminder");
  const el = h("fieldset", { class: "reminders" }, h("legend", {}, "Reminders"), list, add);

  function row(reminder) {
    const n = list.children.length + 1;
    const kind = select(KINDS, reminder.at ? "at" : "before", { "aria-label": `Reminder ${n} kind` });
    const parts = splitDuration(reminder.before || "PT10M");
    const amount = h("input", { type: "number", min: "0", max: "9999", value: String(parts.amount), "aria-label": `Reminder ${n} amount` });
    const unit = select(UNITS, parts.unit, { "aria-label": `Reminder ${n} unit` });
    const zone = getZone();
    const at = h("input", {
      type: "datetime-local", step: "1", "aria-label": `Reminder ${n} date and time`,
      value: reminder.at ? `${dateIn(new Date(reminder.at), zone)}T${timeIn(new Date(reminder.at), zone, true)}` : "",
    });
    const beforeGroup = h("span", { class: "before-group" }, amount, " ", unit);
    const remove = h("button", { type: "button", class: "icon-button", "aria-label": `Remove reminder ${n}` }, "✕");
    const li = h("li", { class: "reminder-row", id: nextId("rem") }, beforeGroup, at, " ", kind, " ", remove);
    const sync = () => {
      beforeGroup.hidden = kind.value !== "before";
      at.hidden = kind.value !== "at";
    };
    kind.addEventListener("change", sync);
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      (next?.querySelector("input:not([hidden]), select") || add).focus();
    });
    li.read = () => {
      if (kind.value === "before") return { before: joinDuration(amount.value, unit.value) };
      if (!at.value) return null;
      const [date, time] = at.value.split("T");
      return { at: rfc3339(instantAt(date, time.length === 5 ? `${time}:00` : time, getZone())) };
    };
    sync();
    return li;
  }

  let asked = false;
  add.addEventListener("click", () => {
    const li = row({ before: "PT10M" });
    list.append(li);
    li.querySelector("input").focus();
    if (!asked) {
      asked = true;
      onFirstAdd();
    }
  });

  return {
    el,
    set(reminders) {
      list.replaceChildren();
      for (const reminder of reminders || []) list.append(row(reminder));
    },
    value: () => [...list.children].map((li) => li.read()).filter(Boolean),
  };
}
