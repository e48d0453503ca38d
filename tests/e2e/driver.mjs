// Runs one e2e client page in Debian's headless Chromium (playwright-core, no browser download).
//
//   node driver.mjs --url http://127.0.0.1:PORT/haxe.html --client haxe [--timeout 90]
//                   [--screenshot shot.png]
//
// The page's client POSTs its report to the test server; the driver polls
// GET /report?client=NAME on the page's origin and exits 0 once it is there,
// 2 when --timeout seconds pass first, 3 when the page crashed (an uncaught error)
// and no report came within a few seconds (after a screenshot, when asked).  The
// page's console, errors and failed requests are printed, prefixed, on stdout.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
if (!args.url || !args.client) {
  console.error("usage: node driver.mjs --url URL --client NAME [--timeout S] [--screenshot F]");
  process.exit(64);
}
const timeoutMs = Number(args.timeout || 90) * 1000;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
const log = (kind, text) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(2)}s ${kind}] ${text}`);

const userDataDir = mkdtempSync(join(tmpdir(), "amfast-e2e-chromium-"));
let context;
let exitCode = 1;
// An uncaught page error (a Ruffle panic ends the player): give the client a moment to
// report anyway, then stop instead of waiting for the whole timeout.
let crashedAt = 0;
const CRASH_GRACE_MS = 3000;

async function close() {
  try {
    if (context) await context.close();
  } catch (e) {
    log("driver", `closing the browser failed: ${e}`);
  }
  rmSync(userDataDir, { recursive: true, force: true });
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    log("driver", `${signal}: closing the browser`);
    await close();
    process.exit(130);
  });
}

async function reported(origin) {
  try {
    const response = await fetch(`${origin}/report?client=${encodeURIComponent(args.client)}`);
    return response.status === 200;
  } catch {
    return false;
  }
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
    viewport: { width: 800, height: 600 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => log(`console.${msg.type()}`, msg.text()));
  page.on("pageerror", (err) => {
    log("pageerror", err.stack || String(err));
    crashedAt = crashedAt || Date.now();
  });
  page.on("requestfailed", (req) =>
    log("requestfailed", `${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on("response", (res) => {
    if (res.status() >= 400) log("http", `${res.status()} ${res.request().method()} ${res.url()}`);
  });
  const origin = new URL(args.url).origin;
  // A report left by an earlier run of this client must not count.
  await fetch(`${origin}/report?client=${encodeURIComponent(args.client)}`, { method: "DELETE" });
  log("driver", `opening ${args.url} in ${executablePath}`);
  await page.goto(args.url, { waitUntil: "load", timeout: timeoutMs });
  exitCode = 2;
  while (Date.now() - started < timeoutMs) {
    if (await reported(origin)) {
      exitCode = 0;
      break;
    }
    if (crashedAt && Date.now() - crashedAt > CRASH_GRACE_MS) {
      exitCode = 3;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (exitCode === 0) {
    log("driver", `report received after ${((Date.now() - started) / 1000).toFixed(2)}s`);
  } else {
    log("driver", exitCode === 3 ? "the page crashed before reporting"
      : `no report after ${timeoutMs / 1000}s`);
    if (args.screenshot) {
      await page.screenshot({ path: args.screenshot }).catch(() => {});
      log("driver", `screenshot: ${args.screenshot}`);
    }
  }
} catch (e) {
  log("driver", `failed: ${e.stack || e}`);
  exitCode = 1;
}
await close();
process.exit(exitCode);
