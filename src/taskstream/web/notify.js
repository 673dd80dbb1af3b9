// Notifications: the bell with its unread count and list (mark read, snooze), in-app toasts with
// actions, and browser notifications (Notification API) once the user allowed them.

import { api } from "./api.js";
import { h, announce } from "./dom.js";
import { addDays, dueInfo, durationUntil, instantAt, todayIn } from "./time.js";

/** Snooze choices: button label, words for the confirmation, and the ISO 8601 duration from now in zone `tz`. */
/** `short` is the compact text used on the reminder toast (its accessible name stays `label`). */
const SNOOZES = [
  { label: "Snooze 10 min", short: "Snooze 10 min", words: "for 10 minutes", duration: () => "PT10M" },
  { label: "Snooze 1 hour", short: "1 hour", words: "for 1 hour", duration: () => "PT1H" },
  {
    label: "Snooze until tomorrow 09:00",
    short: "Tomorrow 09:00",
    words: "until tomorrow 09:00",
    duration: (tz) => durationUntil(instantAt(addDays(todayIn(tz), 1), "09:00", tz)),
  },
];

let afterToastAction = () => {};

/** `fn()` runs after the user used a toast's button (the toast is gone by then), to place focus. */
export function onToastActed(fn) {
  afterToastAction = fn;
}

/**
 * Show a toast with buttons [{label, run, name?}] for `ms` milliseconds (0 = until dismissed). Returns {close}.
 * Layout: the message with ✕ at its top right, then a row of action buttons that wraps.
 */
export function toast(text, actions = [], { ms = 6000, kind = "info", testid } = {}) {
  const region = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, "data-testid": testid });
  const close = () => el.remove();
  const acted = async (run) => {
    close();
    try {
      await run();
    } finally {
      afterToastAction();
    }
  };
  el.append(
    h("p", {}, text),
    h("button", { type: "button", class: "icon-button toast-close", "aria-label": "Dismiss", onclick: () => acted(() => {}) }, "✕"),
    h("div", { class: "toast-actions" },
      ...actions.map(({ label, name, run }) => h("button", {
        type: "button", class: "secondary", "aria-label": name && name !== label ? name : null, onclick: () => acted(run),
      }, label))),
  );
  region.append(el);
  if (ms) setTimeout(close, ms);
  return { el, close };
}

/** May this page show browser notifications, and has the user been asked? */
export function permissionState() {
  return "Notification" in window ? Notification.permission : "unsupported";
}

/** Ask for permission to show browser notifications, once, after a user gesture such as adding a reminder. */
export async function askPermission() {
  if (permissionState() !== "default") return permissionState();
  try {
    return await Notification.requestPermission();
  } catch {
    return "denied";
  }
}

/** The bell and its panel. ctx = {zone(), completeTask(id), openTask(id)}. */
export function notificationCenter(ctx) {
  const bell = document.getElementById("bell");
  const count = document.getElementById("bell-count");
  const panel = document.getElementById("notif-panel");
  const list = document.getElementById("notif-list");
  let items = [];

  function dueText(n) {
    if (!n.due_at) return "";
    const info = dueInfo(n.due_at.length === 10 ? { due_date: n.due_at } : { due_at: n.due_at }, ctx.zone());
    return info ? `Due ${info.label}` : "";
  }

  function render() {
    const unread = items.filter((n) => !n.read_at).length;
    count.textContent = unread ? String(unread) : "";
    count.hidden = !unread;
    bell.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
    list.replaceChildren(...items.map((n) => h("li", { class: n.read_at ? "read" : "unread", dataset: { id: n.id } },
      h("p", { class: "n-title" }, n.title), h("p", { class: "n-due" }, dueText(n)),
      h("div", { class: "n-actions" },
        n.read_at ? null : h("button", { type: "button", class: "secondary", onclick: () => markRead(n) }, "Mark read"),
        ...SNOOZES.map((choice) => h("button", { type: "button", class: "secondary", onclick: () => snooze(n, choice) }, choice.label)),
        h("button", { type: "button", class: "secondary", onclick: () => { closePanel(); ctx.openTask(n.task_id); } }, "Open task")))));
    if (!items.length) list.replaceChildren(h("li", { class: "empty" }, "No reminders yet. Add one to a task and it appears here when it is due."));
  }

  function replace(updated) {
    items = items.map((n) => (n.id === updated.id ? updated : n));
    render();
  }

  async function markRead(n) {
    replace(await api.markRead(n.id));
  }

  async function snooze(n, choice) {
    try {
      replace(await api.snooze(n.id, choice.duration(ctx.zone())));
      announce(`Snoozed “${n.title}” ${choice.words}`);
      toast(`Snoozed “${n.title}” ${choice.words}`, [], { ms: 3000, testid: "snoozed-toast" });
    } catch (err) {
      toast(`Could not snooze: ${err.message}`, [], { kind: "error" });
    }
  }

  function closePanel() {
    panel.hidden = true;
    bell.setAttribute("aria-expanded", "false");
  }

  bell.addEventListener("click", () => {
    const opening = panel.hidden;
    panel.hidden = !opening;
    bell.setAttribute("aria-expanded", String(opening));
    if (opening) (panel.querySelector("button") || panel).focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closePanel();
      bell.focus();
    }
  });

  return {
    async load() {
      items = await api.notifications();
      render();
    },
    closePanel,
    /** Another window marked a notification read (or snoozed it): the badge and the list follow. */
    readElsewhere({ id, read_at }) {
      if (!items.some((n) => n.id === id && !n.read_at)) return;
      items = items.map((n) => (n.id === id ? { ...n, read_at } : n));
      render();
    },
    /** A reminder arrived over the WebSocket: list it, toast it, and raise a browser notification. */
    arrived(n) {
      if (items.some((x) => x.id === n.id)) return;
      items = [{ read_at: null, created_at: new Date().toISOString(), ...n }, ...items];
      render();
      const due = dueText(n);
      const text = `Reminder: ${n.title}${due ? ` — ${due}` : ""}`;
      announce(text);
      toast(text, [
        { label: "Complete", run: async () => { await ctx.completeTask(n.task_id); await markRead(n).catch(() => {}); } },
        ...SNOOZES.map((choice) => ({ label: choice.short, name: choice.label, run: () => snooze(n, choice) })),
      ], { ms: 0, kind: "reminder", testid: "reminder-toast" });
      if (permissionState() === "granted") {
        const shown = new Notification(`Reminder: ${n.title}`, { body: due, tag: n.id, icon: "/static/icon.svg" });
        shown.addEventListener("click", () => {
          window.focus();
          ctx.openTask(n.task_id);
        });
      }
    },
  };
}
