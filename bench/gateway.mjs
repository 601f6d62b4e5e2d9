// The gateway's figures, every role in its own process (2 cores are shared, so each process's
// heap and CPU are its own):
//
//   throughput: SSE lines/s through the gateway to an HTTP client reading as fast as it can,
//               against LogStreamClient reading the same execution directly (batches()), in the
//               same run, from the same compute node (lines generated on demand, 200 bytes);
//   follows:    gateway memory with 1,000 concurrent SSE follows open (quick: 200);
//   slow:       gateway peak memory with one HTTP client reading 10,000 lines/s over a
//               10,000,000-line backlog for 20 s (quick: 500,000 lines, 3 s);
//   page:       time from opening the web view to the first lines of a tail of 100, headless
//               Debian Chromium (median of 5 loads; quick: 3); and a 1,000,000-line history
//               (quick: 100,000) loaded into the page: time, DOM size, JS heap, a jump to the top.
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { NodeProcess } from "@tailwire/testkit";
import { generatedReader, memorySampler, percentile, round, withServer } from "./lib.mjs";

export const description =
  "gateway: SSE lines/s vs LogStreamClient direct, memory with many follows and a slow client, page time to first line";

const LINE_BYTES = 200;
const SAMPLE_MS = 250;
const self = fileURLToPath(import.meta.url);
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const TIME = 1_732_790_000_000;

// ---------------------------------------------------------------------------------------------
// Child roles

/**
 * Executions generated when read: `bench-N` has N lines and is complete; `follow-*` has 10
 * lines and then follows until cancelled.
 */
function generatedSource() {
  return {
    async open(executionId, options) {
      const follow = executionId.startsWith("follow-");
      const count = follow ? 10 : Number(executionId.slice("bench-".length));
      const afterSeq =
        options.fromSeq ?? (options.tail === undefined ? 0 : Math.max(0, count - options.tail));
      return generatedReader(count, afterSeq, options, {
        lineBytes: LINE_BYTES,
        time: TIME,
        follow,
      });
    },
  };
}

const sampler = () => memorySampler(SAMPLE_MS);

async function child(role, url, arg) {
  if (role === "compute") {
    const nc = await connect({
      servers: url,
      name: "bench-gateway-compute",
      maxReconnectAttempts: 0,
    });
    const { LogStreamServer } = await import("@tailwire/compute");
    const server = new LogStreamServer({
      connection: nc,
      nodeId: "bench-compute",
      source: generatedSource(),
      limits: {
        maxStreams: 20_000,
        maxStreamsPerRequester: 5_000,
        maxRequestsPerSecondPerRequester: 100_000,
      },
    });
    await server.start();
    emit({ ev: "ready" });
    process.stdin.on("data", () => emit({ ev: "stats", stats: server.stats() }));
  } else if (role === "gateway") {
    const { runGateway } = await import("@tailwire/gateway");
    const running = await runGateway({
      servers: url,
      host: "127.0.0.1",
      port: 0,
      nodeId: "bench-gateway",
      limits: { perToken: 5_000, total: 5_000 },
    });
    const memory = sampler();
    process.once("SIGINT", () => void running.close().then(() => process.exit(0)));
    emit({ ev: "ready", url: running.url });
    process.stdin.on("data", (data) => {
      // "mem" reports; "reset" reports, then starts new peaks.
      const command = data.toString().trim();
      const peaks = memory.peaks();
      if (command === "reset") memory.reset();
      global.gc?.();
      const m = process.memoryUsage();
      emit({ ev: "mem", heapUsed: m.heapUsed, rss: m.rss, ...peaks });
    });
  } else if (role === "direct") {
    const nc = await connect({ servers: url, name: "bench-direct", maxReconnectAttempts: 0 });
    const { LogStreamClient } = await import("@tailwire/requester");
    const client = new LogStreamClient({ connection: nc, nodeId: "bench-direct" });
    const stream = client.streamLogs({ nodeId: "bench-compute", executionId: `bench-${arg}` });
    const start = performance.now();
    let lines = 0;
    for await (const batch of stream.batches()) lines += batch.length;
    const seconds = (performance.now() - start) / 1000;
    emit({ ev: "done", lines, seconds, exitCode: stream.exitCode });
    await client.close();
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

const startRole = (role, url, arg = "", nodeArgs = []) =>
  NodeProcess.start({
    script: self,
    args: [role, url, String(arg)],
    readyLine: '{"ev":"ready"',
    readyTimeoutMs: 60_000,
    nodeArgs,
  });

/** The n-th (from 0) event `ev` a role printed (mem and stats repeat), polled with a deadline. */
const nextEvent = async (proc, ev, seen, timeoutMs = 60_000) => {
  const prefix = `{"ev":"${ev}"`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = proc.stdoutLines.filter((l) => l.startsWith(prefix));
    if (lines.length > seen) return JSON.parse(lines[seen]);
    if (Date.now() > deadline) throw new Error(`no ${ev} event #${seen} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/**
 * An SSE GET read as fast as possible: raw Buffers, nothing decoded. Completion is proven by the
 * `end` event's lastSeq (TCP delivers in order, so every event before it arrived).
 */
function sseDrain(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: "text/event-stream" }, agent: false });
    req.on("error", reject);
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`status ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      let last = Buffer.alloc(0);
      res.on("data", (chunk) => {
        bytes += chunk.length;
        last = chunk;
      });
      res.on("end", () => {
        const tail = last.toString("utf8");
        const end = /event: end\ndata: (.*)\n/.exec(tail);
        resolve({ bytes, end: end ? JSON.parse(end[1]) : undefined });
      });
    });
    req.end();
  });
}

