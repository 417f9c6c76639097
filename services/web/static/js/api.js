// Every call goes to this origin: `/auth/…` for the session, `/api/<service>/v1/…` for the services. The session
// cookie is HttpOnly (this script never sees it); changes carry the CSRF token the session hands out.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function signInAgain() {
  const next = encodeURIComponent(location.pathname);
  location.assign(`/signin?next=${next}`);
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (response.status === 401 && !path.startsWith("/auth/signin")) {
    signInAgain();
    throw new ApiError(401, null);
  }
  const text = response.status === 204 ? "" : await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => call("GET", path);

/** GET, asked again for a few seconds while the service answers 403 or 404: right after an accept, intake and
 * SLA learn of the new owner (or the contact) a moment after routing does. */
export async function getSoon(path, { tries = 8, delayMs = 250 } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await get(path);
    } catch (error) {
      if (!(error instanceof ApiError) || ![403, 404].includes(error.status) || attempt >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs * attempt));
    }
  }
}
export const post = (path, body = {}) => call("POST", path, body);
export const put = (path, body = {}) => call("PUT", path, body);

/** `/api/<service>/v1/…` with query parameters (empty ones left out). */
export function svc(service, path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const qs = query.toString();
  return `/api/${service}/v1${path}${qs ? `?${qs}` : ""}`;
}

export async function me() {
  const session = await get("/auth/me");
  csrfToken = session.csrf_token;
  return session;
}

export async function signOut() {
  try {
    await call("POST", "/auth/signout", {});
  } finally {
    location.assign("/signin");
  }
}
