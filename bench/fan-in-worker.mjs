// The compute side of bench/fan-in.mjs: `nodes` compute nodes in one process, each on its own
// NATS connection with its own MemoryLogStore of `perNode` executions (`e0`, `e1`, ...).
//   node fan-in-worker.mjs <natsUrl> <mode> '<json config>'
//   mode rate:    { nodes, perNode, linesPerSecond, lineBytes }  a writer appends to every
//                 execution at linesPerSecond in total (each line's time = Date.now(), so the
//                 requester can measure end-to-end latency), starting at once
//   mode backlog: { nodes, perNode, lines, lineBytes }  every execution holds `lines` lines
//                 before "ready" (a writer far ahead: streams go as fast as credit allows)
//   mode raw:     { nodes, perNode, lines, lineBytes, linesPerMessage }  the same lines, batched
//                 like 64 KiB frames, published on bench.fanin.<node>.<exec> when a request on
//                 bench.fanin.go arrives (answered once everything was published and flushed)
// Prints "ready"; `stats <tag>` on stdin prints {"cpuMs","appended","tag"}; exits when stdin closes.
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { makeLine } from "./lib.mjs";

const [url, mode, configArg] = process.argv.slice(2);
const config = JSON.parse(configArg);
const { nodes, perNode, lineBytes } = config;
const executions = Array.from({ length: perNode }, (_, i) => `e${i}`);
const connections = [];
for (let n = 0; n < nodes; n++) {
  connections.push(await connect({ servers: url, name: `fan-in compute ${n}` }));
}
let appended = 0;
let ticker;

if (mode === "raw") {
  // Built before timing: the raw path pays no encoding at all (a ceiling, not a rival).
  const perConnection = connections.map((_, n) => {
    const messages = [];
    for (const e of executions) {
      for (let first = 1; first <= config.lines; first += config.linesPerMessage) {
        const batch = [];
        const last = Math.min(first + config.linesPerMessage - 1, config.lines);
        for (let i = first; i <= last; i++) batch.push(makeLine(i, lineBytes));
        messages.push({
          subject: `bench.fanin.${n}.${e}`,
          data: new TextEncoder().encode(batch.join("\n")),
        });
      }
    }
    // Interleave the executions of a node, as five concurrent streams would be.
    const perExec = messages.length / executions.length;
    const interleaved = [];
    for (let i = 0; i < perExec; i++) {
      for (let e = 0; e < executions.length; e++) interleaved.push(messages[e * perExec + i]);
    }
    return interleaved;
  });
  connections[0].subscribe("bench.fanin.go", {
    callback: async (_err, msg) => {
      await Promise.all(
        connections.map(async (nc, n) => {
          const messages = perConnection[n];
          for (let i = 0; i < messages.length; i++) {
            nc.publish(messages[i].subject, messages[i].data);
            // Without flushes core NATS would drop past its pending limits: no baseline then.
            if (i % 64 === 63) await nc.flush();
          }
          await nc.flush();
        }),
      );
      msg.respond();
    },
  });
} else {
  const stores = [];
  for (let n = 0; n < nodes; n++) {
    const store = new MemoryLogStore({
      maxEntriesPerExecution: 1_000_000,
      maxLogBytes: Number.POSITIVE_INFINITY,
      maxStoreBytes: Number.POSITIVE_INFINITY,
    });
    for (const e of executions) {
      await store.create(e);
      if (mode === "backlog") {
        for (let i = 1; i <= config.lines; i++) {
          await store.append(e, "stdout", makeLine(i, lineBytes), 1_732_790_000_000 + i);
        }
      }
    }
    stores.push(store);
    const server = new LogStreamServer({
      connection: connections[n],
      nodeId: `fan-${n}`,
      source: store,
    });
    await server.start();
  }
  if (mode === "rate") {
    // Catch-up pacing: every tick appends what the rate owes since the start.
    const line = makeLine(0, lineBytes);
    const perExecution = config.linesPerSecond / (nodes * perNode);
    const start = performance.now();
    let owedPerExecution = 0;
    ticker = setInterval(() => {
      const due = Math.floor(((performance.now() - start) / 1000) * perExecution);
      const count = due - owedPerExecution;
      owedPerExecution = due;
      const now = Date.now();
      for (const store of stores) {
        for (const e of executions) {
          for (let i = 0; i < count; i++) void store.append(e, "stdout", line, now);
        }
      }
      appended += count * nodes * perNode;
    }, 5);
  }
}

for (const nc of connections) await nc.flush();
console.log("ready");
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const [command, tag] = line.trim().split(" ");
    if (command === "stats") {
      const cpu = process.cpuUsage();
      console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, appended, tag }));
    }
  })
  .on("close", () => {
    clearInterval(ticker);
    process.exit(0);
  });
process.on("SIGTERM", () => process.exit(0));
