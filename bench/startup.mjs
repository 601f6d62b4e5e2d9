// Start-up latency: time from streamLogs() to the first entry (and to the end) for `tail: 100` on
// a FileLogStore execution of a million lines, against one of a thousand lines: a tail must read
// backwards from the end and cost the same whatever the file's size. The files are written
// directly in the FileLogStore format (NDJSON `{"seq","stream","time","line"}`, one per line) to
// keep the setup fast; the store's own read counters (`stats.bytesRead`, `stats.reads`) show how
// much each request read. Compute and requester are in this process, on separate connections.
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLogStore, LogStreamServer } from "@tailwire/compute";
import { LogStreamClient } from "@tailwire/requester";
import { connectTo, makeLine, percentile, round, withServer } from "./lib.mjs";

export const description =
  "time to first entry for tail 100 on a FileLogStore log of 1,000,000 lines (quick: 100,000) vs 1,000 lines, bytes read per request";

const TAIL = 100;
const LINE_BYTES = 100;
const T0 = 1_732_790_000_000;

/** Writes `count` entries in the FileLogStore format (what FileLogWriter would have written). */
async function writeLog(path, count) {
  const out = createWriteStream(path);
  const chunk = 10_000;
  for (let first = 1; first <= count; first += chunk) {
    let text = "";
    const last = Math.min(count, first + chunk - 1);
    for (let seq = first; seq <= last; seq++) {
      text += `${JSON.stringify({ seq, stream: seq % 10 === 0 ? "stderr" : "stdout", time: T0 + seq, line: makeLine(seq, LINE_BYTES) })}\n`;
    }
    if (!out.write(text)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

async function measure(client, store, executionId, requests, expectedLastSeq) {
  const first = [];
  const whole = [];
  const bytes = [];
  const reads = [];
  for (let i = 0; i < requests; i++) {
    const b0 = store.stats.bytesRead;
    const r0 = store.stats.reads;
    const t0 = performance.now();
    const stream = client.streamLogs({ nodeId: "startup-compute", executionId, tail: TAIL });
    let n = 0;
    let lastSeq = 0;
    for await (const entry of stream) {
      if (n++ === 0) first.push(performance.now() - t0);
      lastSeq = entry.seq;
    }
    whole.push(performance.now() - t0);
    if (n !== TAIL || lastSeq !== expectedLastSeq) {
      throw new Error(`tail ${TAIL} of ${executionId}: ${n} entries ending at ${lastSeq}`);
    }
    bytes.push(store.stats.bytesRead - b0);
    reads.push(store.stats.reads - r0);
  }
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const f = sorted(first);
  const w = sorted(whole);
  return {
    requests,
    firstEntryMs: { p50: percentile(f, 50), p99: percentile(f, 99) },
    allEntriesMs: { p50: percentile(w, 50), p99: percentile(w, 99) },
    bytesReadPerRequest: bytes.reduce((a, b) => a + b, 0) / requests,
    readsPerRequest: reads.reduce((a, b) => a + b, 0) / requests,
  };
}

export async function run({ quick }) {
  const bigLines = quick ? 100_000 : 1_000_000;
  const smallLines = 1_000;
  const requests = quick ? 10 : 50;
  const dir = await mkdtemp(join(tmpdir(), "tailwire-startup-"));
  try {
    const prepStart = performance.now();
    const store = new FileLogStore({ dir });
    await writeLog(store.logPath("big"), bigLines);
    await writeLog(store.logPath("small"), smallLines);
    const prepSeconds = (performance.now() - prepStart) / 1000;
    const fileMB = (await stat(store.logPath("big"))).size / 1e6;
    return await withServer(async (server) => {
      const computeNc = await connectTo(server, "startup compute");
      const requesterNc = await connectTo(server, "startup requester");
      const compute = new LogStreamServer({
        connection: computeNc,
        nodeId: "startup-compute",
        source: store,
      });
      await compute.start();
      const client = new LogStreamClient({ connection: requesterNc, nodeId: "startup-requester" });
      try {
        // Warm-up (JIT, first file opens), not measured.
        await measure(client, store, "small", 5, smallLines);
        await measure(client, store, "big", 3, bigLines);
        const big = await measure(client, store, "big", requests, bigLines);
        const small = await measure(client, store, "small", requests, smallLines);
        const row = (name, r) => ({
          log: name,
          "first entry p50 ms": round(r.firstEntryMs.p50, 2),
          "first entry p99 ms": round(r.firstEntryMs.p99, 2),
          "all 100 p50 ms": round(r.allEntriesMs.p50, 2),
          "bytes read / request": round(r.bytesReadPerRequest),
          "reads / request": round(r.readsPerRequest, 1),
        });
        return {
          tail: TAIL,
          lineBytes: LINE_BYTES,
          requests,
          big: { lines: bigLines, fileMB, ...big },
          small: { lines: smallLines, ...small },
          prepSeconds,
          table: [
            row(`${bigLines} lines (${round(fileMB)} MB)`, big),
            row(`${smallLines} lines`, small),
          ],
        };
      } finally {
        await client.close();
        await compute.close();
        await store.close();
        await requesterNc.close();
        await computeNc.close();
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
