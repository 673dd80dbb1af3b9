// Sign in and create-account forms, each with a plain button (reachable with Tab) that switches to the other; inline errors naming the field.

import { api } from "./api.js";
import { browserDateOrder } from "./time.js";

const $ = (id) => document.getElementById(id);
let wired = false;

function selectTab(which) {
  for (const name of ["signin", "register"]) $(`${name}-form`).hidden = name !== which;
  // The switch that was used is now hidden: continue in the first field of the form just shown.
  $(`${which}-form`).querySelector("input").focus();
}

function fail(form, errorEl, err) {
  errorEl.textContent = err.message;
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const input = err.field && form.elements[err.field === "username" ? "email" : err.field];
  const target = input || form.elements.email;
  if (input) input.setAttribute("aria-invalid", "true");
  target.focus();
}

async function signIn(email, password) {
  await api.signIn(email, password);
}

/** Show and wire the forms once; `onSignedIn()` runs after a successful sign-in or registration. */
export function signInScreen({ zones, zone, onSignedIn }) {
  const select = $("register-timezone");
  if (!select.options.length) {
    select.replaceChildren(...zones.map((z) => new Option(z, z)));
    select.value = zone;
  }
  $("signin-email").focus();
  if (wired) return;
  wired = true;

  $("tab-signin").addEventListener("click", () => selectTab("signin"));
  $("tab-register").addEventListener("click", () => selectTab("register"));

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await signIn(form.elements.email.value.trim(), form.elements.password.value);
      form.reset();
      $("signin-error").textContent = "";
      onSignedIn();
    } catch (err) {
      fail(form, $("signin-error"), err);
    } finally {
      button.disabled = false;
    }
  });

  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const fields = {
      email: form.elements.email.value.trim(),
      password: form.elements.password.value,
      timezone: form.elements.timezone.value,
      date_order: browserDateOrder(),
    };
    if (form.elements.name.value.trim()) fields.name = form.elements.name.value.trim();
    if (fields.password.length < 8) {
      fail(form, $("register-error"), { message: "The password needs at least 8 characters.", field: "password" });
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api.register(fields);
      await signIn(fields.email, fields.password);
      form.reset();
      $("register-error").textContent = "";
      onSignedIn();
    } catch (err) {
      const message = err.status === 409 ? "This e-mail already has an account. Sign in instead." : err.message;
      fail(form, $("register-error"), { message, field: err.field || "email" });
    } finally {
      button.disabled = false;
    }
  });
}
