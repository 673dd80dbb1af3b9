// REST client for /api/v1: bearer token from localStorage, JSON in and out, errors as ApiError.

const BASE = "/api/v1";
const TOKEN_KEY = "taskstream.token";

export class ApiError extends Error {
  /** An HTTP error with the server's message and the field it names (may be null). */
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

/** Register what to do when the server answers 401 (the token expired or was revoked). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

let lastWrite = 0;
const READ_ONLY_POSTS = new Set(["/parse", "/recurrence/preview"]); // POSTs that change nothing

/** When this page last sent a change (ms since epoch): live events right after it are our own echo. */
export function lastLocalWrite() {
  return lastWrite;
}

async function request(method, path, { body, form, headers = {}, keepalive = false, auth = true } = {}) {
  if (method !== "GET" && !READ_ONLY_POSTS.has(path)) lastWrite = Date.now();
  const init = { method, headers: { Accept: "application/json", ...headers }, keepalive };
  const token = getToken();
  if (auth && token) init.headers.Authorization = `Bearer ${token}`;
  if (form) {
    init.body = new URLSearchParams(form);
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && auth && token) onUnauthorized();
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
  signIn: (email, password) =>
    request("POST", "/auth/token", { form: { username: email, password }, auth: false }),
  me: () => request("GET", "/me"),
  listTasks: (params) => request("GET", `/tasks${query(params)}`),
  getTask: (id) => request("GET", `/tasks/${encodeURIComponent(id)}`),
  createTask: (fields) => request("POST", "/tasks", { body: fields }),
  updateTask: (id, fields, version) =>
    request("PATCH", `/tasks/${encodeURIComponent(id)}`, {
      body: fields,
      headers: version ? { "If-Match": `"${version}"` } : {},
    }),
  deleteTask: (id, { keepalive = false } = {}) =>
    request("DELETE", `/tasks/${encodeURIComponent(id)}`, { keepalive }),
  complete: (id) => request("POST", `/tasks/${encodeURIComponent(id)}/complete`),
  reopen: (id) => request("POST", `/tasks/${encodeURIComponent(id)}/reopen`),
  history: (id) => request("GET", `/tasks/${encodeURIComponent(id)}/history`),
  tags: () => request("GET", "/tags"),
  notifications: () => request("GET", "/notifications"),
  markRead: (id) => request("POST", `/notifications/${encodeURIComponent(id)}/read`),
  snooze: (id, duration) =>
    request("POST", `/notifications/${encodeURIComponent(id)}/snooze`, { body: { for: duration } }),
  parse: (text) => request("POST", "/parse", { body: { text } }),
  /** {recurrence, due_at|due_date, timezone, repeat_from, count} → {recurrence, text, occurrences}; 422 for a bad rule. */
  previewRecurrence: (fields) => request("POST", "/recurrence/preview", { body: fields }),
};
