// Requester memory with a slow consumer and a huge backlog: a producer with 10,000,000 lines of
// 200 bytes ready (quick: 500,000), a consumer taking 10,000 lines/s for 20 s (quick: 5 s).
//
//   tailwire: a LogStreamServer on a generated LogSource (lines made on demand, so the backlog
//             costs the producer nothing) and a LogStreamClient consuming at the rate.
//   naive:    a raw NATS publisher of the same lines, one message per line as fast as it can,
//             no credit; a subscriber that buffers them into an array consumed at the same rate.
//
// Each role runs in its own process (this file, started with a role argument), so the consumer's
// heap and RSS are its own. Samples every 250 ms; reported: peaks, lines consumed, and lines the
// naive path lost (published but never received: the server cuts a slow consumer).
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { NodeProcess } from "@tailwire/testkit";
import { generatedReader, makeLine, memorySampler, round, withServer } from "./lib.mjs";

export const description =
  "requester memory, slow consumer (10k lines/s) over a huge backlog: tailwire vs naive per-line NATS";

const LINE_BYTES = 200;
const RATE = 10_000;
const SAMPLE_MS = 250;
const self = fileURLToPath(import.meta.url);
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// ---------------------------------------------------------------------------------------------
// Child roles

/** A LogSource whose execution "bench" has `count` lines, generated when read. */
function generatedSource(count) {
  const time = 1_732_790_000_000;
  return {
    open: async (_executionId, options) =>
      generatedReader(count, options.fromSeq ?? 0, options, { lineBytes: LINE_BYTES, time }),
  };
}

/** Memory samples of this process every SAMPLE_MS; `stop()` returns the peaks. */
const sampler = () => memorySampler(SAMPLE_MS);

/** Resolves when the consumer should have taken `count` lines at RATE since `start`. */
const paced = (start, count) => {
  const wait = start + (count / RATE) * 1000 - performance.now();
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined;
};

