/* mailpull admin web UI: plain JavaScript, no framework. Every value from
 * the server is put into the page with textContent, never as HTML. */
"use strict";

const API = "/api/v1/";
let me = null;
let csrf = "";
let editing = null;	/* account id being edited, null when adding */

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};

async function call(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== "login") { showLogin(); }
  return { status: r.status, ok: r.ok, data: data || {} };
}

function flash(msg, bad) {
  const f = $("#flash");
  f.textContent = msg;
  f.className = "flash" + (bad ? " bad" : "");
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 5000);
}

function fmtTime(t) {
  if (!t) return "never";
  const d = new Date(t * 1000);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = true;
  $("#view-" + view).hidden = false;
  for (const a of document.querySelectorAll("header nav a"))
    a.classList.toggle("active", a.id === "nav-" + view);
}

/* ---- login ---- */

function showLogin() {
  me = null;
  csrf = "";
  $("#top").hidden = true;
  show("login");
  $("#login-user").focus();
}

async function login(ev) {
  ev.preventDefault();
  const r = await call("POST", "login", {
    user: $("#login-user").value, password: $("#login-password").value });
  $("#login-password").value = "";
  const err = $("#login-error");
  if (!r.ok) {
    err.textContent = r.status === 429 ? "Too many failed logins; try again in a few minutes." :
      (r.data.error || "Login failed");
    err.hidden = false;
    return;
  }
  err.hidden = true;
  csrf = r.data.csrf;
  me = r.data.user;
  enter();
}

async function logout() {
  await call("POST", "logout");
  showLogin();
}

function enter() {
  $("#top").hidden = false;
  $("#who").textContent = me.name + " (" + me.role + ")";
  for (const e of document.querySelectorAll(".admin-only"))
    e.hidden = me.role !== "admin";
  for (const e of document.querySelectorAll(".staff-only"))
    e.hidden = me.role === "user";
  route();
}

