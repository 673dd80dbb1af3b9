// Inline add under a day of Upcoming: "+ Add task" opens a one-line form there; the text is read like quick
// add, and the task is due that day unless the text names its own date ("Call Ann 3pm" is 15:00 that day).

import { api } from "./api.js";
import { announce, h } from "./dom.js";
import { taskBody } from "./quickadd.js";
import { longDate } from "./time.js";

/** What the text means on `day` (YYYY-MM-DD): /parse of the text with the day added, or of the text alone
 * when it names a date of its own (the added day is then left over). */
async function understood(text, day) {
  const [alone, onDay] = await Promise.all([api.parse(text), api.parse(`${text} ${day}`)]);
  return (onDay.unparsed || []).includes(day) ? alone : onDay;
}

/** Replace the day's "+ Add task" button with its form; ctx = {zone(), created(task)}. */
export function openDayAdd(button, ctx) {
  const day = button.dataset.day;
  const input = h("input", { type: "text", class: "day-input", autocomplete: "off", "aria-label": `New task on ${longDate(day)}`,
    placeholder: "e.g. Call Ann 3pm !high #work" });
  const error = h("p", { class: "form-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "secondary small" }, "Cancel");
  const form = h("form", { class: "day-add", dataset: { day } }, input, h("button", { type: "submit", class: "primary small" }, "Add"), cancel, error);
  const close = () => {
    form.replaceWith(button);
    button.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      const result = await understood(text, day);
      if (result.unparsed.length) {
        error.textContent = `Not understood: ${result.unparsed.join(", ")}`;
        return;
      }
      const task = await api.createTask(taskBody(result, text, ctx.zone()));
      input.value = "";
      error.textContent = "";
      announce(`Added “${task.title}”`);
      ctx.created(task);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  cancel.addEventListener("click", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
  button.replaceWith(form);
  input.focus();
}