/** An SSE GET that counts entries (occurrences of "id: ", across chunk boundaries). */
function sseGet(url, { onLines } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: "text/event-stream" }, agent: false });
    req.on("error", reject);
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      let lines = 0;
      let carry = "";
      res.setEncoding("latin1");
      res.on("data", (chunk) => {
        const text = carry + chunk;
        for (let at = text.indexOf("id: "); at !== -1; at = text.indexOf("id: ", at + 4)) lines++;
        carry = text.slice(-3);
        onLines?.(lines, res);
      });
      res.on("close", () => resolve({ lines }));
    });
    req.end();
  });
}

async function throughput(server, gatewayUrl, lines, rounds) {
  const direct = [];
  const viaGateway = [];
  const ratios = [];
  // Paired rounds, one path right after the other: the machine's speed drifts (and it is
  // shared), so the ratio of each pair is the figure, its median the result.
  for (let r = 0; r < rounds; r++) {
    const proc = await NodeProcess.start({
      script: self,
      args: ["direct", server.url, String(lines)],
    });
    const done = JSON.parse(await proc.waitForLine('{"ev":"done"', 120_000));
    await proc.waitForExit(10_000).catch(() => proc.kill());
    direct.push(done.lines / done.seconds);

    const start = performance.now();
    const got = await sseDrain(
      `${gatewayUrl}/v1/executions/bench-${lines}/logs?node=bench-compute`,
    );
    const seconds = (performance.now() - start) / 1000;
    if (got.end?.lastSeq !== lines)
      throw new Error(`gateway ended at ${got.end?.lastSeq} of ${lines}`);
    viaGateway.push(lines / seconds);
    ratios.push(viaGateway[r] / direct[r]);
  }
  const median = (values) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  return {
    direct: median(direct),
    gateway: median(viaGateway),
    ratio: median(ratios),
    directRuns: direct,
    gatewayRuns: viaGateway,
    ratios,
  };
}

