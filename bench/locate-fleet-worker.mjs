// Compute nodes for bench/locate.mjs, in one process: `nodes` LogStreamServers over a few shared
// connections, each with its own MemoryLogStore holding `perNode` executions (`loc-<node>-<k>`),
// so every execution has exactly one holder. The first `jobNodes` nodes also hold one execution
// of job `bench-job` each (`job-<node>`) with `jobLines` lines.
//
//   node locate-fleet-worker.mjs '<json config>'   config: { url, nodes, perNode, jobNodes, jobLines, lineBytes }
//   stdout: {"ev":"ready"}, then for `cpu <tag>`: {"ev":"cpu","id":tag,"cpuMs":...}
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";

const config = JSON.parse(process.argv[2]);
const emit = (ev, id, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ ev, id, ...fields })}\n`);

const connections = await Promise.all(
  Array.from({ length: 4 }, () => connect({ servers: config.url })),
);
const line = "x".repeat(config.lineBytes);
const servers = [];
for (let i = 0; i < config.nodes; i++) {
  const store = new MemoryLogStore({ maxLogBytes: Number.POSITIVE_INFINITY });
  for (let k = 0; k < config.perNode; k++) await store.create(`loc-${i}-${k}`);
  if (i < config.jobNodes) {
    const id = `job-${i}`;
    await store.create(id, { jobId: "bench-job" });
    for (let n = 0; n < config.jobLines; n++)
      await store.append(id, "stdout", line, 1_700_000_000_000 + n);
    await store.complete(id, 0);
  }
  const server = new LogStreamServer({
    connection: connections[i % connections.length],
    nodeId: `loc-node-${i}`,
    source: store,
    batching: { lingerMs: 0 },
  });
  await server.start();
  servers.push(server);
}
await Promise.all(connections.map((nc) => nc.flush()));
emit("ready", "fleet");

const rl = createInterface({ input: process.stdin });
rl.on("line", async (text) => {
  const [command, tag] = text.trim().split(" ");
  if (command === "cpu") {
    const { user, system } = process.cpuUsage();
    emit("cpu", tag, { cpuMs: (user + system) / 1000 });
  } else if (command === "close") {
    for (const server of servers) await server.close();
    for (const nc of connections) await nc.close();
    rl.close();
  }
});
