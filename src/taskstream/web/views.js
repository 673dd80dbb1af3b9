// Views and filters (kept in the URL), the API query each one means, and rendering of the task list.

import { h } from "./dom.js";
import { knownWords, ruleText, wordsFor } from "./recurrence-preview.js";
import { addDays, dueInfo, longDate, relativeDay, todayIn } from "./time.js";

export const VIEWS = [
  { key: "inbox", name: "Inbox", filters: { status: "open", due: "", tag: "" }, goto: "i" },
  { key: "today", name: "Today", filters: { status: "open", due: "today", tag: "" }, goto: "t" },
  { key: "upcoming", name: "Upcoming", filters: { status: "open", due: "upcoming", tag: "" }, goto: "u" },
  { key: "overdue", name: "Overdue", filters: { status: "open", due: "overdue", tag: "" }, goto: "o" },
  { key: "completed", name: "Completed", filters: { status: "done", due: "", tag: "" }, goto: "d" },
];

const DEFAULTS = { q: "", status: "open", due: "", priority: "", tag: "", sort: "" };
const PRIORITY_NAMES = { urgent: "Urgent", high: "High", medium: "Medium", low: "Low" };
const EMPTY = {
  inbox: "Nothing to do. Add a task above — try “Water plants tomorrow 9am every 2 days”.",
  today: "Nothing due today. Enjoy it, or plan something with a due date of today.",
  overdue: "Nothing overdue — you are on top of things.",
  completed: "No completed tasks yet. Tick a task's checkbox (or press x) to complete it.",
};

/** Filters from the URL's query string (unknown values fall back to defaults). */
export function readFilters(search = location.search) {
  const params = new URLSearchParams(search);
  const out = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) if (params.has(key)) out[key] = params.get(key);
  if (!["open", "done", "all"].includes(out.status)) out.status = "open";
  if (!["", "today", "overdue", "upcoming"].includes(out.due)) out.due = "";
  return out;
}

/** Write filters to the URL (defaults left out); push=true makes a history entry. */
export function writeFilters(filters, push) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value && value !== DEFAULTS[key]) params.set(key, value);
  const url = params.toString() ? `/?${params}` : "/";
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

/** The view a set of filters is (by status, due and tag), or null for a custom filter. */
export function activeView(filters) {
  if (filters.tag && filters.status === "open" && !filters.due) return { key: `tag:${filters.tag}`, name: `#${filters.tag}` };
  return VIEWS.find((v) => v.filters.status === filters.status && v.filters.due === filters.due && v.filters.tag === filters.tag) || null;
}

/** GET /tasks parameters for filters, in zone `tz`. */
export function queryFor(filters, tz) {
  const today = todayIn(tz);
  const params = { sort: filters.sort || (filters.status === "done" ? "-due" : "due") };
  if (filters.q) params.q = filters.q;
  if (filters.status === "open") params.completed = false;
  if (filters.status === "done") params.completed = true;
  if (filters.priority) params.priority = filters.priority;
  if (filters.tag) params.tag = filters.tag;
  if (filters.due === "today") params.due_before = addDays(today, 1);
  if (filters.due === "upcoming") Object.assign(params, { due_after: today, due_before: addDays(today, UPCOMING_DAYS) });
  if (filters.due === "overdue") params.overdue = true;
  return params;
}

function bellIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

/** "↻ every 2 days": the server's words for the task's rule, filled in once fetched (then cached). */
function repeatWords(task, tz) {
  const known = knownWords(task.recurrence);
  const words = h("span", { class: "sentence" }, known === undefined ? "repeats" : ruleText(known, task.repeat_from));
  if (known === undefined) {
    wordsFor(task, tz).then((text) => {
      if (text) words.textContent = ruleText(text, task.repeat_from);
    });
  }
  return h("span", { class: "repeat" }, h("span", { "aria-hidden": "true" }, "↻ "), words);
}

function badge(text, cls) {
  return h("span", { class: `badge ${cls}` }, text);
}

