// One stream of N lines of 200 bytes from a MemoryLogStore, through nats-server, to a consuming
// loop; against raw NATS publish/subscribe of the same lines batched the same way (the same
// number of lines per message, joined by newlines), measured in the same run and process.
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogStreamClient } from "@tailwire/requester";
import { connectTo, makeLine, round, withServer } from "./lib.mjs";

export const description = "one stream, 200-byte lines, tailwire vs raw NATS (same batching)";

const LINE_BYTES = 200;

async function rawNats(server, lines, linesPerMessage) {
  const pub = await connectTo(server, "raw-pub");
  const sub = await connectTo(server, "raw-sub");
  const messages = [];
  for (let i = 0; i < lines.length; i += linesPerMessage) {
    messages.push(new TextEncoder().encode(lines.slice(i, i + linesPerMessage).join("\n")));
  }
  let received = 0;
  const done = new Promise((resolve) => {
    sub.subscribe("bench.raw", {
      callback: (_err, msg) => {
        received += msg.string().split("\n").length;
        if (received >= lines.length) resolve();
      },
    });
  });
  await sub.flush();
  const start = performance.now();
  // Flush every few messages: without it, core NATS would drop lines past the pending limits,
  // and a raw baseline that loses lines is no baseline.
  for (let i = 0; i < messages.length; i++) {
    pub.publish("bench.raw", messages[i]);
    if (i % 64 === 63) await pub.flush();
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  await pub.close();
  await sub.close();
  return { seconds, linesPerSecond: lines.length / seconds, mbPerSecond: (lines.length * LINE_BYTES) / seconds / 1e6 };
}

async function tailwire(server, count) {
  const store = new MemoryLogStore({ maxEntriesPerExecution: count });
  await store.create("bench");
  for (let i = 1; i <= count; i++) await store.append("bench", "stdout", makeLine(i, LINE_BYTES), 1_732_790_000_000 + i);
  await store.complete("bench", 0);
  const computeConnection = await connectTo(server, "compute");
  const requesterConnection = await connectTo(server, "requester");
  const compute = new LogStreamServer({ connection: computeConnection, nodeId: "bench-compute", source: store });
  await compute.start();
  const client = new LogStreamClient({ connection: requesterConnection, nodeId: "bench-requester" });
  const start = performance.now();
  let received = 0;
  let expectedSeq = 1;
  for await (const entry of client.streamLogs({ nodeId: "bench-compute", executionId: "bench" })) {
    if (entry.seq !== expectedSeq) throw new Error(`out of order: got ${entry.seq}, expected ${expectedSeq}`);
    expectedSeq++;
    received++;
  }
  const seconds = (performance.now() - start) / 1000;
  if (received !== count) throw new Error(`received ${received} of ${count} lines`);
  await client.close();
  await compute.close();
  await computeConnection.close();
  await requesterConnection.close();
  return { seconds, linesPerSecond: count / seconds, mbPerSecond: (count * LINE_BYTES) / seconds / 1e6 };
}

export async function run({ quick }) {
  const count = quick ? 100_000 : 1_000_000;
  // What a 64 KiB frame holds of 200-byte lines: the raw baseline batches the same way.
  const linesPerMessage = Math.floor((64 * 1024 - 200) / (LINE_BYTES + 36));
  const lines = Array.from({ length: count }, (_, i) => makeLine(i + 1, LINE_BYTES));
  return withServer(async (server) => {
    // Warm both paths once so JIT compilation is not measured.
    await rawNats(server, lines.slice(0, 20_000), linesPerMessage);
    await tailwire(server, 20_000);
    const raw = await rawNats(server, lines, linesPerMessage);
    const ours = await tailwire(server, count);
    const ratio = ours.linesPerSecond / raw.linesPerSecond;
    return {
      lines: count,
      lineBytes: LINE_BYTES,
      linesPerMessage,
      raw,
      tailwire: ours,
      ratio,
      table: [
        { path: "raw NATS", "lines/s": round(raw.linesPerSecond), "MB/s": round(raw.mbPerSecond, 1), seconds: round(raw.seconds, 2) },
        { path: "tailwire", "lines/s": round(ours.linesPerSecond), "MB/s": round(ours.mbPerSecond, 1), seconds: round(ours.seconds, 2) },
        { path: "ratio", "lines/s": round(ratio, 2), "MB/s": "", seconds: "" },
      ],
    };
  });
}
