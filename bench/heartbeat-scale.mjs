// One requester (this process) with thousands of compute nodes, each serving it 5 idle follow
// streams. The compute nodes are LogStreamServers over 4 connections in one child process (the
// scale tests' fixture, tests/integration/src/scale/fixtures/compute-fleet.mjs), each
// heartbeating this requester once per interval. Measured in a steady-state window: heartbeats
// answered per second, the requester's CPU, its heap per open stream, and the heartbeat round
// trip, twice: as every compute node sees it (timed around connection.request in the fleet, whose
// one event loop carries all the nodes) and from a separate, lightly loaded probe process that
// sends real heartbeats (real node ids, real stream ids) at a fixed rate.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { LogStreamClient } from "@tailwire/requester";
import { NodeProcess } from "@tailwire/testkit";
import { connectTo, round, withServer } from "./lib.mjs";

export const description =
  "1 requester × N compute nodes × 5 idle follow streams (interval 1 s): heartbeats/s, round trip, requester CPU and heap per stream";

const FLEET = new URL("../tests/integration/src/scale/fixtures/compute-fleet.mjs", import.meta.url);
const PROBE = new URL("./heartbeat-probe-worker.mjs", import.meta.url);
const PER_NODE = 5;
const INTERVAL_MS = 1000;

let gcFn;
function gc() {
  if (!gcFn) {
    setFlagsFromString("--expose-gc");
    gcFn = runInNewContext("gc");
  }
  gcFn();
  gcFn();
}

