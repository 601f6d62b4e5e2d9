// The producing side of the stream benchmark, in its own process (as a compute node would be):
//   node stream-producer.mjs <natsUrl> raw|tailwire <lines> <linesPerMessage>
// Prints "ready" once its data is prepared (untimed). The consumer then asks for lines as many
// times as it likes: the first (small) request warms this process's JIT, so the measured ones
// run warm code on both paths.
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { makeLine } from "./lib.mjs";

const [url, mode, countArg, perMessageArg] = process.argv.slice(2);
const count = Number(countArg);
const linesPerMessage = Number(perMessageArg);
const LINE_BYTES = 200;
const nc = await connect({ servers: url, name: `producer-${mode}` });

if (mode === "raw") {
  // The lines are ready in memory (as the store's are); batching them is part of publishing, as
  // for any raw-NATS log shipper: join the batch's lines and encode them, then publish.
  const lines = [];
  for (let i = 1; i <= count; i++) lines.push(makeLine(i, LINE_BYTES));
  const encoder = new TextEncoder();
  // A request is {"subject": where to publish, "lines": how many of the last lines to send}.
  nc.subscribe("bench.go", {
    callback: async (_err, msg) => {
      const { subject, lines: wanted } = msg.json();
      // Flush every few messages: without it, core NATS would drop lines past the pending
      // limits, and a baseline that loses lines is no baseline.
      let sent = 0;
      for (let first = count - wanted; first < count; first += linesPerMessage) {
        const last = Math.min(count, first + linesPerMessage);
        nc.publish(subject, encoder.encode(lines.slice(first, last).join("\n")));
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
    await store.append("bench", "stdout", makeLine(i, LINE_BYTES), 1_732_790_000_000 + i);
  await store.complete("bench", 0);
  const server = new LogStreamServer({ connection: nc, nodeId: "bench-compute", source: store });
  await server.start();
}
await nc.flush();
console.log("ready");
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
