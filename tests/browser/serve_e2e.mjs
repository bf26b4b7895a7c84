// Drive `hyper-tui serve` in headless Chromium (the Debian package; Playwright downloads no
// browser). Run by tests/browser/test_serve_browser.py, which starts the server and checks the
// JSON this prints on its last line.
//
//   SERVE_URL=http://127.0.0.1:PORT  SERVE_TOKEN=...  EXPECT_JOBS=name1,name2
//   KEY=8  EXPECT_AFTER_KEY="text"  SCREENSHOT=path.png  node serve_e2e.mjs
//
// With PAINT_RUNS=N (bench/bench_tui.py) it only opens the app N times, each in a new page, and
// prints the times to the first bytes of the app and to the jobs on screen.
//
// The terminal is drawn on a canvas, so the text the app sends is read from the websocket
// (wrapped before the page's script runs) with the escape sequences removed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const base = env("SERVE_URL");
const token = env("SERVE_TOKEN");
const expectJobs = env("EXPECT_JOBS").split(",").filter(Boolean);
const paintRuns = Number(env("PAINT_RUNS", "0"));
const key = env("KEY", "8");
const expectAfterKey = paintRuns ? "" : env("EXPECT_AFTER_KEY");
const screenshot = paintRuns ? "" : env("SCREENSHOT");
const timeoutMs = Number(env("TIMEOUT_MS", "30000"));

const CAPTURE = () => {
  window.__hyperText = "";
  const decoder = new TextDecoder();
  const strip = (s) =>
    s.replace(/\x1b\[[0-9;?<>=]*[ -\/]*[@-~]/g, "").replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
      .replace(/\x1b[()][0-9A-Za-z]|\x1b[=>78]/g, "");
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (e.data instanceof ArrayBuffer) window.__hyperText += strip(decoder.decode(e.data, { stream: true }));
      });
    }
  };
};

async function newPage(context) {
  const page = await context.newPage();
  // Only the server is reached (the page asks for a web font elsewhere).
  await page.route("**/*", (route) =>
    route.request().url().startsWith(base) ? route.continue() : route.abort());
  return page;
}

// Open the app with the token; the times from the request to its first bytes and to the jobs.
async function openApp(page, out) {
  await page.addInitScript(CAPTURE);
  const t0 = Date.now();
  const res = await page.goto(`${base}/?token=${encodeURIComponent(token)}`);
  out.indexStatus = res.status();
  out.urlAfterLogin = page.url();
  await page.waitForFunction(() => document.body.classList.contains("-first-byte"), null, { timeout: timeoutMs });
  out.firstByteMs = Date.now() - t0;
  await page.waitForFunction((names) => names.every((n) => window.__hyperText.includes(n)), expectJobs,
    { timeout: timeoutMs, polling: 20 });
  out.jobsShownMs = Date.now() - t0;
}

const result = { refused: {}, firstByteMs: null, jobsShownMs: null, jobsSeen: [], keyWorked: false };
const userDataDir = mkdtempSync(join(tmpdir(), "hyper-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 800 },
});
async function measurePaint(context) {
  result.paint = [];
  for (let i = 0; i < paintRuns; i++) {
    const page = await newPage(context);
    const out = {};
    await openApp(page, out);
    result.paint.push({ firstByteMs: out.firstByteMs, jobsShownMs: out.jobsShownMs });
    await page.close();
  }
}

async function endToEnd(context) {
  const page = await newPage(context);

  // Without the token, or with a wrong one, every route is refused.
  for (const [label, path] of [["no token", "/"], ["wrong token", "/?token=not-the-token-at-all"],
    ["static without token", "/static/js/textual.js"]]) {
    const res = await page.goto(base + path);
    result.refused[label] = res.status();
  }

  await openApp(page, result);
  const text = await page.evaluate(() => window.__hyperText);
  result.jobsSeen = expectJobs.filter((n) => text.includes(n));
  await page.waitForTimeout(500); // the fade-in of the terminal (0.3 s) and a refresh
  await page.screenshot({ path: screenshot });

  // A key reaches the app: a number switches section.
  await page.evaluate(() => { window.__hyperText = ""; });
  await page.focus(".xterm-helper-textarea");
  await page.keyboard.press(key);
  await page.waitForFunction((t) => window.__hyperText.includes(t), expectAfterKey,
    { timeout: timeoutMs, polling: 20 });
  result.keyWorked = true;
}

try {
  await (paintRuns ? measurePaint(context) : endToEnd(context));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