async function child(role, url, count, durationMs) {
  const nc = await connect({
    servers: url,
    name: `slow-consumer-${role}`,
    maxReconnectAttempts: 0,
  });
  if (role === "compute") {
    const { LogStreamServer } = await import("@tailwire/compute");
    const server = new LogStreamServer({
      connection: nc,
      nodeId: "bench-compute",
      source: generatedSource(count),
    });
    await server.start();
    emit({ ev: "ready" });
    process.stdin.on("data", () => emit({ ev: "stats", stats: server.stats() }));
  } else if (role === "publisher") {
    let published = 0;
    nc.subscribe("bench.naive.go", {
      callback: async () => {
        // The naive producer: one message per line, as fast as it can. It yields to the event
        // loop every 1,000 lines so its socket writes go out (its own buffer does not balloon),
        // but nothing ever tells it to wait for the consumer.
        for (let seq = 1; seq <= count; seq++) {
          nc.publish("bench.naive.lines", makeLine(seq, LINE_BYTES));
          published = seq;
          if (seq % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        await nc.flush();
        emit({ ev: "published", count });
      },
    });
    await nc.flush();
    emit({ ev: "ready" });
    process.stdin.on("data", async () => {
      await nc.flush().catch(() => {});
      emit({ ev: "count", published });
    });
  } else if (role === "requester") {
    const { LogStreamClient } = await import("@tailwire/requester");
    const client = new LogStreamClient({ connection: nc, nodeId: "bench-requester" });
    const memory = sampler();
    const stream = client.streamLogs({ nodeId: "bench-compute", executionId: "bench" });
    const start = performance.now();
    let consumed = 0;
    let outOfOrder = 0;
    for await (const entry of stream) {
      consumed++;
      if (entry.seq !== consumed) outOfOrder++;
      if (consumed % 100 === 0) {
        if (performance.now() - start >= durationMs) break;
        const wait = paced(start, consumed);
        if (wait) await wait;
      }
    }
    const peaks = memory.stop();
    emit({ ev: "done", consumed, outOfOrder, lost: outOfOrder, ...peaks });
    await client.close();
    await nc.close();
  } else if (role === "subscriber") {
    const buffer = [];
    let received = 0;
    let slowConsumer = false;
    void (async () => {
      for await (const s of nc.status()) if (s.type === "slowConsumer") slowConsumer = true;
    })();
    nc.subscribe("bench.naive.lines", {
      callback: (_err, msg) => {
        received++;
        buffer.push(msg.string());
      },
    });
    await nc.flush();
    emit({ ev: "ready" });
    await new Promise((resolve) => process.stdin.once("data", resolve));
    const memory = sampler();
    const start = performance.now();
    let consumed = 0;
    let outOfOrder = 0;
    while (performance.now() - start < durationMs) {
      // Take what the schedule allows from the front of the buffer.
      const due = Math.floor(((performance.now() - start) / 1000) * RATE);
      while (consumed < due && consumed < buffer.length) {
        const line = buffer[consumed];
        buffer[consumed] = undefined; // consumed: let it be collected
        consumed++;
        if (!line.startsWith(`line ${consumed} `)) outOfOrder++;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const peaks = memory.stop();
    const disconnected = nc.isClosed();
    emit({ ev: "done", consumed, outOfOrder, received, slowConsumer, disconnected, ...peaks });
    if (!nc.isClosed()) await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

const start = (role, url, count, durationMs) =>
  NodeProcess.start({
    script: self,
    args: [role, url, String(count), String(durationMs)],
    readyLine: '{"ev":"ready"',
    readyTimeoutMs: 60_000,
    nodeArgs: ["--max-old-space-size=6144"],
  });

const lastEvent = async (proc, ev, timeoutMs) =>
  JSON.parse(await proc.waitForLine(`{"ev":"${ev}"`, timeoutMs));

async function tailwire(server, count, durationMs) {
  const compute = await start("compute", server.url, count, durationMs);
  const requester = await NodeProcess.start({
    script: self,
    args: ["requester", server.url, String(count), String(durationMs)],
    readyTimeoutMs: 60_000,
  });
  const done = await lastEvent(requester, "done", durationMs + 60_000);
  compute.stdin.write("stats\n");
  const { stats } = await lastEvent(compute, "stats", 10_000);
  await requester.kill("SIGKILL");
  await compute.kill("SIGKILL");
  return { ...done, producerBytesSent: stats.bytesSent, received: done.consumed };
}

async function naive(server, count, durationMs) {
  const subscriber = await start("subscriber", server.url, count, durationMs);
  const publisher = await start("publisher", server.url, count, durationMs);
  const nc = await connect({ servers: server.url, name: "naive-go" });
  subscriber.stdin.write("go\n");
  nc.publish("bench.naive.go", "");
  await nc.flush();
  const done = await lastEvent(subscriber, "done", durationMs + 60_000);
  // Lines the publisher got out by the end of the run (flushed to the server), against what
  // reached the subscriber.
  publisher.stdin.write("count\n");
  const { published } = await lastEvent(publisher, "count", 60_000);
  await nc.close();
  await subscriber.kill("SIGKILL");
  await publisher.kill("SIGKILL");
  return { ...done, published };
}

export async function run({ quick }) {
  const count = quick ? 500_000 : 10_000_000;
  const durationMs = quick ? 5_000 : 20_000;
  return withServer(async (server) => {
    const ours = await tailwire(server, count, durationMs);
    const raw = await naive(server, count, durationMs);
    // Lost: published and flushed to the server but never received. Counted only when the
    // server cut the subscriber (slow consumer): otherwise the difference is still in flight.
    const naiveLost = raw.disconnected ? raw.published - raw.received : 0;
    const mb = (bytes) => round(bytes / 1e6, 1);
    return {
      lines: count,
      lineBytes: LINE_BYTES,
      consumerLinesPerSecond: RATE,
      seconds: durationMs / 1000,
      tailwire: ours,
      naive: { ...raw, lost: naiveLost },
      table: [
        {
          path: "tailwire (credit)",
          "peak heap MB": mb(ours.peakHeap),
          "peak RSS MB": mb(ours.peakRss),
          consumed: ours.consumed,
          "received, not consumed": "≤ window",
          "lines lost": ours.lost,
          "producer sent MB": mb(ours.producerBytesSent),
        },
        {
          path: "naive NATS (no credit)",
          "peak heap MB": mb(raw.peakHeap),
          "peak RSS MB": mb(raw.peakRss),
          consumed: raw.consumed,
          "received, not consumed": raw.received - raw.consumed,
          "lines lost": naiveLost,
          "producer sent MB": mb(raw.published * LINE_BYTES),
        },
      ],
    };
  });
}

if (process.argv[1] === self) {
  const [role, url, count, durationMs] = process.argv.slice(2);
  await child(role, url, Number(count), Number(durationMs));
}
