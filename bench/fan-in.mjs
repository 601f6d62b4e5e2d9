// Fan-in: 100 concurrent follow streams from 20 compute nodes (5 executions each, all in one
// separate process, fan-in-worker.mjs, each node on its own connection) into one requester (this
// process), 200-byte lines. Three runs:
//   rate:    a writer appends to every execution at a fixed total rate; delivered lines/s, the
//            end-to-end latency (append to the consumer's hands) and the requester's CPU/memory
//   backlog: every execution already holds N lines (a writer far ahead), so each stream goes as
//            fast as its credit allows; aggregate lines/s and the requester's CPU/memory
//   raw:     the same lines batched like 64 KiB frames on 100 plain subjects, the same processes
//            and connections: the ceiling the backlog run is compared with
import { LogStreamClient } from "@tailwire/requester";
import { NodeProcess } from "@tailwire/testkit";
import { connectTo, percentile, round, withServer } from "./lib.mjs";

export const description =
  "100 follow streams from 20 compute nodes (1 process) into 1 requester: fixed-rate writer, backlog as fast as credit allows, vs raw NATS";

const WORKER = new URL("./fan-in-worker.mjs", import.meta.url);
const NODES = 20;
const PER_NODE = 5;
const STREAMS = NODES * PER_NODE;
const LINE_BYTES = 200;
/** What a 64 KiB frame holds of 200-byte lines (as in the stream benchmark). */
const LINES_PER_MESSAGE = Math.floor((64 * 1024 - 200) / 215);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function worker(server, mode, config) {
  return NodeProcess.start({
    script: WORKER,
    args: [
      server.url,
      mode,
      JSON.stringify({ nodes: NODES, perNode: PER_NODE, lineBytes: LINE_BYTES, ...config }),
    ],
    readyLine: "ready",
    readyTimeoutMs: 120_000,
  });
}

let tags = 0;
async function workerCpuMs(child) {
  const tag = `s${++tags}`;
  child.stdin.write(`stats ${tag}\n`);
  return JSON.parse(await child.waitForLine(`"tag":"${tag}"}`, 10_000));
}

function memory() {
  const m = process.memoryUsage();
  return { heapMB: m.heapUsed / 1e6, rssMB: m.rss / 1e6 };
}

function streamsOf(client, options) {
  const streams = [];
  for (let n = 0; n < NODES; n++) {
    for (let e = 0; e < PER_NODE; e++) {
      streams.push(
        client.streamLogs({ nodeId: `fan-${n}`, executionId: `e${e}`, follow: true, ...options }),
      );
    }
  }
  return streams;
}

async function rate(server, linesPerSecond, windowMs) {
  const child = await worker(server, "rate", { linesPerSecond });
  const nc = await connectTo(server, "fan-in requester");
  const client = new LogStreamClient({ connection: nc, nodeId: "fan-in-rate" });
  let received = 0;
  let sampling = false;
  const latencies = [];
  const streams = streamsOf(client, { tail: 0 });
  const consumers = streams.map(async (s) => {
    try {
      for await (const entry of s) {
        received++;
        if (sampling && (received & 15) === 0) latencies.push(Date.now() - entry.time);
      }
    } catch {
      // CancelledError at close
    }
  });
  await Promise.all(streams.map((s) => s.accepted));
  await sleep(1000); // warm-up
  const r0 = received;
  const w0 = await workerCpuMs(child);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  sampling = true;
  await sleep(windowMs);
  sampling = false;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const delivered = received - r0;
  const w1 = await workerCpuMs(child);
  const mem = memory();
  await client.close();
  await Promise.all(consumers);
  await nc.close();
  await child.kill("SIGTERM");
  latencies.sort((a, b) => a - b);
  return {
    offeredLinesPerSecond: linesPerSecond,
    ...throughput(delivered, wallMs, cpu, w1.cpuMs - w0.cpuMs),
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    ...mem,
  };
}

/** Throughput and CPU figures of one run: requester CPU from cpuUsage, compute CPU from the worker. */
function throughput(lines, wallMs, cpu, workerCpuMs) {
  const requesterCpuMs = (cpu.user + cpu.system) / 1000;
  return {
    linesPerSecond: (lines / wallMs) * 1000,
    cpuMicrosPerLine: ((requesterCpuMs + workerCpuMs) * 1000) / lines,
    requesterCpuPercent: (requesterCpuMs / wallMs) * 100,
    computeCpuPercent: (workerCpuMs / wallMs) * 100,
  };
}

