// The settings dialog: preferences (time zone, numeric dates), change the password, sign out everywhere,
// download my data, delete the account.

import { api } from "./api.js";
import { formatTime, parseTime } from "./dateinput.js";
import { announce } from "./dom.js";
import { toast } from "./notify.js";

const $ = (id) => document.getElementById(id);

function showError(form, el, err, fallbackField) {
  el.textContent = err.message;
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  const input = form.elements[err.field] || form.elements[fallbackField];
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

async function busy(button, run) {
  button.disabled = true;
  try {
    await run();
  } finally {
    button.disabled = false;
  }
}

function download(data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `taskstream-${data.exported_at.slice(0, 10)}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

/**
 * Wire the dialog once; `signOut({revoke, everywhere})` leaves the signed-in screen, `changed(me)` gets the
 * user after saved preferences, `zones` lists the time zones offered. Returns {open(me)}.
 */
export function settingsDialog({ signOut, changed, zones }) {
  const dialog = $("settings");

  $("prefs-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const allDay = parseTime(form.elements.all_day_reminder_time.value);
        if (!allDay) {
          showError(form, $("prefs-error"), { message: "Reminders of all-day tasks: write a time such as 09:00.", field: "all_day_reminder_time" });
          return;
        }
        const me = await api.updateMe({
          timezone: form.elements.timezone.value, date_order: form.elements.date_order.value, all_day_reminder_time: allDay,
        });
        $("prefs-error").textContent = "";
        form.elements.all_day_reminder_time.value = formatTime(me.all_day_reminder_time); // "7pm" → "19:00"
        changed(me);
        toast("Preferences saved", [], { ms: 2500, testid: "prefs-saved" });
      } catch (err) {
        showError(form, $("prefs-error"), err, "timezone");
      }
    });
  });

  $("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const current = form.elements.current_password.value;
    const next = form.elements.new_password.value;
    if (next.length < 8) {
      showError(form, $("password-error"), { message: "The new password needs at least 8 characters.", field: "new_password" });
      return;
    }
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await api.changePassword(current, next);
        form.reset();
        $("password-error").textContent = "";
        toast("Password changed. Your other devices were signed out.", [], { testid: "password-changed" });
        announce("Password changed");
      } catch (err) {
        showError(form, $("password-error"), err, "current_password");
      }
    });
  });

  $("signout-everywhere").addEventListener("click", (event) =>
    busy(event.target, () => signOut({ revoke: true, everywhere: true })),
  );

  $("export-data").addEventListener("click", (event) =>
    busy(event.target, async () => {
      try {
        download(await api.exportData());
        announce("Your data was downloaded");
      } catch (err) {
        toast(`Could not export: ${err.message}`, [], { kind: "error" });
      }
    }),
  );

  $("delete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    if (!confirm("Delete your account and all of its tasks for good?")) return;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await api.deleteAccount(form.elements.password.value);
        signOut();
      } catch (err) {
        showError(form, $("delete-error"), err, "password");
      }
    });
  });

  return {
    open(me) {
      $("settings-who").textContent = me.name ? `${me.name} · ${me.email}` : me.email;
      for (const id of ["prefs-error", "password-error", "delete-error"]) $(id).textContent = "";
      const select = $("pref-timezone");
      select.replaceChildren(...zones(me.timezone).map((z) => new Option(z, z)));
      select.value = me.timezone;
      $("pref-date-order").value = me.date_order || "DMY";
      $("pref-all-day").value = formatTime(me.all_day_reminder_time || "09:00");
      dialog.showModal();
      select.focus();
    },
  };
}
