// The web UI in Debian's headless Chromium, driven by playwright-core
// (no downloaded browser). Run by test_webui.py with the scenario in
// MAILPULL_WEBUI (JSON: base, admin, domadm, acct, outdir, node_modules);
// prints one JSON line with what it saw; exits non-zero on failure.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const cfg = JSON.parse(process.env.MAILPULL_WEBUI);
const require = createRequire(path.join(cfg.node_modules, "x.js"));
const { chromium } = require("playwright-core");

const T = 20000 * (cfg.slow || 1);
const out = { shots: [] };
const userData = fs.mkdtempSync(path.join(cfg.outdir, "chromium-"));
const ctx = await chromium.launchPersistentContext(userData, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 860 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
ctx.setDefaultTimeout(T);
const page = ctx.pages()[0] || await ctx.newPage();
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("dialog", (d) => d.accept());

async function shot(name, opts) {
  const f = path.join(cfg.outdir, name);
  await page.screenshot({ path: f, ...(opts || {}) });
  out.shots.push(f);
}

async function login(user, pw) {
  await page.fill("#login-user", user);
  await page.fill("#login-password", pw);
  await page.click("#login-submit");
}

const row = (id) => `tr[data-id="${id}"]`;

try {
  const a = cfg.acct;
  await page.goto(cfg.base + "/");
  await page.waitForSelector("#login-user", { state: "visible" });
  await login(cfg.admin.user, "not-the-password");
  await page.waitForSelector("#login-error", { state: "visible" });
  await login(cfg.admin.user, cfg.admin.pw);
  await page.waitForSelector("#add-account", { state: "visible" });
  out.who = await page.textContent("#who");

  // the form: port defaults follow protocol and security
  await page.click("#add-account");
  await page.waitForSelector("#acct-form", { state: "visible" });
  out.port_tls = await page.getAttribute("#acct-form [name=port]", "placeholder");
  await page.selectOption("#acct-form [name=security]", "none");
  out.port_none = await page.getAttribute("#acct-form [name=port]", "placeholder");
  await shot("webui-form.png", { fullPage: true });
  await page.fill("#acct-form [name=id]", a.id);
  await page.fill("#acct-form [name=host]", "127.0.0.1");
  await page.fill("#acct-form [name=port]", String(a.port));
  await page.fill("#acct-form [name=user]", a.user);
  await page.fill("#acct-form [name=password]", a.password);
  await page.fill("#acct-form [name=target]", a.target);
  await page.fill("#acct-form [name=timeout]", "abc");
  await page.click("#save");
  // the shared validation's message, next to its field
  await page.waitForSelector("label.invalid [name=timeout]", { state: "attached" });
  out.timeout_error = await page.textContent("label.invalid .field-error");
  await page.fill("#acct-form [name=timeout]", "20");
  await page.click("#save");
  await page.waitForSelector(row(a.id), { state: "visible" });
  out.row = await page.textContent(row(a.id));

  // the pass the add started delivers; the badge turns ok
  const deadline = Date.now() + 3 * T;
  for (;;) {
    const b = await page.textContent(row(a.id) + " .badge");
    if (b === "ok") break;
    if (Date.now() > deadline) throw new Error("no ok badge: " + b);
    await page.waitForTimeout(500);
    await page.click("#nav-accounts");
    await page.waitForSelector(row(a.id), { state: "visible" });
  }
  // check now, then the run log
  await page.click(row(a.id) + " button.check");
  await page.waitForSelector("#flash", { state: "visible" });
  out.flash = await page.textContent("#flash");
  await page.click(row(a.id) + " button.log");
  await page.waitForSelector("#log-runs .run pre", { state: "visible" });
  out.log = await page.textContent("#log-runs .run pre");
  await shot("webui-log.png");
  await page.click("#log-back");
  await page.waitForSelector(row(a.id), { state: "visible" });
  await shot("webui-accounts.png");
  await page.setViewportSize({ width: 400, height: 860 });
  await shot("webui-accounts-phone.png");
  await page.setViewportSize({ width: 1280, height: 860 });

  // edit form of the stored account (all option groups)
  await page.click(row(a.id) + " button.edit");
  await page.waitForSelector("#acct-form", { state: "visible" });
  out.edit_port = await page.inputValue("#acct-form [name=port]");
  await shot("webui-edit.png", { fullPage: true });
  await page.click("#cancel");

  // admin pages
  await page.click("#nav-settings");
  await page.waitForSelector("#settings-fields input[name=interval]", { state: "visible" });
  await page.click("#nav-groups");
  await page.waitForSelector("#groups-body", { state: "attached" });
  await page.click("#nav-users");
  await page.waitForSelector('#users-body tr[data-name="' + cfg.domadm.user + '"]', { state: "visible" });

  // the domain admin sees only their domain's accounts
  await page.click("#logout");
  await page.waitForSelector("#login-user", { state: "visible" });
  await login(cfg.domadm.user, cfg.domadm.pw);
  await page.waitForSelector(row(a.id), { state: "visible" });
  out.domadm_ids = await page.$$eval("#accounts-body tr", (rs) => rs.map((r) => r.dataset.id));
  out.domadm_settings_hidden = await page.$eval("#nav-settings", (e) => e.hidden);
  await shot("webui-domadm.png");
  out.console_errors = consoleErrors;
  process.stdout.write(JSON.stringify(out) + "\n");
  await ctx.close();
} catch (e) {
  try { await shot("webui-failure.png", { fullPage: true }); } catch (e2) { /* ignore */ }
  out.error = String(e && e.stack || e);
  out.console_errors = consoleErrors;
  process.stdout.write(JSON.stringify(out) + "\n");
  await ctx.close();
  process.exit(1);
}
