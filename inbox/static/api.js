// The /v1 API as the page uses it: the session cookie, the CSRF header, errors as toasts.

import { icon } from "./icons.js";

const closeIcon = () => icon("close", "icon toast-x");

export const boot = JSON.parse(document.getElementById("inbox-boot").textContent);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function signedOut() {
  window.location.assign("/inbox/login");
}

/**
 * A request to the API; resolves with the parsed JSON (null for 204).
 * `body` is sent as JSON unless it is FormData. `quiet` skips the error toast.
 */
export async function api(method, path, { body, query, quiet = false, headers = {}, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers }, signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = boot.csrf_token;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    const failure = new ApiError(0, "NETWORK", "The server cannot be reached. Check the connection and try again.", null);
    if (!quiet) toast(failure.message);
    throw failure;
  }
  if (response.status === 401) {
    signedOut();
    throw new ApiError(401, "UNAUTHORIZED", "The session has ended.", null);
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    const failure = new ApiError(
      response.status,
      error.code || `HTTP_${response.status}`,
      error.message || `The request failed (${response.status}).`,
      error.details || null,
    );
    if (!quiet) toast(describe(failure));
    throw failure;
  }
  return data;
}

/** An API error as one sentence: its message, then what its details name. */
export function describe(error) {
  let text = error.message || "Something went wrong.";
  if (text.length) text = text[0].toUpperCase() + text.slice(1);
  const details = error.details;
  if (details && typeof details === "object" && !Array.isArray(details)) {
    const parts = [];
    for (const [field, reason] of Object.entries(details)) {
      if (typeof reason === "string" && parts.length < 3) parts.push(`${field}: ${reason}`);
    }
    if (parts.length) text += ` (${parts.join("; ")})`;
  }
  return text;
}

/** A message for the user, read out by screen readers (role=alert); it goes after a while. */
export function toast(message, { kind = "error", timeout = 6000 } = {}) {
  const host = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = `toast toast-${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.append(closeIcon());
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  host.append(item);
  while (host.children.length > 4) host.firstElementChild.remove();
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
