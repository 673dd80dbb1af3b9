// The settings dialog: change the password, sign out everywhere, download my data, delete the account.

import { api } from "./api.js";
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

/** Wire the dialog once; `signOut({revoke, everywhere})` leaves the signed-in screen. Returns {open(me)}. */
export function settingsDialog({ signOut }) {
  const dialog = $("settings");

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
      for (const id of ["password-error", "delete-error"]) $(id).textContent = "";
      dialog.showModal();
      $("current-password").focus();
    },
  };
}
