// Failure detection times with the compute node and the requester as separate OS processes
// (the chaos test fixtures, tests/integration/src/chaos/fixtures/*.mjs): SIGKILL of the compute
// node until the requester's stream fails, SIGKILL of the requester until the compute node
// releases its stream, and cancel() until the producer stops. Each against its configured window.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeProcess } from "@tailwire/testkit";
import { percentile, round, withServer } from "./lib.mjs";

export const description =
  "failure detection across processes: compute SIGKILL, requester SIGKILL, cancel (interval 200 ms, timeout 100 ms, maxMissed 2, lostAfterMissed 3)";

const FIXTURES = new URL("../tests/integration/src/chaos/fixtures/", import.meta.url);
const TIMING = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 100,
  maxMissed: 2,
  computeLostAfterMissed: 3,
};
const WINDOWS = {
  // lostAfterMissed silent intervals, checked every interval / 4.
  computeLost:
    TIMING.heartbeatIntervalMs * TIMING.computeLostAfterMissed + TIMING.heartbeatIntervalMs / 4,
  // maxMissed failed heartbeats, the last one timing out.
  requesterLost: TIMING.heartbeatIntervalMs * TIMING.maxMissed + TIMING.heartbeatTimeoutMs,
  // A cancel is one control message: it must beat the first heartbeat that could catch it.
  cancel: TIMING.heartbeatIntervalMs,
};

let ids = 0;
const nextId = (prefix) => `${prefix}-${process.pid}-${++ids}`;

/** A fixture process: commands on stdin, JSON events (`{"ev":..,"id":..,...,"t":..}`) on stdout. */
class Node {
  static async start(script, config, readyEvent) {
    const node = new Node();
    node.id = config.nodeId;
    node.proc = await NodeProcess.start({
      script: new URL(script, FIXTURES),
      args: [JSON.stringify(config)],
      readyLine: `{"ev":"${readyEvent}"`,
      readyTimeoutMs: 20_000,
    });
    return node;
  }

  send(command) {
    this.proc.stdin.write(`${command}\n`);
  }

  async event(ev, id, timeoutMs = 10_000) {
    const line = await this.proc.waitForLine(
      `{"ev":${JSON.stringify(ev)},"id":${JSON.stringify(id)},`,
      timeoutMs,
    );
    return JSON.parse(line);
  }

  /** Graceful close; the process must then exit by itself. */
  async close() {
    if (!this.proc.running) return;
    this.send("close");
    const status = await this.proc.waitForExit(10_000).catch(() => this.proc.kill());
    if (status.code !== 0) throw new Error(`${this.id} exited with ${JSON.stringify(status)}`);
  }
}

async function startCompute(url, dir) {
  const nodeId = nextId("bench-compute");
  return Node.start(
    "compute-node.mjs",
    {
      url,
      nodeId,
      dir: join(dir, nodeId),
      executions: ["e1"],
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
      maxMissed: TIMING.maxMissed,
    },
    "ready",
  );
}

function startRequester(url) {
  return Node.start(
    "requester-node.mjs",
    {
      url,
      nodeId: nextId("bench-requester"),
      heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
      computeLostAfterMissed: TIMING.computeLostAfterMissed,
    },
    "ready",
  );
}

/** Opens a follow and waits until it streams; returns its stream id. */
async function openStreaming(requester, computeId, tag) {
  requester.send(`open ${tag} ${computeId} e1`);
  const { streamId } = await requester.event("accepted", tag);
  await requester.event("first-entry", tag);
  return streamId;
}

/** SIGKILL the compute node → ComputeNodeLostError on the requester. One requester throughout. */
async function computeKilled(url, dir, trials) {
  const requester = await startRequester(url);
  const times = [];
  try {
    for (let i = 0; i < trials; i++) {
      const compute = await startCompute(url, dir);
      const tag = `k${i}`;
      await openStreaming(requester, compute.id, tag);
      const killedAt = Date.now();
      await compute.proc.kill("SIGKILL");
      const ended = await requester.event("ended", tag);
      if (ended.code !== "COMPUTE_NODE_LOST")
        throw new Error(`unexpected end ${JSON.stringify(ended)}`);
      times.push(ended.t - killedAt);
    }
  } finally {
    await requester.close();
  }
  return times;
}

/** SIGKILL the requester → the compute node releases its stream. One compute node throughout. */
async function requesterKilled(url, dir, trials) {
  const compute = await startCompute(url, dir);
  const times = [];
  try {
    for (let i = 0; i < trials; i++) {
      const requester = await startRequester(url);
      const streamId = await openStreaming(requester, compute.id, "s");
      const killedAt = Date.now();
      await requester.proc.kill("SIGKILL");
      const ended = await compute.event("stream-ended", streamId);
      if (ended.cause !== "requester_lost")
        throw new Error(`unexpected end ${JSON.stringify(ended)}`);
      times.push(ended.t - killedAt);
    }
  } finally {
    await compute.close();
  }
  return times;
}

/** cancel() → the producer stops (its stream ends on the compute node). */
async function cancelled(url, dir, trials) {
  const compute = await startCompute(url, dir);
  const requester = await startRequester(url);
  const times = [];
  try {
    for (let i = 0; i < trials; i++) {
      const tag = `c${i}`;
      const streamId = await openStreaming(requester, compute.id, tag);
      requester.send(`cancel ${tag}`);
      const { t: cancelAt } = await requester.event("cancelling", tag);
      const ended = await compute.event("stream-ended", streamId);
      if (ended.cause !== "cancelled") throw new Error(`unexpected end ${JSON.stringify(ended)}`);
      times.push(ended.t - cancelAt);
    }
  } finally {
    await requester.close();
    await compute.close();
  }
  return times;
}

function summary(what, times, window) {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    what,
    trials: times.length,
    medianMs: percentile(sorted, 50),
    worstMs: sorted.at(-1),
    windowMs: window,
    withinWindow: sorted.at(-1) <= window,
    timesMs: times,
  };
}

export async function run({ quick }) {
  const trials = quick ? 5 : 20;
  const dir = await mkdtemp(join(tmpdir(), "tailwire-bench-failover-"));
  try {
    return await withServer(async (server) => {
      const results = {
        computeKilled: summary(
          "compute SIGKILL → requester ComputeNodeLostError",
          await computeKilled(server.url, dir, trials),
          WINDOWS.computeLost,
        ),
        requesterKilled: summary(
          "requester SIGKILL → compute releases the stream",
          await requesterKilled(server.url, dir, trials),
          WINDOWS.requesterLost,
        ),
        cancel: summary(
          "cancel() → producer stops",
          await cancelled(server.url, dir, trials),
          WINDOWS.cancel,
        ),
      };
      return {
        timing: TIMING,
        windows: WINDOWS,
        ...results,
        table: Object.values(results).map((r) => ({
          scenario: r.what,
          trials: r.trials,
          "median ms": round(r.medianMs),
          "worst ms": round(r.worstMs),
          "window ms": r.windowMs,
          within: r.withinWindow ? "yes" : "NO",
        })),
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