async function follows(gateway, gatewayUrl, count) {
  gateway.stdin.write("mem\n");
  const before = await nextEvent(gateway, "mem", 0);
  const sockets = [];
  const opened = [];
  for (let i = 0; i < count; i++) {
    opened.push(
      new Promise((resolve, reject) => {
        const req = request(
          `${gatewayUrl}/v1/executions/follow-${i}/logs?node=bench-compute&follow=true`,
          { headers: { accept: "text/event-stream" }, agent: false },
        );
        req.on("error", reject);
        req.on("response", (res) => {
          sockets.push(req);
          let seen = 0;
          let carry = "";
          res.setEncoding("latin1");
          res.on("data", (chunk) => {
            const text = carry + chunk;
            for (let at = text.indexOf("id: "); at !== -1; at = text.indexOf("id: ", at + 4))
              seen++;
            carry = text.slice(-3);
            if (seen >= 10) resolve();
          });
        });
        req.end();
      }),
    );
    if (i % 100 === 99) await Promise.all(opened.slice(-100));
  }
  await Promise.all(opened);
  gateway.stdin.write("mem\n");
  const during = await nextEvent(gateway, "mem", 1);
  for (const req of sockets) req.destroy();
  return { before, during };
}

async function slowClient(gateway, gatewayUrl, lines, durationMs, rate) {
  // Peaks per half of the run: a bounded gateway has the same peak in both halves.
  gateway.stdin.write("reset\n");
  await nextEvent(gateway, "mem", 2);
  const start = performance.now();
  let consumed = 0;
  let stop;
  let half;
  const finished = new Promise((resolve) => {
    stop = resolve;
  });
  const halfway = new Promise((resolve) => {
    half = resolve;
  });
  void sseGet(`${gatewayUrl}/v1/executions/bench-${lines}/logs?node=bench-compute`, {
    onLines(count, res) {
      consumed = count;
      const elapsed = performance.now() - start;
      if (elapsed >= durationMs / 2) half();
      if (elapsed >= durationMs) {
        res.destroy();
        stop();
        return;
      }
      const ahead = (count / rate) * 1000 - elapsed;
      if (ahead > 5) {
        res.pause();
        setTimeout(() => res.resume(), ahead);
      }
    },
  });
  await halfway;
  gateway.stdin.write("reset\n");
  const firstHalf = await nextEvent(gateway, "mem", 3);
  await finished;
  gateway.stdin.write("mem\n");
  const secondHalf = await nextEvent(gateway, "mem", 4);
  return { consumed, seconds: (performance.now() - start) / 1000, firstHalf, secondHalf };
}

async function page(gatewayUrl, loads, bigLines) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const wall = [];
  const inPage = [];
  let big;
  try {
    for (let i = 0; i < loads; i++) {
      const context = await browser.newContext();
      const tab = await context.newPage();
      const start = performance.now();
      await tab.goto(`${gatewayUrl}/#/executions/bench-1000?node=bench-compute&tail=100`);
      await tab.waitForFunction(() => window.tailwireView?.state().lines === 100, undefined, {
        polling: "raf",
        timeout: 30_000,
      });
      wall.push(performance.now() - start);
      inPage.push(await tab.evaluate(() => window.tailwireView.state().firstLineMs));
      await context.close();
    }
    big = await bigHistory(browser, gatewayUrl, bigLines);
  } finally {
    await browser.close();
  }
  const median = (values) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  return { wallMs: median(wall), inPageMs: median(inPage), wallRuns: wall, big };
}

/**
 * A long history in the page: time until every line is loaded (following, so the view sits at
 * the end), the rows in the DOM, the page's JS heap, and the time for a jump to the top to show
 * the first line (one scroll, one render).
 */
