// The task dialog: add or edit every field (due date/time/zone, priority, tags, recurrence,
// reminders), complete/reopen/delete, and the task's history from the audit service.

import { api, ApiError } from "./api.js";
import { dateEntry, formatDate, timeEntry } from "./dateinput.js";
import { h, field, nextId, select } from "./dom.js";
import { recurrenceEditor } from "./recurrence-editor.js";
import { changeLines } from "./history.js";
import { remindersEditor } from "./reminders-editor.js";
import { instantAt, rfc3339, dateIn, timeIn, knownZones, relativeDay, todayIn } from "./time.js";

export const PRIORITIES = [["none", "None"], ["low", "Low"], ["medium", "Medium"], ["high", "High"], ["urgent", "Urgent"]];

/** Who made a history entry, in the user's words. */
const ACTOR_WORDS = { user: "you", recurring: "recurring", system: "system" };

const EVENT_WORDS = { created: "Created", updated: "Edited", completed: "Completed", reopened: "Reopened", deleted: "Deleted", restored: "Restored" };

/** Tags typed as "home, garden #errands" → ["home", "garden", "errands"]. */
export function splitTags(text) {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.replace(/^#/, "").trim().toLowerCase()).filter(Boolean))];
}

/**
 * Create the dialog once. `ctx` = {zone(): user's zone, dateOrder(): "DMY" | "MDY" | "YMD", onSaved(task, created), onComplete(task),
 * onDelete(task), askNotify(), onClosed()?}. Returns {open(task|null, draft?), externalChange(task|null, id), isOpenFor(id)}.
 */
/** A labelled date entry: the label names its text input; the calendar button sits beside it. */
function dateField(labelText, entry) {
  entry.input.id = entry.input.id || nextId("date");
  return h("div", { class: "field" }, h("label", { for: entry.input.id }, labelText), entry.el);
}

export function taskDialog(ctx) {
  const heading = h("h2", { id: "task-dialog-title" }, "New task");
  const title = h("input", { type: "text", required: true, maxlength: "500", autocomplete: "off" });
  const description = h("textarea", { rows: "2", maxlength: "10000" });
  const refreshRule = () => recurrence.refresh();
  const dueDay = dateEntry({ order: () => ctx.dateOrder(), onChange: refreshRule });
  const dueClock = timeEntry({ onChange: refreshRule });
  const dueDate = dueDay.input;
  const dueTime = dueClock.input;
  dueTime.setAttribute("aria-describedby", "task-due-hint");
  const zone = h("select", {});
  const priority = select(PRIORITIES, "none");
  const tags = h("input", { type: "text", autocomplete: "off", placeholder: "home, garden" });
  const estimate = h("input", { type: "number", min: "1", max: "1440", step: "1", inputmode: "numeric", placeholder: "1–1440" });
  const recurrence = recurrenceEditor({
    getDue: () => ({ date: dueDay.value || "", time: dueClock.value || "", zone: zone.value || ctx.zone() }),
  });
  const reminders = remindersEditor({ getZone: () => zone.value || ctx.zone(), onFirstAdd: () => ctx.askNotify() });
  const error = h("p", { class: "form-error", role: "alert" });
  const notice = h("div", { class: "notice", hidden: true });
  // Newest first; times and actors say the order, so the list is not numbered.
  const history = h("ul", { class: "history", "aria-label": "History entries" });
  const tab = (name, selected) => h("button", { type: "button", role: "tab", id: `task-tab-${name}`,
    "aria-controls": `task-panel-${name}`, "aria-selected": String(selected), tabindex: selected ? "0" : "-1" },
  name === "details" ? "Details" : "History");
  const detailsTab = tab("details", true);
  const historyTab = tab("history", false);
  const tabs = h("div", { role: "tablist", class: "tabs", "aria-label": "Task" }, detailsTab, historyTab);
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const cancel = h("button", { type: "button", class: "secondary", value: "cancel" }, "Cancel");
  const toggle = h("button", { type: "button", class: "secondary" }, "Complete");
  const remove = h("button", { type: "button", class: "danger" }, "Delete");
  const clearDue = h("button", { type: "button", class: "link-button" }, "Clear due date");

  const detailsPanel = h("div", { role: "tabpanel", id: "task-panel-details", "aria-labelledby": detailsTab.id, class: "panel-body" },
    notice, error,
    field("Title", title),
    field("Description", description),
    h("fieldset", { class: "due" }, h("legend", {}, "Due"),
      h("div", { class: "row" }, dateField("Due date", dueDay), field("Due time", dueTime), field("Time zone", zone)),
      h("p", { class: "hint", id: "task-due-hint" }, "Leave the time empty for an all-day task. ", clearDue)),
    h("div", { class: "row" }, field("Priority", priority), field("Tags", tags), field("Estimate (minutes)", estimate)),
    recurrence.el,
    reminders.el);
  const historyPanel = h("div", { role: "tabpanel", id: "task-panel-history", "aria-labelledby": historyTab.id, class: "panel-body", tabindex: "0", hidden: true },
    history);
  const form = h("form", { method: "dialog", class: "task-form", novalidate: true },
    h("div", { class: "panel-head" }, heading, tabs),
    detailsPanel,
    historyPanel,
    h("div", { class: "actions" }, save, cancel, h("span", { class: "spacer" }), toggle, remove));
  const dialog = h("dialog", { class: "task-dialog", "aria-labelledby": heading.id }, form);
  document.body.append(dialog);

  let current = null; // the task being edited (null when adding)
  let opener = null; // what had focus before the dialog opened, to return to on close

  dialog.addEventListener("close", () => {
    const lost = !document.activeElement || document.activeElement === document.body || dialog.contains(document.activeElement);
    if (!lost) return;
    if (opener && opener.isConnected && opener.getClientRects().length) opener.focus();
    else ctx.onClosed?.();
  });
  let initial = null; // the field values the form was filled with, to send only what changed

  function fill(task, draft = {}) {
    const source = task || draft;
    const tz = source.timezone || ctx.zone();
    zone.replaceChildren(...knownZones(tz).map((z) => h("option", { value: z }, z)));
    zone.value = tz;
    title.value = source.title || "";
    description.value = source.description || "";
    priority.value = source.priority || "none";
    tags.value = (source.tags || []).join(", ");
    estimate.value = source.estimate_minutes ?? "";
    if (source.due_at) {
      dueDay.set(dateIn(new Date(source.due_at), tz));
      dueClock.set(timeIn(new Date(source.due_at), tz));
    } else {
      dueDay.set(source.due_date || "");
      dueClock.set("");
    }
    recurrence.set(source.recurrence || null, source.repeat_from || "due");
    reminders.set((source.reminders || []).map((r) => (r.before ? { before: r.before } : { at: r.at })));
    initial = task ? collect() : null;
  }

  function collect() {
    const tz = zone.value || ctx.zone();
    const out = {
      title: title.value.trim(),
      description: description.value.trim() || null,
      priority: priority.value,
      tags: splitTags(tags.value),
      estimate_minutes: estimate.value === "" ? null : Number(estimate.value),
      timezone: tz,
      due_at: null,
      due_date: null,
      ...recurrence.value(),
      reminders: reminders.value(),
    };
    if (dueDay.value && dueClock.value) out.due_at = rfc3339(instantAt(dueDay.value, dueClock.value, tz));
    else if (dueDay.value) out.due_date = dueDay.value;
    return out;
  }

  function changed(values) {
    const diff = {};
    for (const [key, value] of Object.entries(values)) {
      if (JSON.stringify(value) !== JSON.stringify(initial[key])) diff[key] = value;
    }
    if ("due_at" in diff || "due_date" in diff) Object.assign(diff, { due_at: values.due_at, due_date: values.due_date });
    return diff;
  }

  /** Show the "details" or "history" tab; `focus` moves focus to its tab button. */
  function showTab(name, { focus = false } = {}) {
    for (const [button, panel] of [[detailsTab, detailsPanel], [historyTab, historyPanel]]) {
      const on = button === (name === "history" ? historyTab : detailsTab);
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
      if (on && focus) button.focus();
    }
  }
  detailsTab.addEventListener("click", () => showTab("details"));
  historyTab.addEventListener("click", () => {
    showTab("history");
    if (current) loadHistory(current); // read again: the audit service records changes on its own time
  });
  tabs.addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key) || historyTab.hidden) return;
    event.preventDefault();
    const toHistory = event.key === "End" || (event.key !== "Home" && historyTab.getAttribute("aria-selected") !== "true");
    showTab(toHistory ? "history" : "details", { focus: true });
  });

  function showError(err) {
    showTab("details");
    error.textContent = err.message;
    const target = { title, description, priority, tags, estimate_minutes: estimate, timezone: zone, due_at: dueDate, due_date: dueDate, due_time: dueTime, recurrence: recurrence.el.querySelector("select") }[err.field];
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    if (target) {
      target.setAttribute("aria-invalid", "true");
      target.focus();
    }
  }

  async function loadHistory(task) {
    history.replaceChildren(h("li", {}, "Loading…"));
    try {
      const entries = await api.history(task.id);
      const tz = ctx.zone();
      const today = todayIn(tz);
      history.replaceChildren(...entries.map((entry) => {
        const when = new Date(entry.occurred_at);
        const what = EVENT_WORDS[entry.event_type] || entry.event_type;
        const actor = ACTOR_WORDS[entry.actor || "user"] || entry.actor;
        const lines = entry.event_type === "updated" ? changeLines(entry.changes || {}, tz, today) : [];
        return h("li", {}, h("strong", {}, what), " · ",
          h("time", { datetime: entry.occurred_at }, `${relativeDay(dateIn(when, tz), today)} ${timeIn(when, tz)}`),
          ` · ${actor === "recurring" ? "by recurring" : `by ${actor}`}`,
          lines.length ? h("ul", { class: "changes" }, ...lines.map((line) => h("li", {}, line))) : null);
      }));
      if (!entries.length) history.replaceChildren(h("li", {}, "No history yet."));
    } catch (err) {
      history.replaceChildren(h("li", {}, `History unavailable: ${err.message}`));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = collect();
    if (!values.title) {
      showError({ message: "Give the task a title.", field: "title" });
      return;
    }
    if (dueDay.value === null || (dueDay.value === "" && dueClock.value)) {
      showError({ message: `Due date: write it as ${dueDate.placeholder}, e.g. ${formatDate("2026-12-31", ctx.dateOrder())}.`, field: "due_date" });
      return;
    }
    if (dueClock.value === null) {
      showError({ message: "Due time: write it as 17:30 or 5:30 pm.", field: "due_time" });
      return;
    }
    save.disabled = true;
    try {
      let task;
      if (current) {
        const diff = changed(values);
        task = Object.keys(diff).length ? await api.updateTask(current.id, diff, current.version) : current;
      } else {
        task = await api.createTask(values);
      }
      dialog.close();
      ctx.onSaved(task, !current);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        showError({ message: "This task was changed in another window after you opened it. Load the latest version, then save again." });
        latest = await api.getTask(current.id).catch(() => null);
        if (latest) showNotice("A newer version of this task is available.", true);
      } else showError(err);
    } finally {
      save.disabled = false;
    }
  });
  cancel.addEventListener("click", () => dialog.close());
  clearDue.addEventListener("click", () => {
    dueDay.set("");
    dueClock.set("");
    recurrence.refresh();
    dueDate.focus();
  });
  zone.addEventListener("input", refreshRule);
  toggle.addEventListener("click", () => {
    dialog.close();
    ctx.onComplete(current);
  });
  remove.addEventListener("click", () => {
    dialog.close();
    ctx.onDelete(current);
  });

  let latest = null;
  function showNotice(text, canLoad) {
    const load = h("button", { type: "button", class: "secondary" }, "Load the latest");
    load.addEventListener("click", () => {
      current = latest;
      fill(current);
      notice.hidden = true;
      error.textContent = "";
      title.focus();
    });
    notice.replaceChildren(h("span", {}, text), canLoad ? load : null);
    notice.hidden = false;
  }

  return {
    open(task, draft, { history: showHistory = false } = {}) {
      opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
      current = task;
      heading.textContent = task ? "Edit task" : "New task";
      error.textContent = "";
      notice.hidden = true;
      toggle.hidden = remove.hidden = historyTab.hidden = !task;
      if (task) toggle.textContent = task.completed ? "Reopen" : "Complete";
      fill(task, draft);
      if (task) loadHistory(task);
      dialog.showModal();
      showTab(task && showHistory ? "history" : "details", { focus: Boolean(task && showHistory) });
      if (!(task && showHistory)) title.focus();
    },
    isOpenFor: (id) => dialog.open && current && current.id === id,
    /** Another window changed (or deleted, task=null) the task being edited: say so, never overwrite typing. */
    externalChange(task) {
      if (!dialog.open || !current) return;
      if (!task) {
        showNotice("This task was deleted in another window.", false);
        return;
      }
      if (task.version === current.version) return;
      latest = task;
      showNotice("This task was changed in another window.", true);
      loadHistory(task);
    },
  };
}
