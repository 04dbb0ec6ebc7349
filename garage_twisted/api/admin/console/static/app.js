// The console's shell: sign-in, the page menu, and the page shown for the
// location's hash (#/cluster, #/buckets?id=..., ...). Each page module
// exports render(root, ctx) and may return a function that stops what it
// started (the Activity page's scraping).

import { call, clearToken, getSettings, getToken, setToken } from "./api.js";
import { clear, describe, h } from "./dom.js";
import * as activity from "./pages/activity.js";
import * as buckets from "./pages/buckets.js";
import * as cluster from "./pages/cluster.js";
import * as keys from "./pages/keys.js";
import * as objects from "./pages/objects.js";
import * as work from "./pages/work.js";

const PAGES = { cluster, buckets, keys, objects, work, activity };

const $ = (id) => document.getElementById(id);

let stopPage = null;
let caller = null;
// Said at the top of the next page drawn (what an action did, before the
// page it changed is drawn again).
let flash = null;

// Checks a token: the admin API says whose it is (GetCurrentAdminTokenInfo,
// allowed to any valid token); a node without admin tokens answers
// NoSuchEndpoint after checking the token, which is as good; a scoped
// token without that endpoint is refused for its scope, not as invalid.
async function whoIs(token) {
  try {
    return await call("GetCurrentAdminTokenInfo", { token });
  } catch (err) {
    if (err.code === "NoSuchEndpoint") return { name: "admin token", scope: ["*"] };
    // Valid, but not allowed to say more about itself.
    if (err.status === 403 && /scope/.test(err.message)) {
      return { name: "scoped token", scope: [] };
    }
    throw err;
  }
}

function showSignIn(message) {
  if (stopPage) stopPage();
  stopPage = null;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("page").hidden = true;
  clear($("page"));
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("token").focus();
}

function showApp() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  $("page").hidden = false;
  const scope = caller && Array.isArray(caller.scope) ? caller.scope : [];
  let reach = "scope unknown";
  if (scope.includes("*")) reach = "all endpoints";
  else if (scope.length) reach = `${scope.length} endpoint${scope.length === 1 ? "" : "s"}`;
  $("who").textContent = caller ? `${caller.name || "token"} · ${reach}` : "";
  $("who").title = scope.join(", ");
  route();
}

async function route() {
  if (!getToken()) return;
  if (stopPage) stopPage();
  stopPage = null;
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, query] = hash.split("?");
  const page = PAGES[name] ? name : "cluster";
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.page === page);
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A fresh element per visit: a slow page still loading writes into its
  // own, detached element, never into the next page's.
  const root = h("div", { class: "page-body", dataset: { page } });
  clear($("page")).append(root);
  if (flash) {
    $("page").prepend(h("p", { class: "ok flash", id: "flash", role: "status" }, flash));
    flash = null;
  }
  const ctx = {
    params: new URLSearchParams(query || ""),
    settings: await getSettings(),
    caller,
    navigate(target) {
      if (location.hash === target) route();
      else location.hash = target;
    },
    refresh: () => route(),
    flash(text) {
      flash = text;
    },
  };
  try {
    const stop = await PAGES[page].render(root, ctx);
    if (typeof stop === "function") stopPage = stop;
  } catch (err) {
    root.append(h("p", { class: "error", role: "alert" }, describe(err)));
  }
  root.dataset.ready = "true";
}

async function start() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("sign-in-button").disabled = true;
    $("sign-in-error").textContent = "";
    try {
      caller = await whoIs(token);
      setToken(token);
      $("token").value = "";
      showApp();
    } catch (err) {
      showSignIn(describe(err));
    } finally {
      $("sign-in-button").disabled = false;
    }
  });
  $("sign-out").addEventListener("click", () => {
    clearToken();
    caller = null;
    showSignIn("");
  });
  window.addEventListener("hashchange", route);
  const token = getToken();
  if (!token) {
    showSignIn("");
    return;
  }
  try {
    caller = await whoIs(token);
    showApp();
  } catch (err) {
    clearToken();
    showSignIn(describe(err));
  }
}

start();