async function bigHistory(browser, gatewayUrl, lines) {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const start = performance.now();
  await tab.goto(`${gatewayUrl}/#/executions/bench-${lines}?node=bench-compute`);
  await tab.waitForFunction((n) => window.tailwireView?.state().lines === n, lines, {
    polling: 100,
    timeout: 300_000,
  });
  const loadedMs = performance.now() - start;
  await tab.locator(`[data-seq="${lines}"]`).waitFor({ state: "visible", timeout: 30_000 });
  const jump = await tab.evaluate(async () => {
    const t0 = performance.now();
    document.getElementById("viewport").scrollTop = 0;
    for (;;) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
      if (document.querySelector('[data-seq="1"]')) return performance.now() - t0;
    }
  });
  const facts = await tab.evaluate(() => ({
    domRows: window.tailwireView.state().domRows,
    domNodes: document.getElementsByTagName("*").length,
    heapBytes: performance.memory?.usedJSHeapSize,
  }));
  await context.close();
  return { lines, loadedMs, jumpToTopMs: jump, ...facts };
}

export async function run({ quick }) {
  const lines = quick ? 300_000 : 2_000_000;
  const rounds = quick ? 1 : 5;
  const followCount = quick ? 200 : 1_000;
  const backlog = quick ? 500_000 : 10_000_000;
  const slowMs = quick ? 3_000 : 20_000;
  const rate = 10_000;
  return withServer(async (server) => {
    const compute = await startRole("compute", server.url);
    const gateway = await startRole("gateway", server.url, "", ["--expose-gc"]);
    const gatewayUrl = JSON.parse(
      gateway.stdoutLines.find((l) => l.startsWith('{"ev":"ready"')),
    ).url;
    try {
      const t = await throughput(server, gatewayUrl, lines, rounds);
      const f = await follows(gateway, gatewayUrl, followCount);
      const s = await slowClient(gateway, gatewayUrl, backlog, slowMs, rate);
      const p = await page(gatewayUrl, quick ? 3 : 5, quick ? 100_000 : 1_000_000);
      const mb = (bytes) => round(bytes / 1e6, 1);
      const perFollowKb = round((f.during.heapUsed - f.before.heapUsed) / followCount / 1e3, 1);
      return {
        lines,
        lineBytes: LINE_BYTES,
        throughput: t,
        follows: { count: followCount, ...f, perFollowKb },
        slowClient: { backlog, rate, ...s },
        page: p,
        table: [
          {
            figure: "SSE lines/s via gateway",
            value: Math.round(t.gateway),
            note: `direct LogStreamClient ${Math.round(t.direct)}/s; ratio ${round(t.ratio, 2)} (median of ${t.ratios.length} pairs: ${t.ratios.map((r) => round(r, 2)).join(", ")})`,
          },
          {
            figure: `gateway heap with ${followCount} follows (MB)`,
            value: mb(f.during.heapUsed),
            note: `idle ${mb(f.before.heapUsed)} MB; ~${perFollowKb} KB per follow; RSS ${mb(f.during.rss)} MB`,
          },
          {
            figure: `gateway peak heap, slow client over ${backlog} lines (MB)`,
            value: mb(Math.max(s.firstHalf.peakHeap, s.secondHalf.peakHeap)),
            note: `halves ${mb(s.firstHalf.peakHeap)} / ${mb(s.secondHalf.peakHeap)} MB; peak RSS ${mb(Math.max(s.firstHalf.peakRss, s.secondHalf.peakRss))} MB; client read ${s.consumed} lines in ${round(s.seconds, 1)} s`,
          },
          {
            figure: "page open to first lines, tail 100 (ms)",
            value: round(p.wallMs, 0),
            note: `in-page (script start to first line) ${round(p.inPageMs, 0)} ms`,
          },
          {
            figure: `page with ${p.big.lines} lines: all loaded (ms)`,
            value: round(p.big.loadedMs, 0),
            note: `${p.big.domRows} rows / ${p.big.domNodes} DOM elements; JS heap ${mb(p.big.heapBytes ?? 0)} MB; jump to top ${round(p.big.jumpToTopMs, 0)} ms`,
          },
        ],
      };
    } finally {
      await gateway.kill("SIGKILL");
      await compute.kill("SIGKILL");
    }
  });
}

if (process.argv[2] && process.argv[1] === self) {
  await child(process.argv[2], process.argv[3], process.argv[4]);
}
