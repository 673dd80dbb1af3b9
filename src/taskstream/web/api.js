// REST client for /api/v1: a short-lived bearer token kept in memory and renewed from the session's
// HttpOnly refresh cookie, JSON in and out, errors as ApiError.

const BASE = "/api/v1";
const EARLY_MS = 60_000; // refresh the access token this long before it expires

export class ApiError extends Error {
  /** An HTTP error with the server's message and the field it names (may be null). */
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

// The access token lives in this page's memory only. The refresh token is an HttpOnly cookie the server
// sets (scripts never see it); trading it for a new access token rotates it, so tabs take turns (Web Locks).
let access = null;
let refreshTimer = null;
const tokenListeners = new Set();

export function getToken() {
  return access;
}

/** Call `listener(token)` whenever the access token is renewed (the live socket re-authenticates). */
export function onTokenChange(listener) {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

function keep(tokens) {
  access = tokens ? tokens.access_token : null;
  clearTimeout(refreshTimer);
  if (tokens) {
    const wait = Math.max(5_000, tokens.expires_in * 1000 - EARLY_MS);
    refreshTimer = setTimeout(() => renew().catch(() => {}), wait);
    for (const listener of tokenListeners) listener(access);
  }
}

let renewing = null;

/** Trade the refresh cookie for a new access token; true when the session is still open. */
export function renew() {
  if (!renewing) {
    const trade = () => fetch(`${BASE}/auth/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token" }),
      headers: { Accept: "application/json" },
    });
    const locked = navigator.locks ? navigator.locks.request("taskstream-refresh", trade) : trade();
    renewing = locked
      .then(async (response) => {
        if (!response.ok) {
          keep(null);
          return false;
        }
        keep(await response.json());
        return true;
      })
      .catch(() => false)
      .finally(() => { renewing = null; });
  }
  return renewing;
}

let onUnauthorized = () => {};

/** Register what to do when the session has ended (signed out elsewhere, password changed, expired). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

let lastWrite = 0;
const READ_ONLY_POSTS = new Set(["/parse", "/recurrence/preview", "/counts"]); // POSTs that change nothing

/** When this page last sent a change (ms since epoch): live events right after it are our own echo. */
export function lastLocalWrite() {
  return lastWrite;
}

async function request(method, path, options = {}) {
  const { auth = true } = options;
  if (auth && !access) await renew();
  const response = await send(method, path, options);
  if (auth && (await sessionEnded(response)) && (await renew())) return parse(await send(method, path, options), auth);
  return parse(response, auth);
}

/** A 401 about the token itself; a 401 naming a field (a wrong current password) is the user's to fix. */
async function sessionEnded(response) {
  if (response.status !== 401) return false;
  const data = await response.clone().json().catch(() => null);
  return !(data && data.field);
}

async function send(method, path, { body, form, headers = {}, auth = true } = {}) {
  if (method !== "GET" && !READ_ONLY_POSTS.has(path)) lastWrite = Date.now();
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (auth && access) init.headers.Authorization = `Bearer ${access}`;
  if (form) {
    init.body = new URLSearchParams(form);
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
}

async function parse(response, auth) {
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (auth && response.status === 401 && !(data && data.field)) onUnauthorized();
    const message = (data && (data.message || data.detail)) || `Request failed (${response.status})`;
    throw new ApiError(response.status, String(message), data ? data.field ?? null : null);
  }
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const api = {
  register: (fields) => request("POST", "/auth/register", { body: fields, auth: false }),
  signIn: async (email, password) =>
    keep(await request("POST", "/auth/token", { form: { username: email, password }, auth: false })),
  /** Sign out this session, or with everywhere every session of the account. */
  signOut: async ({ everywhere = false } = {}) => {
    try {
      await request("POST", `/auth/logout${everywhere ? "?everywhere=true" : ""}`);
    } finally {
      keep(null);
    }
  },
  changePassword: (current, next) =>
    request("POST", "/me/password", { body: { current_password: current, new_password: next } }),
  exportData: () => request("GET", "/me/export"),
  deleteAccount: async (password) => {
    await request("DELETE", "/me", { body: { password } });
    keep(null);
  },
  me: () => request("GET", "/me"),
  /** {name?, timezone?, date_order?, all_day_reminder_time?} → the user with those settings. */
  updateMe: (fields) => request("PATCH", "/me", { body: fields }),
  listTasks: (params) => request("GET", `/tasks${query(params)}`),
  getTask: (id) => request("GET", `/tasks/${encodeURIComponent(id)}`),
  createTask: (fields) => request("POST", "/tasks", { body: fields }),
  updateTask: (id, fields, version) =>
    request("PATCH", `/tasks/${encodeURIComponent(id)}`, {
      body: fields,
      headers: version ? { "If-Match": `"${version}"` } : {},
    }),
  deleteTask: (id) => request("DELETE", `/tasks/${encodeURIComponent(id)}`),
  restoreTask: (id) => request("POST", `/tasks/${encodeURIComponent(id)}/restore`),
  complete: (id) => request("POST", `/tasks/${encodeURIComponent(id)}/complete`),
  reopen: (id) => request("POST", `/tasks/${encodeURIComponent(id)}/reopen`),
  history: (id) => request("GET", `/tasks/${encodeURIComponent(id)}/history`),
  /** {name: list filters} → {counts: {name: n}, cap, tags}: the navigation's figures in one request. */
  counts: (views) => request("POST", "/counts", { body: { views } }),
  notifications: () => request("GET", "/notifications"),
  markRead: (id) => request("POST", `/notifications/${encodeURIComponent(id)}/read`),
  snooze: (id, duration) =>
    request("POST", `/notifications/${encodeURIComponent(id)}/snooze`, { body: { for: duration } }),
  parse: (text) => request("POST", "/parse", { body: { text } }),
  /** {recurrence, due_at|due_date, timezone, repeat_from, count} → {recurrence, text, occurrences}; 422 for a bad rule. */
  previewRecurrence: (fields) => request("POST", "/recurrence/preview", { body: fields }),
};