let tags = 0;
async function fleetCommand(fleet, command, ev, timeoutMs = 30_000) {
  const tag = `t${++tags}`;
  fleet.stdin.write(`${command.replace("TAG", tag)}\n`);
  const line = await fleet.waitForLine(`{"ev":"${ev}","id":"${tag}",`, timeoutMs);
  return JSON.parse(line);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function run({ quick }) {
  const nodes = quick ? 200 : 2000;
  const windowMs = quick ? 3000 : 10_000;
  const probeRate = 50;
  const executions = Array.from({ length: PER_NODE }, (_, i) => `exec-${i}`);
  return withServer(async (server) => {
    const fleet = await NodeProcess.start({
      script: FLEET,
      args: [JSON.stringify({ url: server.url, prefix: "hb", nodes, connections: 4, executions })],
      nodeArgs: ["--expose-gc"],
      readyLine: '{"ev":"ready"',
      readyTimeoutMs: 60_000,
    });
    const dir = await mkdtemp(join(tmpdir(), "tailwire-hb-bench-"));
    const nc = await connectTo(server, "requester");
    try {
      const fleetBefore = await fleetCommand(fleet, "stats TAG gc", "stats");
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const client = new LogStreamClient({
        connection: nc,
        nodeId: "hb-requester",
        heartbeatIntervalMs: INTERVAL_MS,
        acceptTimeoutMs: 60_000,
      });
      const streams = [];
      const started = performance.now();
      for (let n = 0; n < nodes; n++) {
        for (const executionId of executions) {
          streams.push(client.streamLogs({ nodeId: `hb-${n}`, executionId, follow: true }));
        }
      }
      const consumers = streams.map(async (s) => {
        try {
          for await (const _ of s) {
            // idle
          }
        } catch {
          // CancelledError at close
        }
      });
      await Promise.all(streams.map((s) => s.accepted));
      const acceptSeconds = (performance.now() - started) / 1000;

      // The probe's heartbeats: real node ids with their real stream ids.
      const byNode = new Map();
      for (const s of streams) byNode.set(s.nodeId, [...(byNode.get(s.nodeId) ?? []), s.streamId]);
      const sample = [...byNode]
        .slice(0, 100)
        .map(([nodeId, streamIds]) => ({ nodeId, streamIds }));
      const nodesFile = join(dir, "nodes.json");
      await writeFile(nodesFile, JSON.stringify(sample));
      const probe = await NodeProcess.start({
        script: PROBE,
        args: [server.url, client.nodeId, nodesFile, String(probeRate), String(windowMs)],
        readyLine: "ready",
        readyTimeoutMs: 20_000,
      });

      // Warm-up: one interval, so every node's heartbeat timer runs. Then the window.
      await sleep(INTERVAL_MS);
      await fleetCommand(fleet, "rtt TAG", "rtt");
      const s0 = await fleetCommand(fleet, "stats TAG", "stats");
      const answered0 = client.stats().heartbeatsAnswered;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      probe.stdin.write("go\n");
      await sleep(windowMs);
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const answered = client.stats().heartbeatsAnswered - answered0;
      const s1 = await fleetCommand(fleet, "stats TAG", "stats");
      const rtt = await fleetCommand(fleet, "rtt TAG", "rtt");
      const probeResult = JSON.parse(
        (await probe.waitForLine(/^\{"count"/, windowMs + 30_000)).trim(),
      );
      await probe.waitForExit(10_000);

      gc();
      const heapPerStream = (process.memoryUsage().heapUsed - heapBefore) / streams.length;
      const fleetAfter = await fleetCommand(fleet, "stats TAG gc", "stats");
      const fleetHeapPerStream = (fleetAfter.heapUsed - fleetBefore.heapUsed) / streams.length;
      const rss = process.memoryUsage().rss;
      const requesterCpu = (cpu.user + cpu.system) / 1000 / wallMs;
      const fleetCpu = (s1.cpuMs - s0.cpuMs) / wallMs;
      const failed = s1.stats.heartbeatsFailed - s0.stats.heartbeatsFailed;
      const sent = s1.stats.heartbeatsSent - s0.stats.heartbeatsSent;

      await client.close();
      await Promise.all(consumers);

      const figures = {
        computeNodes: nodes,
        streams: streams.length,
        intervalMs: INTERVAL_MS,
        windowSeconds: wallMs / 1000,
        acceptSeconds,
        heartbeatsPerSecond: (sent / wallMs) * 1000,
        heartbeatsAnsweredPerSecond: (answered / wallMs) * 1000,
        heartbeatsSent: sent,
        heartbeatsFailed: failed,
        fleetRttMs: { p50: rtt.p50, p99: rtt.p99, max: rtt.max, count: rtt.count },
        probeRttMs: probeResult,
        requesterCpuPercent: requesterCpu * 100,
        fleetCpuPercent: fleetCpu * 100,
        requesterHeapBytesPerStream: heapPerStream,
        requesterRssMB: rss / 1e6,
        computeHeapBytesPerStream: fleetHeapPerStream,
      };
      return {
        ...figures,
        table: [
          { figure: "compute nodes × streams each", value: `${nodes} × ${PER_NODE}` },
          { figure: "all streams accepted in (s)", value: round(acceptSeconds, 2) },
          { figure: "heartbeats / s from the fleet", value: round(figures.heartbeatsPerSecond) },
          {
            figure: "heartbeats answered / s (fleet + probe)",
            value: round(figures.heartbeatsAnsweredPerSecond),
          },
          { figure: "heartbeats failed in window", value: failed },
          {
            figure: "round trip from the fleet p50 / p99 (ms)",
            value: `${round(rtt.p50 ?? Number.NaN, 2)} / ${round(rtt.p99 ?? Number.NaN, 2)}`,
          },
          {
            figure: `round trip from the probe (${probeRate}/s) p50 / p99 (ms)`,
            value: `${round(probeResult.p50 ?? Number.NaN, 2)} / ${round(probeResult.p99 ?? Number.NaN, 2)}`,
          },
          { figure: "requester CPU (% of one core)", value: round(figures.requesterCpuPercent, 1) },
          { figure: "fleet CPU (% of one core)", value: round(figures.fleetCpuPercent, 1) },
          { figure: "requester heap per open stream (B)", value: round(heapPerStream) },
          { figure: "requester RSS (MB)", value: round(rss / 1e6) },
          { figure: "compute heap per open stream (B)", value: round(fleetHeapPerStream) },
        ],
      };
    } finally {
      await nc.close().catch(() => {});
      if (fleet.running) await fleet.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
}
