// The admin API v2 client: one bearer token, kept in sessionStorage (this
// tab only, gone when it closes), sent as an Authorization header; never a
// cookie (no ambient authority for another site to borrow), never a URL.

const TOKEN_KEY = "garage-console-token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, endpoint) {
    super(message);
    this.status = status;
    this.code = code;
    this.endpoint = endpoint;
  }
}

// Calls /v2/<name>: GET with `query`, or POST with the JSON `body` (an
// operation that takes POST without a body gets `body: {}`).
export async function call(name, { query, body, token } = {}) {
  const url = new URL(`/v2/${encodeURIComponent(name)}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const headers = { Authorization: `Bearer ${token || getToken() || ""}` };
  const init = { method: body === undefined ? "GET" : "POST", headers, credentials: "omit",
                 cache: "no-store", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "NetworkError", `the node did not answer (${err.message})`, name);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text.trim() ? JSON.parse(text) : null;
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.code) || `HTTP ${response.status}`;
    const message = (data && data.message) || text.trim() || response.statusText;
    throw new ApiError(response.status, code, message, name);
  }
  return data;
}

// Node-scoped operations answer {success: {node: answer}, error: {node: msg}}.
export function perNode(answer) {
  return {
    success: (answer && answer.success) || {},
    error: (answer && answer.error) || {},
  };
}

// The console's settings (S3 region, whether /s3/ is offered).
let settings = null;

export async function getSettings() {
  if (!settings) {
    const response = await fetch("settings.json", { cache: "no-store", credentials: "omit" });
    settings = await response.json();
  }
  return settings;
}
