// The producing side of the stream and wan benchmarks, in its own process (as a compute node would be):
//   node stream-producer.mjs <natsUrl> raw|tailwire <lines> <linesPerMessage> [padded|logs]
// `padded` (the default) makes 200-byte lines (lib.mjs makeLine), `logs` log-like text of about
// 140 bytes (testkit's LogTextGenerator). linesPerMessage 0 batches raw NATS by size instead: as
// many lines as a 64 KiB data frame holds. Prints "ready" once its data is prepared (untimed).
// The consumer then asks for lines as many times as it likes: the first (small) request warms
// this process's JIT, so the measured ones run warm code on both paths.
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogTextGenerator } from "@tailwire/testkit";
import { makeLine } from "./lib.mjs";

const [url, mode, countArg, perMessageArg, text = "padded"] = process.argv.slice(2);
const count = Number(countArg);
const linesPerMessage = Number(perMessageArg);
const LINE_BYTES = 200;
const nc = await connect({ servers: url, name: `producer-${mode}` });
const generator = new LogTextGenerator({ seed: 21 });
// Flat strings, like lines cut from a read buffer (the generator's are ropes of its parts).
const flat = (line) => Buffer.from(line, "latin1").toString("latin1");
const lineOf = text === "logs" ? () => flat(generator.next()) : (i) => makeLine(i, LINE_BYTES);

/** Where each raw message's lines start: fixed counts, or as many as a 64 KiB frame holds. */
function batchStarts(lines) {
  const starts = [];
  if (linesPerMessage > 0) {
    for (let first = 0; first < lines.length; first += linesPerMessage) starts.push(first);
    return starts;
  }
  // A data frame spends about 200 bytes on its header and 3 per line on its columns.
  let bytes = Number.POSITIVE_INFINITY;
  for (let i = 0; i < lines.length; i++) {
    if (bytes + lines[i].length + 4 > 64 * 1024) {
      starts.push(i);
      bytes = 200;
    }
    bytes += lines[i].length + 4;
  }
  return starts;
}

if (mode === "raw") {
  // The lines are ready in memory (as the store's are); batching them is part of publishing, as
  // for any raw-NATS log shipper: join the batch's lines and encode them, then publish.
  const lines = [];
  for (let i = 1; i <= count; i++) lines.push(lineOf(i));
  const starts = batchStarts(lines);
  const encoder = new TextEncoder();
  // A request is {"subject": where to publish, "lines": how many of the last lines to send}.
  nc.subscribe("bench.go", {
    callback: async (_err, msg) => {
      const { subject, lines: wanted } = msg.json();
      // Flush every few messages: without it, core NATS would drop lines past the pending
      // limits, and a baseline that loses lines is no baseline.
      let sent = 0;
      const from = count - wanted;
      const firsts = [from, ...starts.filter((s) => s > from)];
      for (let b = 0; b < firsts.length; b++) {
        const last = firsts[b + 1] ?? count;
        nc.publish(subject, encoder.encode(lines.slice(firsts[b], last).join("\n")));
        if (++sent % 64 === 0) await nc.flush();
      }
      await nc.flush();
      msg.respond();
    },
  });
} else {
  const store = new MemoryLogStore({
    maxEntriesPerExecution: count,
    maxLogBytes: Number.POSITIVE_INFINITY,
    maxStoreBytes: Number.POSITIVE_INFINITY,
  });
  for (let i = 1; i <= count; i++)
    await store.append("bench", "stdout", lineOf(i), 1_732_790_000_000 + i);
  await store.complete("bench", 0);
  const server = new LogStreamServer({ connection: nc, nodeId: "bench-compute", source: store });
  await server.start();
}
await nc.flush();
console.log("ready");
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
