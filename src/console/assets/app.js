// The console's shell: login, the navigation, and one page at a time by
// the location's hash (#/overview, #/upstreams, #/clients, #/requests,
// #/usage).

import { api, get, onLoggedOut, setCsrf, ApiError } from "./api.js";
import { clear, h, messageBox, put } from "./dom.js";
import * as overview from "./pages/overview.js";
import * as upstreams from "./pages/upstreams.js";
import * as clients from "./pages/clients.js";
import * as requests from "./pages/requests.js";
import * as usage from "./pages/usage.js";

const PAGES = [
  { path: "overview", title: "Overview", page: overview },
  { path: "upstreams", title: "Upstreams", page: upstreams },
  { path: "clients", title: "Clients", page: clients },
  { path: "requests", title: "Requests", page: requests },
  { path: "usage", title: "Usage", page: usage },
];

const root = document.getElementById("app");
let cleanup = null;
let shell = null;

function stopPage() {
  if (cleanup) {
    try {
      cleanup();
    } catch (_) {
      // A page that fails to clean up must not stop the next one.
    }
    cleanup = null;
  }
}

function showLogin(reason) {
  stopPage();
  shell = null;
  setCsrf(null);
  const msg = messageBox();
  if (reason) msg.set(reason, "error");
  const key = h("input", { type: "password", id: "admin-key", name: "key", autocomplete: "current-password", required: true, autofocus: true });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in");
  const form = h("form", {
    id: "login-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      msg.set("");
      try {
        const session = await api("POST", "login", { key: key.value });
        key.value = "";
        setCsrf(session.csrfToken);
        start();
      } catch (e) {
        key.value = "";
        msg.set(e.message, "error");
        key.focus();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("label", { for: "admin-key" }, "Admin key (ADMIN_ACCESS_KEY, or PROXY_ACCESS_KEY when unset)"),
  key, submit, msg);
  clear(root).appendChild(
    h("main", { id: "main", class: "login" },
      h("div", { class: "panel" },
        h("h1", {}, "claude-proxy console"),
        h("p", { class: "muted" }, "Log in with the admin key the proxy printed or was given."),
        form)));
  document.title = "Log in · claude-proxy";
  key.focus();
}

function buildShell(version) {
  const nav = h("nav", { class: "tabs", "aria-label": "Pages" },
    PAGES.map((p) => h("a", { href: "#/" + p.path, "data-page": p.path }, p.title)));
  const logout = h("button", {
    type: "button",
    id: "logout",
    onclick: async () => {
      try {
        await api("POST", "logout");
      } catch (_) {
        // Logged out anyway: the session is gone or was already.
      }
      location.hash = "";
      showLogin();
    },
  }, "Log out");
  const main = h("main", { id: "main", tabindex: "-1" });
  put(clear(root), 
    h("header", { class: "top" },
      h("div", { class: "brand" }, h("h1", {}, "claude-proxy"), h("span", { class: "muted", id: "version" }, version ? "v" + version : "")),
      nav, logout),
    main);
  return { nav, main };
}

function route() {
  if (!shell) return;
  const hash = location.hash;
  // In-page anchors (the skip link) are not pages: the page stays.
  const isPage = !hash || hash.startsWith("#/");
  if (!isPage && shell.main.firstChild) return;
  const name = (isPage ? hash.slice(2).split("?")[0] : "") || "overview";
  const entry = PAGES.find((p) => p.path === name) || PAGES[0];
  for (const a of shell.nav.querySelectorAll("a")) {
    if (a.dataset.page === entry.path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  stopPage();
  clear(shell.main);
  document.title = entry.title + " · claude-proxy";
  try {
    cleanup = entry.page.render(shell.main) || null;
  } catch (e) {
    shell.main.appendChild(h("p", { class: "message error" }, "This page failed: " + e.message));
  }
}

async function start() {
  let version = "";
  try {
    const status = await get("status");
    version = status.version;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin();
  }
  shell = buildShell(version);
  route();
}

async function boot() {
  try {
    const session = await get("session");
    setCsrf(session.csrfToken);
    await start();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showLogin();
    else clear(root).appendChild(h("p", { class: "message error" }, "Cannot reach the admin API: " + e.message));
  }
}

onLoggedOut(() => {
  if (shell) showLogin("Your session ended; log in again.");
});
window.addEventListener("hashchange", route);
boot();
