// The web log view in real Chromium against a real gateway, nats-server and compute node: the
// page's own data (window.tailwireView) is checked, not pixels.
import { createServer } from "node:net";
import { NodeProcess, pollUntil } from "@tailwire/testkit";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ViewState } from "./test-helpers/browser.js";
import { appendLines, Rig, uniqueId } from "./test-helpers/rig.js";

let rig: Rig;
let browser: Browser;
const processes: NodeProcess[] = [];
beforeAll(async () => {
  [rig, browser] = await Promise.all([Rig.start(), launchChromium()]);
});
afterEach(async () => {
  for (const proc of processes.splice(0)) await proc.kill();
  await rig.cleanup();
});
afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

async function openPage(url: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    throw error;
  });
  await page.goto(url);
  return page;
}

const viewState = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { tailwireView: { state(): unknown } }).tailwireView.state(),
  ) as Promise<ViewState>;
const seqs = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { tailwireView: { seqs(): number[] } }).tailwireView.seqs(),
  );

async function until(
  page: Page,
  what: string,
  check: (s: ViewState) => boolean,
  timeoutMs = 15_000,
) {
  return pollUntil(
    async () => {
      const state = await viewState(page);
      return check(state) ? state : undefined;
    },
    { timeoutMs, what, intervalMs: 50 },
  );
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The gateway as its own process (the `tailwire gateway` command) on a fixed port. */
async function gatewayProcess(port: number): Promise<NodeProcess> {
  const proc = await NodeProcess.start({
    script: new URL("./test-helpers/gateway-process.mjs", import.meta.url),
    args: ["--listen", `127.0.0.1:${port}`, "--nats", rig.nats.url, "--log-level", "warn"],
    readyLine: "tailwire gateway listening on",
  });
  processes.push(proc);
  return proc;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("web log view", () => {
  it("opens a deep link, shows the tail, follows live lines and shows the end with its exit code", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "web1", 500);
    await compute.store.append("web1", "stdout", "\u001b[31mred\u001b[0m plain");
    const { url } = await rig.gateway();
    const page = await openPage(`${url}/#/executions/web1?node=${compute.nodeId}&tail=100`);
    const tail = await until(page, "the tail", (s) => s.lines === 100);
    expect(tail.state).toBe("live");
    expect(await seqs(page)).toEqual(range(402, 501));
    // ANSI colour: a span coloured red (CSSOM, no markup) for the last line. The rows render
    // on the next animation frame: wait for that row (bounded) rather than look at once.
    await page.locator('[data-seq="501"]').waitFor({ state: "attached", timeout: 10_000 });
    const red = await page.evaluate(() => {
      const row = document.querySelector('[data-seq="501"] span:not(.seq)') as HTMLElement | null;
      return row ? { text: row.textContent, color: row.style.color } : undefined;
    });
    expect(red).toEqual({ text: "red", color: "rgb(187, 0, 0)" });
    // stderr rows are marked.
    expect(await page.locator('[data-seq="500"]').getAttribute("class")).toBe("row stderr");

    await appendLines(compute.store, "web1", 20, 502);
    await until(page, "live lines", (s) => s.lastSeq === 521);
    // Follow keeps the newest line in view: the rows render on the next animation frame, so
    // wait for it (bounded) rather than look at once.
    await page.locator('[data-seq="521"]').waitFor({ state: "visible", timeout: 10_000 });
    await compute.store.complete("web1", 4);
    const ended = await until(page, "the end", (s) => s.state === "ended");
    expect(ended).toMatchObject({ exitCode: 4, duplicates: 0, lines: 120 });
    expect(await page.locator("#status").textContent()).toBe("ended: exit code 4");
  });

  it("opens a job: every execution's lines merged, each naming its execution, removed lines said, the end", async () => {
    const a = await rig.compute();
    const b = await rig.compute({ maxEntries: 3 });
    const jobId = uniqueId("webjob");
    const T0 = 1_760_000_000_000;
    await a.store.create("wa", { jobId });
    await b.store.create("wb", { jobId });
    for (let k = 1; k <= 5; k++) {
      await a.store.append("wa", "stdout", `wa ${k}`, T0 + 2 * k);
      await b.store.append("wb", "stdout", `wb ${k}`, T0 + 2 * k + 1);
    }
    await Promise.all([a.nc.flush(), b.nc.flush()]);
    const { url } = await rig.gateway();
    const page = await openPage(`${url}/#/jobs/${jobId}`);
    // wb kept its last 3 lines (captured after wa's first three): a row says 1..2 were removed,
    // ahead of everything wb still has.
    await until(page, "both executions", (s) => s.lines === 9);
    const lines = await page.evaluate(() =>
      (window as unknown as { tailwireView: { lines(): string[] } }).tailwireView.lines(),
    );
    expect(lines).toEqual([
      "[tailwire: lines 1..2 (2) were removed by the compute node's log retention]",
      "wa 1",
      "wa 2",
      "wa 3",
      "wb 3",
      "wa 4",
      "wb 4",
      "wa 5",
      "wb 5",
    ]);
    const executions = await page.evaluate(() =>
      (window as unknown as { tailwireView: { executions(): string[] } }).tailwireView.executions(),
    );
    expect(executions).toEqual(["wb", "wa", "wa", "wa", "wb", "wa", "wb", "wa", "wb"]);
    expect(await page.locator('[data-execution="wb"].removed').count()).toBe(1);
    // Live lines join while following; the job ends once both executions did.
    await b.store.append("wb", "stdout", "wb 6", T0 + 20);
    await until(page, "a live line", (s) => s.lines === 10);
    await a.store.complete("wa", 0);
    await b.store.complete("wb", 2);
    const ended = await until(page, "the job's end", (s) => s.state === "ended", 20_000);
    expect(ended).toMatchObject({ exitCode: 2, duplicates: 0, lines: 10 });
  });

  it("resumes after the gateway is SIGKILLed (and SIGTERMed) and restarted: every line exactly once", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "web2", 50);
    const port = await freePort();
    const startGateway = () => gatewayProcess(port);
    let gateway = await startGateway();
    const page = await openPage(
      `http://127.0.0.1:${port}/#/executions/web2?node=${compute.nodeId}`,
    );
    await until(page, "the history", (s) => s.lastSeq === 50);
    // Lines keep coming while the gateway dies and while it is down.
    let next = 51;
    const writer = setInterval(() => {
      void compute.store.append("web2", "stdout", `line ${next++}`);
    }, 5);
    try {
      await until(page, "live lines", (s) => (s.lastSeq ?? 0) >= 80);
      await gateway.kill("SIGKILL");
      await until(page, "the page notices", (s) => s.state === "reconnecting");
      const whileDown = next;
      await pollUntil(() => (next > whileDown + 20 ? true : undefined), {
        timeoutMs: 5_000,
        what: "lines while down",
      });
      gateway = await startGateway();
      await until(page, "resumed", (s) => s.state === "live" && (s.lastSeq ?? 0) > whileDown + 20);
      // A graceful restart too: SIGTERM ends the stream with GOING_AWAY, the page resumes.
      const beforeStop = next;
      await gateway.kill("SIGTERM");
      await until(page, "the page notices the stop", (s) => s.state === "reconnecting");
      gateway = await startGateway();
      await until(
        page,
        "resumed again",
        (s) => s.state === "live" && (s.lastSeq ?? 0) > beforeStop + 20,
      );
    } finally {
      clearInterval(writer);
    }
    const last = next - 1;
    await compute.store.complete("web2", 0);
    const ended = await until(page, "the end", (s) => s.state === "ended");
    expect(ended.duplicates).toBe(0);
    expect(await seqs(page)).toEqual(range(1, last));
    const lines = await page.evaluate(() =>
      (window as unknown as { tailwireView: { lines(): string[] } }).tailwireView.lines(),
    );
    expect(lines).toEqual(range(1, last).map((n) => `line ${n}`));
  });

  it("a browser's own EventSource resumes across a gateway SIGKILL with Last-Event-ID, exactly", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "es1", 30);
    const port = await freePort();
    let gateway = await gatewayProcess(port);
    const page = await openPage(`http://127.0.0.1:${port}/`);
    // Plain EventSource: no headers of ours, its own reconnects (retry: 1000) and Last-Event-ID.
    await page.evaluate((node) => {
      const seen: number[] = [];
      const opens: number[] = [];
      const w = window as unknown as { es: { seen: number[]; opens: number[]; ended?: unknown } };
      w.es = { seen, opens };
      const source = new EventSource(`v1/executions/es1/logs?node=${node}&follow=true`);
      source.onopen = () => opens.push(Date.now());
      source.onmessage = (event) => seen.push(JSON.parse(event.data).seq);
      source.addEventListener("end", (event) => {
        w.es.ended = JSON.parse((event as MessageEvent).data);
        source.close(); // the end: without close() an EventSource would reconnect
      });
    }, compute.nodeId);
    const es = () =>
      page.evaluate(
        () =>
          (window as unknown as { es: { seen: number[]; opens: number[]; ended?: unknown } }).es,
      );
    await pollUntil(async () => ((await es()).seen.length === 30 ? true : undefined), {
      timeoutMs: 10_000,
      what: "the history",
    });
    await gateway.kill("SIGKILL");
    await appendLines(compute.store, "es1", 20, 31);
    gateway = await gatewayProcess(port);
    await pollUntil(async () => ((await es()).seen.length === 50 ? true : undefined), {
      timeoutMs: 15_000,
      what: "the lines written while the gateway was down",
    });
    await compute.store.complete("es1", 9);
    const done = await pollUntil(
      async () => {
        const state = await es();
        return state.ended ? state : undefined;
      },
      { timeoutMs: 10_000, what: "the end event" },
    );
    expect(done.seen).toEqual(range(1, 50));
    expect(done.opens.length).toBeGreaterThanOrEqual(2);
    expect(done.ended).toEqual({ exitCode: 9, lastSeq: 50 });
  });

  it("shows a clear error when the compute node is SIGKILLed mid-follow", async () => {
    const computeNodeId = uniqueId("compute");
    const compute = await NodeProcess.start({
      script: new URL("./test-helpers/compute-process.mjs", import.meta.url),
      args: [JSON.stringify({ url: rig.nats.url, nodeId: computeNodeId, executions: ["web3"] })],
      readyLine: '{"ev":"ready"',
    });
    processes.push(compute);
    compute.stdin.write("append web3 30\n");
    await compute.waitForLine('{"ev":"appended","id":"web3","seq":30}');
    const { url } = await rig.gateway({
      clientOptions: { heartbeatIntervalMs: 100, computeLostAfterMissed: 3 },
    });
    const page = await openPage(`${url}/#/executions/web3?node=${computeNodeId}`);
    await until(page, "the history", (s) => s.lastSeq === 30);
    await compute.kill("SIGKILL");
    const failed = await until(page, "the error", (s) => s.state === "error", 5_000);
    expect(failed.error?.code).toBe("COMPUTE_NODE_LOST");
    expect(await page.locator("#status").textContent()).toMatch(/^error: COMPUTE_NODE_LOST: /);
    await page.locator("#reconnect").waitFor({ state: "visible", timeout: 10_000 });
    expect(failed.lines).toBe(30);
  });

  it("signs in with a token typed into the page (never in the URL), toggles timestamps, pauses and resumes follow, downloads", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "web5", 2_000);
    const { url } = await rig.gateway({
      tokens: [{ name: "web", token: "wwwwwwwwwwwwwwwwwwwwwwww" }],
    });
    const page = await openPage(`${url}/#/executions/web5?node=${compute.nodeId}`);
    const refused = await until(page, "the refusal", (s) => s.state === "error");
    expect(refused.error?.code).toBe("UNAUTHORIZED");
    await page.fill("#token", "wwwwwwwwwwwwwwwwwwwwwwww");
    await page.click("#open button[type=submit]");
    await until(page, "the history", (s) => s.lastSeq === 2_000 && s.state === "live");
    expect(page.url()).not.toContain("wwww");
    expect(await page.evaluate(() => sessionStorage.getItem("tailwire.token"))).toBe(
      "wwwwwwwwwwwwwwwwwwwwwwww",
    );

    // Timestamps: each row gains its capture time.
    expect(await page.locator('[data-seq="2000"] .ts').count()).toBe(0);
    await page.check("#timestamps");
    await expect
      .poll(() => page.locator('[data-seq="2000"] .ts').textContent())
      .toMatch(/^\d{4}-\d\d-\d\dT/);

    // Scrolling up pauses follow: new lines do not move the view.
    await page.evaluate(() => {
      document.getElementById("viewport")!.scrollTop = 1_000;
    });
    await until(page, "follow paused", (s) => !s.follow);
    expect(await page.locator("#follow").isChecked()).toBe(false);
    await appendLines(compute.store, "web5", 50, 2_001);
    await until(page, "the new lines", (s) => s.lastSeq === 2_050);
    expect(await page.evaluate(() => document.getElementById("viewport")!.scrollTop)).toBe(1_000);
    // Back at the bottom, follow resumes and the next lines are shown.
    await page.evaluate(() => {
      const viewport = document.getElementById("viewport")!;
      viewport.scrollTop = viewport.scrollHeight;
    });
    await until(page, "follow resumed", (s) => s.follow);
    expect(await page.locator("#follow").isChecked()).toBe(true);
    await appendLines(compute.store, "web5", 10, 2_051);
    await page.locator('[data-seq="2060"]').waitFor({ state: "visible", timeout: 5_000 });

    // Download: the loaded log as text.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    expect(download.suggestedFilename()).toBe("web5.log");
    const { readFile } = await import("node:fs/promises");
    const text = await readFile((await download.path())!, "utf8");
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(2_060);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.* stdout line 1$/);
    expect(lines.at(-1)).toMatch(/ stderr line 2060$/);
  });

  it("scrolls a 200,000-line history to the end with a bounded DOM", async () => {
    const compute = await rig.compute();
    for (let i = 1; i <= 200_000; i++)
      void compute.store.append(
        "web4",
        i % 7 === 0 ? "stderr" : "stdout",
        `line ${i} ${"x".repeat(40)}`,
      );
    await compute.store.complete("web4", 0);
    const { url } = await rig.gateway();
    const page = await openPage(`${url}/#/executions/web4?node=${compute.nodeId}`);
    const ended = await until(
      page,
      "the whole history",
      (s) => s.state === "ended" && s.lines === 200_000,
      60_000,
    );
    expect(ended.duplicates).toBe(0);
    // Following: the view sits at the end, showing the last line.
    await page.locator('[data-seq="200000"]').waitFor({ state: "visible", timeout: 5_000 });
    expect((await viewState(page)).domRows).toBeLessThan(200);
    // Scrolling to the top replaces the rows; the DOM stays bounded and follow pauses.
    await page.evaluate(() => {
      document.getElementById("viewport")!.scrollTop = 0;
    });
    await page.locator('[data-seq="1"]').waitFor({ state: "visible", timeout: 5_000 });
    const top = await viewState(page);
    expect(top.domRows).toBeLessThan(200);
    expect(top.follow).toBe(false);
    expect(await page.locator("#follow").isChecked()).toBe(false);
    // The filter narrows what is shown to matching loaded lines.
    await page.fill("#filter", "line 199999 ");
    await page.locator('[data-seq="199999"]').waitFor({ state: "visible", timeout: 5_000 });
    expect(await page.locator(".row").count()).toBe(1);
  });
});
