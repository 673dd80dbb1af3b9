// Keyboard shortcuts. Single keys act only when focus is not in a text field or dialog.

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(target.type);
}

/**
 * Install the shortcuts. `act` = {quickAdd, newTask, search, move(+1|-1), toggle, edit, history, notifications, remove, undo, help, go(viewKey)}.
 */
export function installKeys(act) {
  let pendingG = 0;
  const goKeys = { i: "inbox", t: "today", u: "upcoming", o: "overdue", d: "completed" };
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target.id === "search") {
        event.target.blur();
        act.focusList();
      }
      return;
    }
    const key = event.key;
    if (pendingG && Date.now() - pendingG < 1500 && goKeys[key]) {
      pendingG = 0;
      event.preventDefault();
      act.go(goKeys[key]);
      return;
    }
    pendingG = 0;
    const onRow = event.target instanceof Element && event.target.closest(".task");
    const handlers = {
      a: act.quickAdd, q: act.quickAdd, n: act.newTask, "/": act.search,
      j: () => act.move(1), k: () => act.move(-1), ArrowDown: onRow ? () => act.move(1) : null, ArrowUp: onRow ? () => act.move(-1) : null,
      x: act.toggle, c: act.toggle, e: act.edit, h: act.history, b: act.notifications, "!": act.notifications, Delete: act.remove, "#": act.remove, u: act.undo, "?": act.help,
      g: () => { pendingG = Date.now(); },
    };
    const run = handlers[key];
    if (run) {
      event.preventDefault();
      run();
    }
  });
}
