// One stream of N lines of 200 bytes from a MemoryLogStore on a compute node (its own process),
// through nats-server, to a consuming loop (this process); against raw NATS publish/subscribe of
// the same lines batched the same way (as many lines per message as a 64 KiB frame holds, joined
// by newlines at publish time, split by the consumer), with the same two processes, in the same
// run. Raw NATS has no flow control, no validation, no sequence numbers: it is the ceiling.
// Then the same for log-like text (testkit's LogTextGenerator), with tailwire uncompressed and
// compressed (the codec the two sides agree on), raw NATS batched as a 64 KiB frame would be.
//
// Three processes share this machine's cores, so one run's wall time is noisy (±15 % on a 2-core
// VM). The paths are therefore measured in alternating rounds after a warm-up of each producer
// process, and the figures are the medians; CPU time per line of each process (from /proc) shows
// where the time goes whatever the scheduling.
import { LogStreamClient } from "@tailwire/requester";
import { NodeProcess } from "@tailwire/testkit";
import { connectTo, cpuMsOf, percentile, receiveRaw, round, withServer } from "./lib.mjs";

export const description =
  "one stream of 200-byte lines, compute and requester processes, tailwire vs raw NATS";

const LINE_BYTES = 200;
const producerScript = new URL("./stream-producer.mjs", import.meta.url);

function producer(server, mode, count, linesPerMessage, text) {
  return NodeProcess.start({
    script: producerScript,
    args: [server.url, mode, String(count), String(linesPerMessage), text],
    readyLine: "ready",
    readyTimeoutMs: 120_000,
    nodeArgs: process.env.BENCH_PERF
      ? ["--perf-basic-prof"]
      : process.env.BENCH_PROFILE_DIR
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
        : [],
  });
}

/** Runs `consume` and reports its throughput and each process's CPU time per line. */
async function measured(server, child, count, consume) {
  const producer0 = cpuMsOf(child.pid);
  const server0 = cpuMsOf(server.pid);
  const consumer0 = process.cpuUsage();
  const start = performance.now();
  await consume();
  const seconds = (performance.now() - start) / 1000;
  const consumer = process.cpuUsage(consumer0);
  const usPerLine = (ms) => round((ms * 1000) / count, 3);
  return {
    seconds,
    linesPerSecond: count / seconds,
    mbPerSecond: (count * LINE_BYTES) / seconds / 1e6,
    cpuUsPerLine: {
      producer: usPerLine(cpuMsOf(child.pid) - producer0),
      natsServer: usPerLine(cpuMsOf(server.pid) - server0),
      consumer: usPerLine((consumer.user + consumer.system) / 1000),
    },
  };
}

async function rawNats(server, child, count) {
  const nc = await connectTo(server, "raw-consumer");
  try {
    return await measured(server, child, count, async () => {
      await receiveRaw(nc, count);
    });
  } finally {
    await nc.close();
  }
}

/** The consuming loop takes entries one by one (`for await (const entry of stream)`), or whole batches. */
async function tailwire(
  server,
  child,
  count,
  { batches = false, compression = false, protocol = "auto" } = {},
) {
  const nc = await connectTo(server, "requester");
  const client = new LogStreamClient({
    connection: nc,
    nodeId: "bench-requester",
    // Compressed frames are v1's (v2 has none yet): a compressed run speaks v1. Otherwise two
    // nodes of this release speak v2 ("auto"), unless the path asks for v1 to compare.
    protocol: compression ? "v1" : protocol,
    compression,
  });
  try {
    return await measured(server, child, count, async () => {
      let received = 0;
      let expectedSeq;
      const take = (entry) => {
        if (expectedSeq !== undefined && entry.seq !== expectedSeq)
          throw new Error(`out of order: got ${entry.seq}, expected ${expectedSeq}`);
        expectedSeq = entry.seq + 1;
        received++;
      };
      const stream = client.streamLogs({
        nodeId: "bench-compute",
        executionId: "bench",
        tail: count,
      });
      if (batches) {
        for await (const batch of stream.batches()) for (const entry of batch) take(entry);
      } else {
        for await (const entry of stream) take(entry);
      }
      if (received !== count) throw new Error(`received ${received} of ${count} lines`);
      if (compression && stream.acceptedInfo?.compression === undefined)
        throw new Error("the compressed path ran without compression");
    });
  } finally {
    await client.close();
    await nc.close();
  }
}

const ratioRow = (path, ratio) => ({
  path,
  "lines/s": round(ratio, 2),
  "MB/s": "",
  "CPU µs/line producer": "",
  "nats-server": "",
  consumer: "",
});

/** A path's median round (by throughput), with every round's throughput alongside. */
function summary(runs) {
  const byRate = [...runs].sort((a, b) => a.linesPerSecond - b.linesPerSecond);
  return {
    ...percentile(byRate, 50),
    runsLinesPerSecond: runs.map((r) => round(r.linesPerSecond)),
  };
}

const row = (path, r, bytesPerLine) => ({
  path,
  "lines/s": round(r.linesPerSecond),
  "MB/s": round((r.linesPerSecond * bytesPerLine) / 1e6, 1),
  "CPU µs/line producer": r.cpuUsPerLine.producer,
  "nats-server": r.cpuUsPerLine.natsServer,
  consumer: r.cpuUsPerLine.consumer,
});