/** One task row. */
export function taskRow(task, { tz, selected }) {
  const due = dueInfo(task, tz);
  const checkboxId = `done-${task.id}`;
  const meta = [];
  if (due?.overdue) meta.push(badge("Overdue", "overdue"));
  else if (due?.today && !task.completed) meta.push(badge("Today", "today"));
  const todayBadge = due?.today && !due.overdue && !task.completed; // the "Today" badge already names the day
  if (due && !(todayBadge && !due.time)) {
    const label = todayBadge ? due.time : due.label;
    meta.push(h("span", { class: "due", "data-testid": "due" }, h("span", { class: "visually-hidden" }, "Due "), label));
  }
  if (task.priority !== "none") meta.push(h("span", { class: `prio prio-${task.priority}` }, PRIORITY_NAMES[task.priority]));
  if (task.recurrence) meta.push(repeatWords(task, tz));
  if (task.estimate_minutes) meta.push(h("span", { class: "estimate", "data-testid": "estimate" }, h("span", { class: "visually-hidden" }, "Estimate "), duration(task.estimate_minutes)));
  const pending = (task.reminders || []).filter((r) => r.state === "pending").length;
  if (pending) meta.push(h("span", { class: "reminder-count" }, bellIcon(), `${pending} reminder${pending === 1 ? "" : "s"}`));
  for (const tag of task.tags) meta.push(h("a", { class: "tag", href: `/?tag=${encodeURIComponent(tag)}`, dataset: { tag } }, `#${tag}`));
  return h("li", {
    class: `task prio-${task.priority}${task.completed ? " done" : ""}${selected ? " selected" : ""}`,
    dataset: { id: task.id }, "aria-current": selected ? "true" : null,
  },
  h("input", { type: "checkbox", id: checkboxId, class: "check", checked: task.completed, dataset: { action: "toggle" },
    "aria-label": `${task.completed ? "Reopen" : "Complete"} “${task.title}”` }),
  h("div", { class: "task-main" },
    h("button", { type: "button", class: "task-title", dataset: { action: "open" } }, task.title),
    task.description ? h("p", { class: "task-desc" }, task.description) : null,
    meta.length ? h("div", { class: "task-meta" }, ...meta) : null));
}

export const UPCOMING_DAYS = 8; // today and the 7 days after it, as queryFor asks

function groupsFor(tasks, filters, tz) {
  const today = todayIn(tz);
  if (filters.due === "upcoming" && !filters.q) {
    // Every day gets its heading and an inline add, even a day with nothing due yet.
    return Array.from({ length: UPCOMING_DAYS }, (_, n) => addDays(today, n)).map((date) => {
      const near = ["Today", "Tomorrow"].includes(relativeDay(date, today)) ? `${relativeDay(date, today)} · ` : "";
      return { label: `${near}${longDate(date)}`, items: tasks.filter((t) => dueInfo(t, tz)?.date === date), day: date };
    });
  }
  if (filters.due === "today") {
    const overdue = tasks.filter((t) => dueInfo(t, tz)?.overdue && !dueInfo(t, tz)?.today);
    const rest = tasks.filter((t) => !overdue.includes(t));
    return [{ label: "Overdue", items: overdue }, { label: `Today · ${longDate(today)}`, items: rest }].filter((g) => g.items.length);
  }
  return [{ label: null, items: tasks }];
}

/** Render the list into `container`: groups with headings, or an empty state that says what to do. */
export function renderList(container, tasks, { filters, tz, selectedId }) {
  const upcoming = filters.due === "upcoming" && !filters.q;
  if (!tasks.length && !upcoming) {
    const view = activeView(filters);
    const text = filters.q ? `No tasks match “${filters.q}”. Try fewer words, or clear the search.`
      : view && EMPTY[view.key] ? EMPTY[view.key]
        : view ? `No open tasks tagged #${filters.tag}.` : "No tasks match these filters. Loosen a filter above.";
    container.replaceChildren(h("div", { class: "empty-state", "data-testid": "empty-state" }, h("p", {}, text)));
    return;
  }
  const parts = [];
  for (const group of groupsFor(tasks, filters, tz)) {
    if (group.label) parts.push(h("h2", { class: "group-heading" }, group.label));
    if (group.items.length || !group.day) {
      parts.push(h("ul", { class: "tasks", "aria-label": group.label || "Tasks" },
        ...group.items.map((task) => taskRow(task, { tz, selected: task.id === selectedId }))));
    }
    if (group.day) {
      parts.push(h("button", { type: "button", class: "add-day link-button", dataset: { day: group.day },
        "aria-label": `Add a task on ${longDate(group.day)}` }, "+ Add task"));
    }
  }
  container.replaceChildren(...parts);
}

/** Render the sidebar: views with counts, then tags with open counts. */
export function renderNav(viewsEl, tagsEl, { counts, tags, filters }) {
  const current = activeView(filters)?.key;
  const link = (key, name, href, count, goto) => h("li", {},
    h("a", { href, class: key === current ? "active" : "", "aria-current": key === current ? "page" : null, dataset: { view: key } },
      h("span", { class: "view-name" }, name),
      h("span", { class: "view-count", "aria-label": count === undefined ? null : `${count} tasks` }, count === undefined ? "" : String(count)),
      goto ? h("span", { class: "visually-hidden" }, ` (g then ${goto})`) : null));
  viewsEl.replaceChildren(...VIEWS.map((v) => {
    const params = new URLSearchParams();
    if (v.filters.status !== "open") params.set("status", v.filters.status);
    if (v.filters.due) params.set("due", v.filters.due);
    return link(v.key, v.name, params.toString() ? `/?${params}` : "/", counts[v.key], v.goto);
  }));
  tagsEl.replaceChildren(...tags.map((t) => link(`tag:${t.name}`, `#${t.name}`, `/?tag=${encodeURIComponent(t.name)}`, t.open_count)));
  if (!tags.length) tagsEl.replaceChildren(h("li", { class: "hint" }, "Add #tags to tasks to see them here."));
}

/** Minutes as people say them: "45 min", "1 h", "1 h 30 min". */
export function duration(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (!hours) return `${rest} min`;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}