async function backlog(server, lines) {
  const child = await worker(server, "backlog", { lines });
  const nc = await connectTo(server, "fan-in requester");
  const client = new LogStreamClient({ connection: nc, nodeId: "fan-in-backlog" });
  const w0 = await workerCpuMs(child);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const streams = streamsOf(client, {});
  let peak = memory();
  const done = await Promise.all(
    streams.map(async (s) => {
      let expected = 1;
      for await (const entry of s) {
        if (entry.seq !== expected)
          throw new Error(`stream ${s.streamId}: seq ${entry.seq}, expected ${expected}`);
        if (expected++ === lines) break; // the whole history: leaving the loop cancels the follow
        if ((expected & 4095) === 0) {
          const m = memory();
          if (m.rssMB > peak.rssMB) peak = m;
        }
      }
      return expected - 1;
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const w1 = await workerCpuMs(child);
  if (done.some((n) => n !== lines)) throw new Error("a stream ended early");
  await client.close();
  await nc.close();
  await child.kill("SIGTERM");
  const total = lines * STREAMS;
  return {
    lines: total,
    seconds: wallMs / 1000,
    mbPerSecond: (total * LINE_BYTES) / wallMs / 1000,
    ...throughput(total, wallMs, cpu, w1.cpuMs - w0.cpuMs),
    ...peak,
  };
}

async function raw(server, lines) {
  const child = await worker(server, "raw", { lines, linesPerMessage: LINES_PER_MESSAGE });
  const nc = await connectTo(server, "fan-in raw consumer");
  const total = lines * STREAMS;
  let received = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  nc.subscribe("bench.fanin.>", {
    callback: (_err, msg) => {
      received += msg.string().split("\n").length;
      if (received >= total) resolveDone();
    },
  });
  await nc.flush();
  const w0 = await workerCpuMs(child);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await nc.request("bench.fanin.go", "", { timeout: 600_000 });
  await done;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const w1 = await workerCpuMs(child);
  const mem = memory();
  await nc.close();
  await child.kill("SIGTERM");
  return {
    lines: total,
    seconds: wallMs / 1000,
    mbPerSecond: (total * LINE_BYTES) / wallMs / 1000,
    ...throughput(total, wallMs, cpu, w1.cpuMs - w0.cpuMs),
    ...mem,
  };
}

export async function run({ quick }) {
  const offered = quick ? 50_000 : 100_000;
  const windowMs = quick ? 3_000 : 10_000;
  const lines = quick ? 2_000 : 10_000;
  return withServer(async (server) => {
    if (!quick) {
      // Warm both paths once so JIT compilation is not measured.
      await backlog(server, 1_000);
      await raw(server, 1_000);
    }
    const fixed = await rate(server, offered, windowMs);
    const ours = await backlog(server, lines);
    const base = await raw(server, lines);
    const ratio = ours.linesPerSecond / base.linesPerSecond;
    const row = (run, r, extra = {}) => ({
      run,
      "lines/s": round(r.linesPerSecond),
      "requester CPU %": round(r.requesterCpuPercent, 1),
      "compute CPU %": round(r.computeCpuPercent, 1),
      "CPU µs/line (req+comp)": round(r.cpuMicrosPerLine, 2),
      "heap MB": round(r.heapMB, 1),
      "RSS MB": round(r.rssMB),
      ...extra,
    });
    return {
      streams: STREAMS,
      computeNodes: NODES,
      lineBytes: LINE_BYTES,
      rate: fixed,
      backlog: ours,
      raw: base,
      ratio,
      table: [
        row(`rate: ${offered} lines/s offered`, fixed, {
          "latency p50/p99 ms": `${fixed.latencyMs.p50} / ${fixed.latencyMs.p99}`,
        }),
        row(`backlog: ${lines} lines × ${STREAMS} streams`, ours, { "latency p50/p99 ms": "" }),
        row(`raw NATS: same lines, ${STREAMS} subjects`, base, { "latency p50/p99 ms": "" }),
        {
          run: "backlog / raw",
          "lines/s": round(ratio, 2),
          "requester CPU %": "",
          "compute CPU %": "",
          "CPU µs/line (req+comp)": "",
          "heap MB": "",
          "RSS MB": "",
          "latency p50/p99 ms": "",
        },
      ],
    };
  });
}
