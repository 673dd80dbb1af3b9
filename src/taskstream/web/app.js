// taskstream web UI: sign in, the task list and its views, actions, and live updates.

import { api, getToken, lastLocalWrite, onTokenChange, renew, whenUnauthorized } from "./api.js";
import { announce } from "./dom.js";
import { installKeys } from "./keys.js";
import { openDayAdd } from "./dayadd.js";
import { connectLive } from "./live.js";
import { notificationCenter, toast, askPermission, onToastActed } from "./notify.js";
import { quickAdd } from "./quickadd.js";
import { taskDialog } from "./taskform.js";
import { browserDateOrder, browserZone, knownZones, dueInfo } from "./time.js";
import { VIEWS, activeView, queryFor, readFilters, renderList, renderNav, writeFilters } from "./views.js";
import { signInScreen } from "./auth.js";
import { settingsDialog } from "./settings.js";

const $ = (id) => document.getElementById(id);
const PAGE = 100;
const UNDO_MS = 6000;

const state = {
  me: null, filters: readFilters(), tasks: [], cursor: null, selectedId: null,
  counts: {}, tags: [], live: null, focusAfterLoad: null, undo: null,
};
const zone = () => state.me?.timezone || browserZone();
let dialog = null;
let center = null;

// ---- loading ----------------------------------------------------------------------------

let loadSeq = 0;
async function loadList({ append = false } = {}) {
  const seq = ++loadSeq;
  const params = { ...queryFor(state.filters, zone()), limit: PAGE };
  if (append && state.cursor) params.cursor = state.cursor;
  try {
    const page = await api.listTasks(params);
    if (seq !== loadSeq) return;
    state.tasks = append ? [...state.tasks, ...page.items] : page.items;
    state.cursor = page.next_cursor;
    $("list-status").textContent = "";
    draw();
    if (state.focusAfterLoad) {
      focusRow(state.focusAfterLoad);
      state.focusAfterLoad = null;
    }
  } catch (err) {
    if (seq === loadSeq) $("list-status").textContent = `Could not load tasks: ${err.message}`;
  }
}

/** The navigation's counts and tags: one request (POST /counts) for every view. */
async function loadCounts() {
  const tz = zone();
  const filtersOf = (v) => {
    const { sort, ...params } = queryFor({ q: "", priority: "", sort: "", ...v.filters }, tz);
    for (const key of ["priority", "tag"]) if (params[key] !== undefined) params[key] = [params[key]].flat();
    return params;
  };
  try {
    const answer = await api.counts(Object.fromEntries(VIEWS.map((v) => [v.key, filtersOf(v)])));
    state.counts = Object.fromEntries(Object.entries(answer.counts).map(([k, n]) => [k, n >= answer.cap ? `${n}+` : n]));
    state.tags = answer.tags;
    drawNav();
  } catch {
    // counts are a nicety; the list shows its own errors
  }
}

let refreshTimer = null;
function refreshSoon(delay = 80) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadList();
    loadCounts();
  }, delay);
}

// ---- drawing ----------------------------------------------------------------------------

function draw() {
  const list = $("task-list");
  const dayForm = list.querySelector("form.day-add"); // an inline add being typed in survives the redraw
  const typing = Boolean(dayForm?.contains(document.activeElement));
  const hadFocus = list.contains(document.activeElement) && !typing;
  const focusedAction = document.activeElement?.dataset?.action;
  if (state.selectedId && !state.tasks.some((t) => t.id === state.selectedId)) state.selectedId = null;
  renderList(list, state.tasks, { filters: state.filters, tz: zone(), selectedId: state.selectedId });
  $("load-more").hidden = !state.cursor;
  const spot = dayForm && list.querySelector(`.add-day[data-day="${dayForm.dataset.day}"]`);
  if (spot) {
    spot.replaceWith(dayForm);
    if (typing) dayForm.querySelector("input").focus();
  }
  if (hadFocus) focusRow(state.selectedId, focusedAction);
}

function drawNav() {
  renderNav($("views"), $("tag-views"), { counts: state.counts, tags: state.tags, filters: state.filters });
  const tagSelect = $("f-tag");
  const names = state.tags.map((t) => t.name);
  if (state.filters.tag && !names.includes(state.filters.tag)) names.push(state.filters.tag);
  tagSelect.replaceChildren(new Option("Any", ""), ...names.map((n) => new Option(`#${n}`, n)));
  tagSelect.value = state.filters.tag;
}