function route() {
  if (!me) return;
  const h = location.hash.replace(/^#/, "");
  if (h === "settings" && me.role === "admin") loadSettings();
  else if (h === "users" && me.role === "admin") loadUsers();
  else if (h === "groups" && me.role !== "user") loadGroups();
  else loadAccounts();
}

/* ---- accounts ---- */

function badge(a) {
  const s = a.status || {};
  const why = s.last_error || (s.last_run && s.last_run.summary) || "";
  if (a.oauth2_token && a.oauth2_token.state !== "authorized" && a.enabled)
    return el("span", { class: "badge failing", title: a.oauth2_token.authorize }, "authorization needed");
  if (s.state === "failing" || s.state === "auth-failing")
    return el("span", { class: "badge failing", title: why },
      (s.state === "auth-failing" ? "login refused since " : "failing since ") + fmtTime(s.failing_since));
  if (s.state === "disabled") return el("span", { class: "badge disabled" }, "disabled");
  if (s.state === "ok") return el("span", { class: "badge ok" }, "ok");
  return el("span", { class: "badge new" }, "not checked yet");
}

async function loadAccounts() {
  show("accounts");
  const r = await call("GET", "accounts");
  if (!r.ok) return;
  const body = $("#accounts-body");
  body.replaceChildren();
  $("#accounts-empty").hidden = r.data.length > 0;
  $("#accounts-table").hidden = r.data.length === 0;
  for (const a of r.data) {
    const last = a.status && a.status.last_run;
    const tr = el("tr", { "data-id": a.id },
      el("td", {}, el("strong", {}, a.id), el("span", { class: "sub" }, a.protocol.toUpperCase() + " · " + a.user)),
      el("td", {}, a.host + ":" + a.effective_port,
        el("span", { class: "sub" }, a.security + (a.verify ? "" : " · certificate not verified"))),
      el("td", {}, a.recipients.join(", "), el("span", { class: "sub" }, a.policy === "keep-days" ?
        "delete after " + a.keep_days + " days" : a.policy)),
      el("td", {}, badge(a),
        (a.status && a.status.last_error && a.status.state !== "ok") ?
          el("span", { class: "sub" }, a.status.last_error) : null,
        a.recipient_warning ? el("span", { class: "warn" }, "⚠ " + a.recipient_warning) : null,
        (a.status && a.status.next_check) ? el("span", { class: "sub" }, "next: " + fmtTime(a.status.next_check)) : null),
      el("td", { class: "when" }, last ? fmtTime(last.finished) : "never",
        last ? el("span", { class: "sub" }, last.summary || "") : null),
      el("td", { class: "acts" },
        el("button", { type: "button", class: "small check", onclick: () => checkNow(a.id) }, "Check now"),
        el("button", { type: "button", class: "small log", onclick: () => showLog(a.id) }, "Log"),
        el("button", { type: "button", class: "small edit", onclick: () => editAccount(a) }, "Edit"),
        el("button", { type: "button", class: "small", onclick: () => toggle(a) }, a.enabled ? "Disable" : "Enable"),
        el("button", { type: "button", class: "small danger", onclick: () => removeAccount(a.id) }, "Delete")));
    body.append(tr);
  }
}

async function checkNow(id) {
  const r = await call("POST", "accounts/" + encodeURIComponent(id) + "/check");
  if (r.ok) {
    flash("Check of " + id + " started");
    setTimeout(loadAccounts, 3000);
  } else flash(r.data.error || "Check failed", true);
}

async function toggle(a) {
  const r = await call("POST", "accounts/" + encodeURIComponent(a.id) + (a.enabled ? "/disable" : "/enable"));
  if (!r.ok) flash(r.data.error || "Failed", true);
  loadAccounts();
}

async function removeAccount(id) {
  if (!confirm("Delete the account " + id + "?\n\nMail already delivered stays in the local mailboxes; " +
      "nothing is removed from the server by deleting the account."))
    return;
  const r = await call("DELETE", "accounts/" + encodeURIComponent(id));
  if (r.ok) flash("Deleted " + id);
  else flash(r.data.error || "Delete failed", true);
  loadAccounts();
}

async function showLog(id) {
  show("log");
  $("#log-title").textContent = "Run log: " + id;
  const box = $("#log-runs");
  box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const r = await call("GET", "accounts/" + encodeURIComponent(id) + "/runs?n=5");
  box.replaceChildren();
  if (!r.ok || r.data.length === 0) {
    box.append(el("p", { class: "muted" }, "No runs yet."));
    return;
  }
  for (const run of r.data) {
    box.append(el("div", { class: "run" },
      el("h3", {}, el("span", { class: "badge " + (run.ok ? "ok" : "failing") }, run.ok ? "ok" : run.class),
        fmtTime(run.started), el("span", { class: "muted" }, run.summary || "")),
      el("pre", {}, run.log || "")));
  }
}

/* ---- account form ---- */

const form = () => $("#acct-form");

function defaultPort() {
  const f = form();
  const p = f.protocol.value, s = f.security.value;
  if (p === "imap") return s === "tls" ? "993" : "143";
  return s === "tls" ? "995" : "110";
}

function syncForm() {
  const f = form();
  f.port.placeholder = defaultPort();
  $("#imap-options").hidden = f.protocol.value !== "imap";
  for (const e of f.querySelectorAll(".imap-only")) e.hidden = f.protocol.value !== "imap";
  $("#multidrop-options").hidden = !f.multidrop.checked;
  $("#oauth-options").hidden = f.auth.value !== "oauth2";
  f.keep_days.disabled = !f.querySelector("input[name=policy][value=keep-days]").checked;
}

function clearErrors(scope) {
  for (const e of scope.querySelectorAll(".field-error")) e.remove();
  for (const e of scope.querySelectorAll("label.invalid")) e.classList.remove("invalid");
}

function showErrors(scope, fields, errBox, msg) {
  clearErrors(scope);
  let unplaced = [];
  for (const [k, v] of Object.entries(fields || {})) {
    const input = scope.querySelector("[name=" + CSS.escape(k) + "]");
    const label = input && input.closest("label");
    if (label) {
      label.classList.add("invalid");
      label.append(el("span", { class: "field-error" }, v));
    } else unplaced.push(k + ": " + v);
  }
  errBox.textContent = [msg].concat(unplaced).join(" — ");
  errBox.hidden = !msg;
}

function fillForm(a) {
  const f = form();
  f.reset();
  clearErrors(f);
  $("#form-error").hidden = true;
  f.id.readOnly = !!a;
  if (a) {
    f.id.value = a.id;
    f.enabled.checked = a.enabled;
    f.protocol.value = a.protocol;
    f.security.value = a.security;
    f.host.value = a.host;
    f.port.value = a.port == null ? "" : a.port;
    f.verify.checked = a.verify;
    f.ca_file.value = a.ca_file || "";
    f.user.value = a.user;
    f.password.value = "";
    f.password.placeholder = a.has_password ? "unchanged (stored encrypted)" : "";
    f.deliver_to.value = a.deliver_to.join(", ");
    f.target.value = a.target || "";
    f.querySelector("input[name=policy][value=" + CSS.escape(a.policy) + "]").checked = true;
    f.keep_days.value = a.keep_days || 7;
    f.max_per_pass.value = a.max_per_pass;
    f.timeout.value = a.timeout;
    f.folders.value = a.folders.join(", ");
    f.only_unseen.checked = a.only_unseen;
    f.mark_seen.checked = a.mark_seen;
    f.multidrop.checked = !!a.multidrop;
    f.domains.value = (a.domains || []).join(", ");
    f.envelope_headers.value = (a.envelope_headers || []).join(", ");
    f.rules.value = (a.rules || []).join("\n");
    f.postmaster.value = a.postmaster || "";
    f.interval.value = a.interval ? a.interval + "s" : "";
    f.idle.checked = !!a.idle;
    f.spam_check.checked = !!a.spam_check;
    f.virus_check.checked = !!a.virus_check;
    f.spam_action.value = a.spam_action || "junk";
    f.scanner_down.value = a.scanner_down || "hold";
    f.provider_host.value = a.provider_host || "";
    f.auth.value = a.auth || "password";
    f.oauth2_provider.value = a.oauth2_provider || "google";
    f.oauth2_tenant.value = a.oauth2_tenant || "";
    f.oauth2_client_id.value = a.oauth2_client_id || "";
    tokenState(a.oauth2_token);
    $("#oauth-cmd").textContent = "mailpull account authorize " + a.id;
  } else {
    f.password.placeholder = "";
    tokenState(null);
    $("#oauth-cmd").textContent = "mailpull account authorize ID";
  }
  /* an account must be saved (as OAuth2) before it can be authorized */
  $("#oauth-web").hidden = !a || a.auth !== "oauth2";
  $("#oauth-link").hidden = true;
  clearInterval(authorize.poll);
  syncForm();
}

function tokenState(t) {
  $("#oauth-token").textContent = "Token: " + (!t ? "not authorized yet." :
    t.state === "authorized" ? "authorized" + (t.expires_at ? ", access token valid until " + fmtTime(t.expires_at) : "") :
    t.state === "needed" ? "authorization needed: " + (t.reason || "") : "not authorized yet.");
}

/* The authorization-code flow through the browser: the server keeps the
 * PKCE verifier and state and answers the provider's URL, opened in a new
 * tab; the provider sends that tab to /api/oauth/callback. The tab is
 * opened at the click (pop-up blockers) and without a way back to us. */
async function authorize() {
  const id = editing;
  if (!id) return;
  const w = window.open("about:blank", "_blank");
  if (w) w.opener = null;
  const r = await call("POST", "accounts/" + encodeURIComponent(id) + "/authorize", {});
  if (!r.ok) {
    if (w) w.close();
    flash(r.data.error || "cannot start the authorization", true);
    return;
  }
  const link = $("#oauth-link");
  link.href = r.data.url;
  link.hidden = false;
  if (w) w.location.href = r.data.url;
  flash("Sign in at the provider in the new tab; this page shows the result.");
  /* follow the token state until it changes or the request expires */
  clearInterval(authorize.poll);
  const end = Date.now() + (r.data.expires_in || 600) * 1000;
  authorize.poll = setInterval(async () => {
    if (editing !== id || $("#view-edit").hidden || Date.now() > end) {
      clearInterval(authorize.poll);
      return;
    }
    const g = await call("GET", "accounts/" + encodeURIComponent(id));
    if (g.ok && g.data.oauth2_token && g.data.oauth2_token.state === "authorized" &&
        g.data.oauth2_token.authorized_at !== authorize.since) {
      clearInterval(authorize.poll);
      tokenState(g.data.oauth2_token);
      link.hidden = true;
      flash("Authorized " + id + ".");
    }
  }, 2000);
}

function addAccount() {
  editing = null;
  $("#edit-title").textContent = "Add account";
  fillForm(null);
  show("edit");
  form().id.focus();
}

function editAccount(a) {
  editing = a.id;
  authorize.since = a.oauth2_token ? a.oauth2_token.authorized_at : null;
  $("#edit-title").textContent = "Edit " + a.id;
  fillForm(a);
  show("edit");
}

function num(v) {
  const t = v.trim();
  return /^[0-9]+$/.test(t) ? Number(t) : t;
}

function list(v) {
  return v.split(/[,\n]/).map((s) => s.trim()).filter((s) => s.length > 0);
}

async function saveAccount(ev) {
  ev.preventDefault();
  const f = form();
  const a = {
    protocol: f.protocol.value, security: f.security.value, host: f.host.value.trim(),
    port: f.port.value.trim() === "" ? null : num(f.port.value),
    verify: f.verify.checked, user: f.user.value,
    deliver_to: list(f.deliver_to.value),
    policy: f.querySelector("input[name=policy]:checked").value,
    max_per_pass: num(f.max_per_pass.value), timeout: num(f.timeout.value),
    folders: list(f.folders.value), only_unseen: f.only_unseen.checked,
    mark_seen: f.mark_seen.checked, enabled: f.enabled.checked,
  };
  if (a.policy === "keep-days") a.keep_days = num(f.keep_days.value);
  if (me.role !== "user") {
    a.multidrop = f.multidrop.checked;
    a.domains = list(f.domains.value);
    a.envelope_headers = list(f.envelope_headers.value);
    a.rules = f.rules.value.split("\n").map((x) => x.trim()).filter((x) => x.length > 0);
    a.postmaster = f.postmaster.value.trim() || null;
  }
  a.interval = f.interval.value.trim() === "" ? null : num(f.interval.value);
  if (f.protocol.value === "imap") a.idle = f.idle.checked;
  a.spam_check = f.spam_check.checked;
  a.virus_check = f.virus_check.checked;
  a.spam_action = f.spam_action.value;
  a.scanner_down = f.scanner_down.value;
  a.provider_host = f.provider_host.value.trim() || null;
  a.auth = f.auth.value;
  if (a.auth === "oauth2") {
    a.oauth2_provider = f.oauth2_provider.value;
    a.oauth2_tenant = f.oauth2_tenant.value.trim() || null;
    a.oauth2_client_id = f.oauth2_client_id.value.trim() || null;
  }
  if (me.role === "admin") {
    a.ca_file = f.ca_file.value.trim() || null;
    a.target = f.target.value.trim() || null;
  }
  if (f.password.value !== "") a.password = f.password.value;
  let r;
  if (editing === null) {
    a.id = f.id.value.trim();
    r = await call("POST", "accounts", a);
  } else {
    r = await call("PUT", "accounts/" + encodeURIComponent(editing), a);
  }
  if (!r.ok) {
    showErrors(f, r.data.fields, $("#form-error"), r.data.error || "Saving failed");
    return;
  }
  f.password.value = "";
  flash((editing === null ? "Added " : "Saved ") + r.data.id);
  location.hash = "#accounts";
  loadAccounts();
}

/* ---- groups ---- */

async function loadGroups() {
  show("groups");
  const r = await call("GET", "groups");
  if (!r.ok) return;
  const body = $("#groups-body");
  body.replaceChildren();
  for (const g of r.data) {
    body.append(el("tr", { "data-name": g.name },
      el("td", {}, el("strong", {}, "@" + g.name)),
      el("td", {}, g.members.join(", ")),
      el("td", { class: "acts" },
        el("button", { type: "button", class: "small", onclick: () => {
          const f = $("#group-form"); f.name.value = g.name; f.members.value = g.members.join(", "); } }, "Edit"),
        el("button", { type: "button", class: "small danger", onclick: () => removeGroup(g.name) }, "Delete"))));
  }
}

async function saveGroup(ev) {
  ev.preventDefault();
  const f = $("#group-form");
  const name = f.name.value.trim();
  const members = list(f.members.value);
  let r = await call("PUT", "groups/" + encodeURIComponent(name), { members });
  if (r.status === 404) r = await call("POST", "groups", { name, members });
  if (!r.ok) {
    showErrors(f, r.data.fields, $("#group-error"), r.data.error || "Saving failed");
    return;
  }
  clearErrors(f);
  $("#group-error").hidden = true;
  f.reset();
  flash("Saved @" + name);
  loadGroups();
}

async function removeGroup(name) {
  if (!confirm("Delete the group @" + name + "?")) return;
  const r = await call("DELETE", "groups/" + encodeURIComponent(name));
  if (!r.ok) flash(r.data.error || "Delete failed", true);
  loadGroups();
}

/* ---- settings ---- */

async function loadSettings() {
  show("settings");
  const r = await call("GET", "settings");
  if (!r.ok) return;
  const box = $("#settings-fields");
  box.replaceChildren();
  for (const k of r.data.keys) {
    box.append(el("label", {}, k.key,
      el("input", { name: k.key, value: k.value || "", placeholder: "default" }),
      el("span", { class: "help" }, k.help)));
  }
}

async function saveSettings(ev) {
  ev.preventDefault();
  const body = {};
  for (const i of $("#settings-fields").querySelectorAll("input"))
    body[i.name] = i.value.trim() === "" ? null : i.value.trim();
  const r = await call("PUT", "settings", body);
  if (!r.ok) {
    showErrors($("#settings-form"), r.data.fields, $("#settings-error"), r.data.error || "Saving failed");
    return;
  }
  clearErrors($("#settings-form"));
  $("#settings-error").hidden = true;
  flash("Settings saved");
  loadSettings();
}

/* ---- users ---- */

async function loadUsers() {
  show("users");
  const r = await call("GET", "users");
  if (!r.ok) return;
  const body = $("#users-body");
  body.replaceChildren();
  for (const u of r.data) {
    body.append(el("tr", { "data-name": u.name },
      el("td", {}, el("strong", {}, u.name)),
      el("td", {}, u.role),
      el("td", {}, u.role === "admin" ? "all accounts" : u.role === "domain-admin" ? u.domains.join(", ") : (u.address || "")),
      el("td", { class: "acts" }, u.name === me.name ? null :
        el("button", { type: "button", class: "small danger", onclick: () => removeUser(u.name) }, "Delete"))));
  }
}

async function removeUser(name) {
  if (!confirm("Delete the user " + name + "? Their sessions end now.")) return;
  const r = await call("DELETE", "users/" + encodeURIComponent(name));
  if (!r.ok) flash(r.data.error || "Delete failed", true);
  loadUsers();
}

async function addUser(ev) {
  ev.preventDefault();
  const f = $("#user-form");
  const u = { name: f.name.value.trim(), role: f.role.value };
  if (f.domains.value.trim()) u.domains = list(f.domains.value);
  if (f.address.value.trim()) u.address = f.address.value.trim();
  if (f.password.value) u.password = f.password.value;
  else u.generate = true;
  const r = await call("POST", "users", u);
  if (!r.ok) {
    showErrors(f, r.data.fields, $("#user-error"), r.data.error || "Adding failed");
    return;
  }
  clearErrors(f);
  $("#user-error").hidden = true;
  f.reset();
  if (r.data.password)
    alert("One-time password for " + r.data.name + ":\n\n" + r.data.password + "\n\nIt is shown only now.");
  flash("Added " + r.data.name);
  loadUsers();
}

/* ---- start ---- */

document.addEventListener("DOMContentLoaded", async () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#add-account").addEventListener("click", addAccount);
  $("#cancel").addEventListener("click", () => { location.hash = "#accounts"; loadAccounts(); });
  $("#log-back").addEventListener("click", loadAccounts);
  $("#acct-form").addEventListener("submit", saveAccount);
  $("#oauth-authorize").addEventListener("click", authorize);
  $("#settings-form").addEventListener("submit", saveSettings);
  $("#user-form").addEventListener("submit", addUser);
  $("#group-form").addEventListener("submit", saveGroup);
  for (const n of ["multidrop", "auth"]) form()[n].addEventListener("change", syncForm);
  for (const n of ["protocol", "security"]) form()[n].addEventListener("change", syncForm);
  for (const r of form().querySelectorAll("input[name=policy]")) r.addEventListener("change", syncForm);
  window.addEventListener("hashchange", route);
  /* a click on the current page's link reloads it (no hashchange) */
  for (const a of document.querySelectorAll("header nav a"))
    a.addEventListener("click", () => { if (location.hash === a.getAttribute("href")) route(); });
  /* keep the account list's status fresh */
  setInterval(() => { if (me && !$("#view-accounts").hidden) loadAccounts(); }, 15000);
  const r = await call("GET", "me");
  if (r.ok) {
    me = r.data;
    csrf = r.data.csrf;
    enter();
  } else showLogin();
});
