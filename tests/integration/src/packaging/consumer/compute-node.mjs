// A compute node as a user writes it, in plain JavaScript, run from an empty project that has
// only the packed @tailwire/compute (+ @tailwire/protocol) tarballs and @nats-io/transport-node
// installed with npm (install.slow.test.ts copies it there). Anything the tarballs lack (a file
// outside `files`, a wrong `exports`, an undeclared or dev-only import) fails here.
import { connect } from "@nats-io/transport-node";
import { FileLogStore, LogStreamServer } from "@tailwire/compute";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const executionId = env("EXECUTION_ID");
const nc = await connect({ servers: env("NATS_URL"), name: "packed-compute" });
const store = new FileLogStore({ dir: env("LOG_DIR") });
await store.create(executionId);
await store.append(executionId, "stdout", "hello from a packed tarball");
await store.append(executionId, "stderr", "a line on stderr");
await store.append(executionId, "stdout", 'ünïcödé ✓ and "quotes"');
await store.complete(executionId, 3);

const server = new LogStreamServer({ connection: nc, nodeId: env("NODE_ID"), source: store });
await server.start();
console.log("ready");

process.once("SIGTERM", async () => {
  await server.close();
  await store.close();
  await nc.close();
  const { completed } = server.stats().streamsEnded;
  console.log(`closed after ${completed} completed stream(s)`);
});
