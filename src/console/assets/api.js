// The admin API, as the console calls it: the session cookie goes along by
// itself; state-changing calls add the session's CSRF token.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const listeners = new Set();
/** `fn()` runs when a call finds the session gone (401). */
export function onLoggedOut(fn) {
  listeners.add(fn);
}

export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  let resp;
  try {
    resp = await fetch("/admin/api/" + path, init);
  } catch (e) {
    throw new ApiError(0, "network_error", "the proxy did not answer: " + e.message);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error;
    if (resp.status === 401 && path !== "login") listeners.forEach((fn) => fn());
    throw new ApiError(resp.status, err ? err.type : "http_error", err ? err.message : `HTTP ${resp.status}`);
  }
  return data;
}

export const get = (path) => api("GET", path);

/** True for the answers of a route the request store serves while it is off or absent. */
export function storeMissing(e) {
  return e instanceof ApiError && (e.status === 404 || e.status === 503);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const text = q.toString();
  return text ? "?" + text : "";
}
