// Drives the console (amfast.console) in Debian's headless Chromium while a Royale client runs.
//
//   node console.mjs --base http://127.0.0.1:PORT --out DIR [--user U --password P]
//                    [--timeout 120]
//
// One browser, two pages.  The first runs the Royale client in its console mode
// (royale/index.html?console=1, e2e/ConsoleFeed.as): connected on the long-polling
// channel, logged in, publishing to e2e-chat/console and receiving it back.  The second
// opens /console/ (401, the login page), logs in, and on each page waits for what it must
// show: the delivery chart moving (over its last minute), the Royale client in the
// connection list, e2e.echo called through the service browser and its answer, e2e.fail
// and its fault, the destination with its subscriber, the channels, and that fault among the
// recent faults; it saves a screenshot of each page in DIR.  It prints
// "RESULT <json>" with what it saw and exits 0; 1 on the first step that failed (after a
// screenshot of it), within --timeout seconds in all.
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
if (!args.base || !args.out) {
  console.error("usage: node console.mjs --base URL --out DIR [--user U --password P]");
  process.exit(64);
}
const user = args.user || "correct";
const password = args.password || "correct";
const started = Date.now();
const deadline = started + Number(args.timeout || 120) * 1000;
const STEP = 30000; // the longest any one wait may take
const log = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(2)}s] ${text}`);
const result = { steps: [] };
const userDataDir = mkdtempSync(join(tmpdir(), "amfast-console-chromium-"));
mkdirSync(args.out, { recursive: true });
let context;
let consolePage;
let exitCode = 1;

function wait() {
  return Math.max(1000, Math.min(STEP, deadline - Date.now()));
}

async function shot(name) {
  const path = join(args.out, `${name}.png`);
  await consolePage.screenshot({ path });
  log(`screenshot ${path}`);
}

async function step(name, run) {
  log(`step ${name}`);
  await run();
  result.steps.push(name);
}

async function visit(hash) {
  await consolePage.evaluate((h) => { window.location.hash = h; }, hash);
  await consolePage.waitForSelector(`nav a.active[data-page="${hash}"]`, { timeout: wait() });
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
           "--disable-backgrounding-occluded-windows"],
    viewport: { width: 1280, height: 800 },
  });
  const feed = await context.newPage();
  feed.on("console", (msg) => log(`royale console.${msg.type()}: ${msg.text()}`));
  feed.on("pageerror", (err) => log(`royale pageerror: ${err.stack || err}`));
  consolePage = await context.newPage();
  consolePage.on("console", (msg) => log(`console console.${msg.type()}: ${msg.text()}`));
  consolePage.on("pageerror", (err) => log(`console pageerror: ${err.stack || err}`));

  await step("royale client connected and publishing", async () => {
    await feed.goto(`${args.base}/royale/index.html?console=1`, { waitUntil: "load",
                                                                 timeout: wait() });
    await feed.waitForFunction(() => window.consoleFeed && window.consoleFeed.sent > 2 &&
                               window.consoleFeed.received > 0 || window.consoleFeed &&
                               window.consoleFeed.error, null, { timeout: wait() });
    result.feed = await feed.evaluate(() => Object.assign({}, window.consoleFeed));
    if (result.feed.error) throw new Error(`the Royale client failed: ${result.feed.error}`);
    log(`royale client ${result.feed.dsid}: ${result.feed.sent} sent`);
  });

  await step("login page without credentials", async () => {
    const response = await consolePage.goto(`${args.base}/console/`, { timeout: wait() });
    result.unauthenticatedStatus = response.status();
    if (response.status() !== 401) throw new Error(`/console/ answered ${response.status()}`);
    await consolePage.waitForSelector("form.login-box", { timeout: wait() });
    await shot("login");
  });

  await step("log in", async () => {
    await consolePage.fill("input[name=user]", user);
    await consolePage.fill("input[name=password]", password);
    await Promise.all([consolePage.waitForNavigation({ timeout: wait() }),
                       consolePage.click("form.login-box button[type=submit]")]);
    await consolePage.waitForSelector("#chart-messages polyline", { timeout: wait() });
    result.user = await consolePage.textContent("#user");
  });

  await step("the delivery chart moves", async () => {
    await consolePage.selectOption("#window", "60");
    const sum = () => consolePage.getAttribute(
      '#chart-messages .legend[data-series="delivered"]', "data-sum").then(Number);
    const first = await sum();
    // Several seconds of messages, so that the chart shows them flowing.
    await consolePage.waitForFunction((before) => {
      const legend = document.querySelector('#chart-messages .legend[data-series="delivered"]');
      return legend && Number(legend.getAttribute("data-sum")) >= Math.max(before + 1, 30);
    }, first, { timeout: wait(), polling: 250 });
    const second = await sum();
    result.delivered = [first, second];
    log(`delivered in the chart's window: ${first}, then ${second}`);
    await shot("overview");
  });

  await step("the Royale client in the connection list", async () => {
    await visit("connections");
    const row = `tr[data-connection="${result.feed.dsid}"]`;
    await consolePage.waitForSelector(row, { timeout: wait() });
    result.connection = (await consolePage.textContent(row)).replace(/\s+/g, " ").trim();
    log(`connection row: ${result.connection}`);
    for (const expected of ["amf-longpoll", user, "e2e-chat / console"]) {
      if (!result.connection.includes(expected)) {
        throw new Error(`the row does not show ${expected}: ${result.connection}`);
      }
    }
    await shot("connections");
  });

  await step("e2e.echo through the service browser", async () => {
    await visit("services");
    await consolePage.click('tr[data-target="e2e.echo"] button');
    await consolePage.fill("#browser textarea[name=args]",
                           '["console", {"from": "the console", "n": [1, 2.5]}]');
    await consolePage.selectOption("#browser select[name=channel]", "amf");
    await consolePage.click("#browser button[type=submit]");
    await consolePage.waitForSelector("#outcome.ok #result", { timeout: wait() });
    result.echo = JSON.parse(await consolePage.textContent("#result"));
    log(`echo answered ${JSON.stringify(result.echo)}`);
    await shot("services");
  });

  await step("e2e.fail through the service browser", async () => {
    await consolePage.click('tr[data-target="e2e.fail"] button');
    await consolePage.fill("#browser textarea[name=args]", '["failed on purpose"]');
    await consolePage.click("#browser button[type=submit]");
    await consolePage.waitForSelector("#outcome.fault .line", { timeout: wait() });
    result.fault = await consolePage.textContent("#outcome.fault .line");
    log(`fail answered ${result.fault}`);
  });

  await step("the destination and its subscriber", async () => {
    await visit("destinations");
    const row = 'tr[data-destination="e2e-chat"]';
    await consolePage.waitForSelector(row, { timeout: wait() });
    result.destination = (await consolePage.textContent(row)).replace(/\s+/g, " ").trim();
    await shot("destinations");
  });

  await step("the channels", async () => {
    await visit("channels");
    await consolePage.waitForSelector('tr[data-channel="amf-longpoll"]', { timeout: wait() });
    result.channels = await consolePage.$$eval("tr[data-channel]",
                                               (rows) => rows.map((r) => r.dataset.channel));
    await shot("channels");
  });

  await step("the faults", async () => {
    await visit("faults");
    await consolePage.waitForSelector(".fault .head", { timeout: wait() });
    result.faults = await consolePage.$$eval(".fault", (faults) => faults.map(
      (f) => f.textContent.replace(/\s+/g, " ").trim()));
    await shot("faults");
  });
  exitCode = 0;
} catch (e) {
  log(`failed: ${e.stack || e}`);
  result.error = String(e.message || e);
  if (consolePage) await shot("failed").catch(() => {});
}
console.log(`RESULT ${JSON.stringify(result)}`);
try {
  if (context) await context.close();
} catch (e) {
  log(`closing the browser failed: ${e}`);
}
rmSync(userDataDir, { recursive: true, force: true });
process.exit(exitCode);