/**
 * Raw NATS and tailwire paths over the same lines (`text`: padded 200-byte lines or log-like
 * text), each path's producer warmed with a full-size round, then alternating rounds.
 */
async function comparePaths(server, { text, count, rounds, linesPerMessage, paths }) {
  const start = (mode) => producer(server, mode, count, linesPerMessage, text);
  const rawChild = await start("raw");
  const tailwireChild = await start("tailwire");
  try {
    const runPath = (path) =>
      path.raw ? rawNats(server, rawChild, count) : tailwire(server, tailwireChild, count, path);
    // Warm both producers and this consumer, so start-up and JIT compilation are not measured.
    // A full-size round each: a small one left the first measured round ~25 % slow (heap
    // sizing and the JIT's view of the full run were not settled yet).
    for (const path of paths) await runPath(path);
    const runs = paths.map(() => []);
    for (let i = 0; i < rounds; i++) {
      for (const [p, path] of paths.entries()) runs[p].push(await runPath(path));
    }
    return runs.map(summary);
  } finally {
    await rawChild.kill("SIGTERM");
    await tailwireChild.kill("SIGTERM");
  }
}

export async function run({ quick }) {
  const count = quick ? 100_000 : 1_000_000;
  const rounds = quick ? 1 : 5;
  // What a 64 KiB frame holds of 200-byte lines (about 215 bytes each in a frame).
  const linesPerMessage = Math.floor((64 * 1024 - 200) / 215);
  return withServer(async (server) => {
    // Padded 200-byte lines: uncompressed (the figures of earlier runs), then compressed.
    const [raw, entries, batches, entriesCompressed, batchesCompressed, entriesV1, batchesV1] =
      await comparePaths(server, {
        text: "padded",
        count,
        rounds,
        linesPerMessage,
        paths: [
          { raw: true },
          {},
          { batches: true },
          { compression: true },
          { batches: true, compression: true },
          { protocol: "v1" },
          { batches: true, protocol: "v1" },
        ],
      });
    // Log-like text (about 140 bytes a line), raw NATS batched by frame size, then tailwire
    // uncompressed and compressed (the codec the two sides agree on: zstd here).
    const [logsRaw, logsPlain, logsCompressed] = await comparePaths(server, {
      text: "logs",
      count,
      rounds,
      linesPerMessage: 0,
      paths: [{ raw: true }, { batches: true }, { batches: true, compression: true }],
    });
    const ratio = entries.linesPerSecond / raw.linesPerSecond;
    const batchRatio = batches.linesPerSecond / raw.linesPerSecond;
    const logsRatio = logsCompressed.linesPerSecond / logsRaw.linesPerSecond;
    const logsPlainRatio = logsPlain.linesPerSecond / logsRaw.linesPerSecond;
    const LOG_BYTES = 140;
    return {
      lines: count,
      lineBytes: LINE_BYTES,
      linesPerMessage,
      rounds,
      raw,
      tailwire: entries,
      tailwireBatches: batches,
      tailwireCompressed: entriesCompressed,
      tailwireBatchesCompressed: batchesCompressed,
      tailwireV1: entriesV1,
      tailwireBatchesV1: batchesV1,
      v2OverV1: entries.linesPerSecond / entriesV1.linesPerSecond,
      v2OverV1Batches: batches.linesPerSecond / batchesV1.linesPerSecond,
      compressedRatio: entriesCompressed.linesPerSecond / raw.linesPerSecond,
      compressedBatchRatio: batchesCompressed.linesPerSecond / raw.linesPerSecond,
      ratio,
      batchRatio,
      logs: { raw: logsRaw, tailwire: logsPlain, tailwireCompressed: logsCompressed },
      logsRatio,
      logsPlainRatio,
      table: [
        row("raw NATS", raw, LINE_BYTES),
        row("tailwire, for await of entries", entries, LINE_BYTES),
        row("tailwire, for await of batches()", batches, LINE_BYTES),
        ratioRow("entries / raw", ratio),
        ratioRow("batches / raw", batchRatio),
        row("tailwire v1, for await of entries", entriesV1, LINE_BYTES),
        row("tailwire v1, for await of batches()", batchesV1, LINE_BYTES),
        ratioRow("v2 entries / v1 entries", entries.linesPerSecond / entriesV1.linesPerSecond),
        ratioRow("v2 batches / v1 batches", batches.linesPerSecond / batchesV1.linesPerSecond),
        row("tailwire compressed, for await of entries", entriesCompressed, LINE_BYTES),
        row("tailwire compressed, for await of batches()", batchesCompressed, LINE_BYTES),
        ratioRow("compressed entries / raw", entriesCompressed.linesPerSecond / raw.linesPerSecond),
        ratioRow("compressed batches / raw", batchesCompressed.linesPerSecond / raw.linesPerSecond),
        row("log text: raw NATS", logsRaw, LOG_BYTES),
        row("log text: tailwire batches(), uncompressed", logsPlain, LOG_BYTES),
        row("log text: tailwire batches(), compressed", logsCompressed, LOG_BYTES),
        ratioRow("log text: compressed / raw", logsRatio),
        ratioRow("log text: uncompressed / raw", logsPlainRatio),
      ],
    };
  });
}
