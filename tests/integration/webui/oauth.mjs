// The "Authorize" button in Debian's headless Chromium (playwright-core).
// Run by test_oauth_web.py with the scenario in MAILPULL_WEBUI (JSON:
// base, admin, acct_id, outdir, node_modules, slow): log in, edit the
// OAuth2 account, click Authorize, follow the new tab through the fake
// provider to the callback page, and see the form's token state change.
// Prints one JSON line with what it saw; exits non-zero on failure.
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

try {
  await page.goto(cfg.base + "/");
  await page.waitForSelector("#login-user", { state: "visible" });
  await page.fill("#login-user", cfg.admin.user);
  await page.fill("#login-password", cfg.admin.pw);
  await page.click("#login-submit");
  await page.waitForSelector("#add-account", { state: "visible" });
  await page.click(`tr[data-id="${cfg.acct_id}"] button.edit`);
  await page.waitForSelector("#oauth-authorize", { state: "visible" });
  out.before = await page.textContent("#oauth-token");
  const [tab] = await Promise.all([
    ctx.waitForEvent("page"),
    page.click("#oauth-authorize"),
  ]);
  await tab.waitForURL(/\/api\/oauth\/callback\?/);
  await tab.waitForSelector("#result");
  out.tab_result = await tab.textContent("#result");
  out.tab_message = await tab.textContent("#message");
  out.opener_null = await tab.evaluate(() => window.opener === null);
  await page.waitForFunction(() =>
    document.querySelector("#oauth-token").textContent.startsWith("Token: authorized"));
  out.after = await page.textContent("#oauth-token");
  const f = path.join(cfg.outdir, "webui-oauth-authorized.png");
  await page.screenshot({ path: f, fullPage: true });
  out.shots.push(f);
  out.console_errors = consoleErrors;
  console.log(JSON.stringify(out));
  await ctx.close();
} catch (err) {
  out.error = String(err && err.stack || err);
  console.log(JSON.stringify(out));
  await ctx.close();
  process.exit(1);
}