function drawFilters() {
  const f = state.filters;
  $("search").value = f.q;
  $("f-status").value = f.status;
  $("f-due").value = f.due;
  $("f-priority").value = f.priority;
  $("f-sort").value = f.sort || (f.status === "done" ? "-due" : "due");
  const view = activeView(f);
  const title = view ? view.name : "Filtered tasks";
  $("view-title").textContent = f.q ? `${title}: “${f.q}”` : title;
  document.title = `${title} · taskstream`;
  drawNav();
}

function setFilters(changes, { push = true } = {}) {
  state.filters = { ...state.filters, ...changes };
  writeFilters(state.filters, push);
  drawFilters();
  loadList();
}

// ---- selection and actions --------------------------------------------------------------

const rowOf = (id) => (id ? $("task-list").querySelector(`.task[data-id="${CSS.escape(id)}"]`) : null);
const taskOf = (id) => state.tasks.find((t) => t.id === id);

function select(id) {
  state.selectedId = id;
  for (const row of $("task-list").querySelectorAll(".task")) {
    const on = row.dataset.id === id;
    row.classList.toggle("selected", on);
    if (on) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}

function focusRow(id, action = "open") {
  const row = rowOf(id) || $("task-list").querySelector(".task");
  if (!row) {
    $("main").focus();
    return;
  }
  select(row.dataset.id);
  row.querySelector(`[data-action="${action === "toggle" ? "toggle" : "open"}"]`).focus();
}

function move(step) {
  const rows = [...$("task-list").querySelectorAll(".task")];
  if (!rows.length) return;
  if (!$("task-list").contains(document.activeElement)) {
    focusRow(state.selectedId);
    return;
  }
  const index = rows.findIndex((r) => r.dataset.id === state.selectedId);
  const next = rows[Math.max(0, Math.min(rows.length - 1, index === -1 ? 0 : index + step))];
  focusRow(next.dataset.id);
  next.scrollIntoView({ block: "nearest" });
}

async function toggleComplete(task, { quiet = false } = {}) {
  if (!task) return;
  try {
    const updated = task.completed ? await api.reopen(task.id) : await api.complete(task.id);
    const verb = updated.completed ? "Completed" : "Reopened";
    if (!quiet) {
      announce(`${verb} “${updated.title}”`);
      state.undo = () => toggleComplete(updated, { quiet: true });
      toast(`${verb} “${updated.title}”`, [{ label: "Undo", run: () => state.undo() }], { ms: 5000 });
    }
    const index = state.tasks.findIndex((t) => t.id === updated.id);
    if (index >= 0) state.tasks[index] = updated;
    draw();
    refreshSoon();
  } catch (err) {
    toast(`Could not update “${task.title}”: ${err.message}`, [], { kind: "error" });
  }
}

async function completeById(id) {
  await toggleComplete(taskOf(id) || (await api.getTask(id)));
}

/** Delete at once (every window sees it go); Undo restores the same task from the server. Undo is armed
 * straight away and waits for the delete to land, so a quick "u" never undoes something else. */
function removeWithUndo(task) {
  if (!task) return;
  const rows = [...$("task-list").querySelectorAll(".task")];
  const index = rows.findIndex((r) => r.dataset.id === task.id);
  const neighbour = rows[index + 1] || rows[index - 1];
  state.tasks = state.tasks.filter((t) => t.id !== task.id);
  state.selectedId = neighbour?.dataset.id || null;
  draw();
  if (neighbour) focusRow(neighbour.dataset.id);
  else $("main").focus();
  const deleted = api.deleteTask(task.id).then(() => true, (err) => {
    if (err.status === 404) return true; // gone already (another window)
    toast(`Could not delete “${task.title}”: ${err.message}`, [], { kind: "error" });
    return false;
  }).finally(() => refreshSoon());
  const undo = async () => {
    if (state.undo === undo) state.undo = null;
    if (!(await deleted)) return;
    try {
      const back = await api.restoreTask(task.id);
      announce(`Restored “${back.title}”`);
      state.selectedId = back.id;
      state.focusAfterLoad = back.id;
      refreshSoon(0);
    } catch (err) {
      toast(`Could not restore “${task.title}”: ${err.message}`, [], { kind: "error" });
    }
  };
  state.undo = undo;
  announce(`Deleted “${task.title}”. Press u to undo.`);
  toast(`Deleted “${task.title}”`, [{ label: "Undo", run: undo }], { ms: UNDO_MS, testid: "undo-toast" });
}

async function openTask(id, options = {}) {
  try {
    dialog.open(taskOf(id) || (await api.getTask(id)), undefined, options);
  } catch (err) {
    toast(`Could not open the task: ${err.message}`, [], { kind: "error" });
  }
}

function saved(task, created, { focus = true } = {}) {
  announce(created ? `Added “${task.title}”` : `Saved “${task.title}”`);
  if (!created) toast(`Saved “${task.title}”`, [], { ms: 2500, testid: "saved-toast" }); // a new task shows in the list
  if (focus) {
    state.selectedId = task.id;
    state.focusAfterLoad = task.id;
  }
  refreshSoon(0);
}

// ---- live events --------------------------------------------------------------------------

function liveEvent(event) {
  const type = event.type || "";
  const data = event.data || {};
  if (type.startsWith("com.taskstream.notification.created")) {
    center.arrived(data);
    return;
  }
  if (type.startsWith("com.taskstream.notification.read")) {
    center.readElsewhere(data);
    return;
  }
  if (!type.startsWith("com.taskstream.task.")) return;
  const task = data.task_data;
  const kind = data.event_type;
  if (kind === "deleted") {
    state.tasks = state.tasks.filter((t) => t.id !== data.task_id);
    if (dialog.isOpenFor(data.task_id)) dialog.externalChange(null);
  } else if (task) {
    const index = state.tasks.findIndex((t) => t.id === task.id);
    if (index >= 0 && task.version >= state.tasks[index].version) state.tasks[index] = task;
    if (dialog.isOpenFor(task.id)) dialog.externalChange(task);
    if (kind === "created" && data.actor === "recurring") {
      const due = dueInfo(task, zone());
      announce(`Next “${task.title}” is due ${due ? due.label : "without a date"}`);
    } else if (kind === "created" && Date.now() - lastLocalWrite() > 3000) {
      announce(`New task from another window: “${task.title}”`);
    }
  }
  draw();
  refreshSoon();
}

function connectionState(status, info) {
  document.body.dataset.live = status;
  const banner = $("conn-banner");
  if (status === "lost") {
    banner.textContent = `Live updates paused — reconnecting in ${Math.ceil(info.delay / 1000)} s…`;
    banner.hidden = false;
  } else if (status === "open") banner.hidden = true;
}

// ---- sign in / out --------------------------------------------------------------------------

/** Leave the signed-in screen; with `revoke` the session is signed out on the server first. */
async function signOut({ revoke = false, everywhere = false } = {}) {
  state.live?.close();
  if (revoke) await api.signOut({ everywhere }).catch(() => {});
  location.assign("/");
}

async function start({ signedIn = false } = {}) {
  try {
    state.me = await api.me();
  } catch {
    showAuth();
    return;
  }
  if (!state.me.date_order) { // chosen once from the browser's locale; Settings changes it
    state.me = await api.updateMe({ date_order: browserDateOrder() }).catch(() => state.me);
  }
  $("auth").hidden = true;
  $("shell").hidden = false;
  $("who").textContent = state.me.name || state.me.email;
  dialog = dialog || taskDialog({
    zone, dateOrder: () => state.me?.date_order || "DMY", onSaved: saved, onComplete: (t) => toggleComplete(t), onDelete: removeWithUndo, askNotify: askPermission,
    onClosed: () => focusRow(state.selectedId),
  });
  center = center || notificationCenter({ zone, completeTask: completeById, openTask });
  drawFilters();
  loadList();
  loadCounts();
  center.load().catch(() => {});
  state.live = connectLive({
    token: getToken, renew, onTokenChange, onEvent: liveEvent, onState: connectionState, onUnauthorized: () => signOut(),
    onReady: (reconnect) => {
      if (reconnect) {
        refreshSoon(0);
        center.load().catch(() => {});
      }
    },
  });
  document.body.dataset.ready = "true";
  // Straight after signing in, the next thing to do is usually adding a task.
  if (signedIn) $("quick-input").focus();
}

/** The search placeholder names its "/" shortcut only where a keyboard is likely (wider screens). */
function searchPlaceholder() {
  const narrow = matchMedia("(max-width: 760px)");
  const apply = () => { $("search").placeholder = narrow.matches ? "Search" : "Search  ( / )"; };
  apply();
  narrow.addEventListener("change", apply);
}

function showAuth() {
  $("shell").hidden = true;
  $("auth").hidden = false;
  signInScreen({ zones: knownZones(browserZone()), zone: browserZone(), onSignedIn: () => start({ signedIn: true }) });
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  whenUnauthorized(() => signOut());
  searchPlaceholder();
  // After a toast button is used the toast is gone; put focus back on the task list, not the page body.
  onToastActed(() => {
    if (!document.activeElement || document.activeElement === document.body) focusRow(state.selectedId);
  });
  $("signout").addEventListener("click", () => signOut({ revoke: true }));
  $("settings-button").addEventListener("click", () => settings.open(state.me));
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("load-more").addEventListener("click", () => loadList({ append: true }));
  $("search-form").addEventListener("submit", (e) => e.preventDefault());
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setFilters({ q: $("search").value.trim() }, { push: false }), 150);
  });
  const filterIds = { "f-status": "status", "f-due": "due", "f-priority": "priority", "f-tag": "tag", "f-sort": "sort" };
  for (const [id, key] of Object.entries(filterIds)) $(id).addEventListener("change", (e) => setFilters({ [key]: e.target.value }));
  document.querySelector(".sidebar").addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link) return;
    event.preventDefault();
    const next = readFilters(new URL(link.href).search);
    setFilters({ ...next, q: state.filters.q, priority: "", sort: "" });
  });
  window.addEventListener("popstate", () => {
    state.filters = readFilters();
    drawFilters();
    loadList();
  });
  const list = $("task-list");
  list.addEventListener("click", (event) => {
    const addDay = event.target.closest("button.add-day");
    if (addDay) {
      openDayAdd(addDay, { zone, created: (task) => saved(task, true, { focus: false }) });
      return;
    }
    const tagLink = event.target.closest("a.tag");
    if (tagLink) {
      event.preventDefault();
      setFilters({ tag: tagLink.dataset.tag, status: "open", due: "" });
      return;
    }
    const row = event.target.closest(".task");
    if (!row) return;
    select(row.dataset.id);
    const action = event.target.dataset.action;
    if (action === "open") openTask(row.dataset.id);
    if (action === "toggle") {
      event.preventDefault();
      toggleComplete(taskOf(row.dataset.id));
    }
  });
  list.addEventListener("focusin", (event) => {
    const row = event.target.closest(".task");
    if (row) select(row.dataset.id);
  });
  quickAdd({
    zone,
    dateOrder: () => state.me?.date_order || "DMY",
    created: (task) => saved(task, true, { focus: false }),
    openForm: (draft) => dialog.open(null, draft),
  });
  installKeys({
    quickAdd: () => $("quick-input").focus(),
    newTask: () => dialog.open(null, {}),
    search: () => { $("search").focus(); $("search").select(); },
    focusList: () => focusRow(state.selectedId),
    move,
    toggle: () => toggleComplete(taskOf(state.selectedId)),
    edit: () => state.selectedId && openTask(state.selectedId),
    history: () => state.selectedId && openTask(state.selectedId, { history: true }),
    notifications: () => $("bell").click(),
    remove: () => removeWithUndo(taskOf(state.selectedId)),
    undo: () => state.undo && state.undo(),
    help: () => $("help").showModal(),
    go: (key) => {
      const view = VIEWS.find((v) => v.key === key);
      setFilters({ ...view.filters, q: "", priority: "", sort: "" });
      focusRow(null);
    },
  });
}

localStorage.removeItem("taskstream.token"); // where older versions kept a long-lived token
const settings = settingsDialog({
  signOut,
  zones: knownZones,
  changed: (me) => {
    const moved = me.timezone !== state.me.timezone;
    state.me = me;
    if (moved) refreshSoon(0); // "today" and every due label follow the zone
  },
});
wire();
renew().then((signedIn) => (signedIn ? start() : showAuth()));
