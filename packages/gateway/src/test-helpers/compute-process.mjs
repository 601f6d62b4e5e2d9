// A compute node as its own OS process, for tests that SIGKILL it: a LogStreamServer over a
// MemoryLogStore. Prints JSON lines ({"ev":"ready"}, {"ev":"appended","id":executionId,"seq"});
// takes commands on stdin:
//   append <executionId> <count>     appends lines "line <seq>"
//   complete <executionId> <code>
//   node compute-process.mjs '{"url":"nats://...","nodeId":"c1","executions":["e1"]}'
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";

const config = JSON.parse(process.argv[2] ?? "{}");
const emit = (ev, id, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ ev, id, ...fields })}\n`);
const nc = await connect({ servers: config.url, maxReconnectAttempts: 0 });
const store = new MemoryLogStore({ maxEntriesPerExecution: 1_000_000 });
for (const executionId of config.executions ?? []) await store.create(executionId);
const server = new LogStreamServer({
  connection: nc,
  nodeId: config.nodeId,
  source: store,
  batching: { lingerMs: 0 },
});
await server.start();

const written = new Map();
createInterface({ input: process.stdin }).on("line", async (text) => {
  const [word, executionId, arg] = text.trim().split(/\s+/);
  if (word === "append") {
    let last;
    for (let i = 0; i < Number(arg); i++) {
      const n = (written.get(executionId) ?? 0) + 1;
      written.set(executionId, n);
      last = await store.append(executionId, "stdout", `line ${n}`);
    }
    emit("appended", executionId, { seq: last?.seq });
  } else if (word === "complete") {
    await store.complete(executionId, Number(arg));
    emit("completed", executionId);
  }
});
emit("ready", config.nodeId, { pid: process.pid });
