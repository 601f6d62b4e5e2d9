// Shared pieces of the benchmarks: a server, connections, timing and figures.
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "@tailwire/testkit";

export async function withServer(fn, options = {}) {
  const server = await NatsServer.start(options);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

export function connectTo(server, name) {
  return connect({ servers: server.url, name, maxReconnectAttempts: 0 });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

export const round = (value, digits = 0) => Number(value.toFixed(digits));

const PADDING = "x".repeat(4096);

/**
 * A log line of exactly `bytes` ASCII characters, different for each i. Flat, like a line cut
 * from a read buffer (a concatenation would be a rope, which every serialiser must flatten).
 */
export function makeLine(i, bytes) {
  const head = `line ${i} `;
  return Buffer.from(head + PADDING.slice(0, Math.max(0, bytes - head.length)), "latin1").toString(
    "latin1",
  );
}

/**
 * One read of an execution whose lines are generated as they are read (a LogReader for the
 * benchmarks' LogSources): lines `afterSeq+1 .. count` in batches of 4096, then, with `follow`,
 * nothing more until the read is aborted.
 */
export function generatedReader(count, afterSeq, options, { lineBytes, time, follow = false }) {
  let position = afterSeq;
  let closed = false;
  return {
    afterSeq,
    lastSeqAtOpen: count,
    get position() {
      return position;
    },
    exitCode: 0,
    async close() {
      closed = true;
    },
    async *[Symbol.asyncIterator]() {
      while (!closed && !options.signal.aborted && position < count) {
        const batch = [];
        const last = Math.min(count, position + 4096);
        for (let seq = position + 1; seq <= last; seq++) {
          batch.push({ seq, stream: "stdout", time, line: makeLine(seq, lineBytes) });
        }
        position = last;
        yield batch;
      }
      if (follow && !options.signal.aborted) {
        await new Promise((resolve) => options.signal.addEventListener("abort", resolve));
      }
    },
  };
}

/** This process's peak heap and RSS, sampled every `intervalMs`; `stop()` returns the peaks. */
export function memorySampler(intervalMs) {
  let peakHeap = 0;
  let peakRss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    peaks() {
      sample();
      return { peakHeap, peakRss };
    },
    reset() {
      peakHeap = 0;
      peakRss = 0;
      sample();
    },
    stop() {
      clearInterval(timer);
      sample();
      return { peakHeap, peakRss };
    },
  };
}

/** CPU milliseconds (user + system) a process has used so far, or NaN off Linux. */
export function cpuMsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return Number.NaN;
  }
}

/**
 * The raw-NATS baseline's consumer: asks the producer (on `bench.go`) to publish `count` lines
 * on `bench.raw`, newline-joined batches, and resolves once every line arrived.
 */
export async function receiveRaw(nc, count) {
  let received = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  const sub = nc.subscribe("bench.raw", {
    callback: (_err, msg) => {
      received += msg.string().split("\n").length;
      if (received >= count) resolveDone();
    },
  });
  await nc.flush();
  await nc.request("bench.go", JSON.stringify({ subject: "bench.raw", lines: count }), {
    timeout: 600_000,
  });
  await done;
  sub.unsubscribe();
}
