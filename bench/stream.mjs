// One stream of N lines of 200 bytes from a MemoryLogStore on a compute node (its own process),
// through nats-server, to a consuming loop (this process); against raw NATS publish/subscribe of
// the same lines batched the same way (as many lines per message as a 64 KiB frame holds, joined
// by newlines at publish time, split by the consumer), with the same two processes, in the same
// run. Raw NATS has no flow control, no validation, no sequence numbers: it is the ceiling.
import { LogStreamClient } from "@tailwire/requester";
import { NodeProcess } from "@tailwire/testkit";
import { connectTo, round, withServer } from "./lib.mjs";

export const description =
  "one stream of 200-byte lines, compute and requester processes, tailwire vs raw NATS";

const LINE_BYTES = 200;
const producerScript = new URL("./stream-producer.mjs", import.meta.url);

async function producer(server, mode, count, linesPerMessage) {
  return NodeProcess.start({
    script: producerScript,
    args: [server.url, mode, String(count), String(linesPerMessage)],
    readyLine: "ready",
    readyTimeoutMs: 120_000,
    nodeArgs: process.env.BENCH_PROFILE_DIR
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [],
  });
}

async function rawNats(server, count, linesPerMessage) {
  const child = await producer(server, "raw", count, linesPerMessage);
  const nc = await connectTo(server, "raw-consumer");
  let received = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  nc.subscribe("bench.raw", {
    callback: (_err, msg) => {
      received += msg.string().split("\n").length;
      if (received >= count) resolveDone();
    },
  });
  await nc.flush();
  const start = performance.now();
  await nc.request("bench.go", "bench.raw", { timeout: 600_000 });
  await done;
  const seconds = (performance.now() - start) / 1000;
  await nc.close();
  await child.kill("SIGTERM");
  return {
    seconds,
    linesPerSecond: count / seconds,
    mbPerSecond: (count * LINE_BYTES) / seconds / 1e6,
  };
}

async function tailwire(server, count, linesPerMessage) {
  const child = await producer(server, "tailwire", count, linesPerMessage);
  const nc = await connectTo(server, "requester");
  const client = new LogStreamClient({ connection: nc, nodeId: "bench-requester" });
  const start = performance.now();
  let expectedSeq = 1;
  for await (const entry of client.streamLogs({ nodeId: "bench-compute", executionId: "bench" })) {
    if (entry.seq !== expectedSeq)
      throw new Error(`out of order: got ${entry.seq}, expected ${expectedSeq}`);
    expectedSeq++;
  }
  const seconds = (performance.now() - start) / 1000;
  if (expectedSeq - 1 !== count) throw new Error(`received ${expectedSeq - 1} of ${count} lines`);
  await client.close();
  await nc.close();
  await child.kill("SIGTERM");
  return {
    seconds,
    linesPerSecond: count / seconds,
    mbPerSecond: (count * LINE_BYTES) / seconds / 1e6,
  };
}

export async function run({ quick }) {
  const count = quick ? 100_000 : 1_000_000;
  // What a 64 KiB frame holds of 200-byte lines (about 215 bytes each in a frame).
  const linesPerMessage = Math.floor((64 * 1024 - 200) / 215);
  return withServer(async (server) => {
    // Warm both paths once so start-up and JIT compilation are not measured.
    await rawNats(server, 20_000, linesPerMessage);
    await tailwire(server, 20_000, linesPerMessage);
    const raw = await rawNats(server, count, linesPerMessage);
    const ours = await tailwire(server, count, linesPerMessage);
    const ratio = ours.linesPerSecond / raw.linesPerSecond;
    return {
      lines: count,
      lineBytes: LINE_BYTES,
      linesPerMessage,
      raw,
      tailwire: ours,
      ratio,
      table: [
        {
          path: "raw NATS",
          "lines/s": round(raw.linesPerSecond),
          "MB/s": round(raw.mbPerSecond, 1),
          seconds: round(raw.seconds, 2),
        },
        {
          path: "tailwire",
          "lines/s": round(ours.linesPerSecond),
          "MB/s": round(ours.mbPerSecond, 1),
          seconds: round(ours.seconds, 2),
        },
        { path: "tailwire / raw", "lines/s": round(ratio, 2), "MB/s": "", seconds: "" },
      ],
    };
  });
}
