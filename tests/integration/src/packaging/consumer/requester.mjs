// A requester as a user writes it, in plain JavaScript, run from an empty project that has only
// the packed @tailwire/requester (+ @tailwire/protocol) tarballs and @nats-io/transport-node
// installed with npm (install.slow.test.ts copies it there). Prints the execution's log, one
// entry a line, then its exit code; or the error's code.
import { connect } from "@nats-io/transport-node";
import { TailwireError as ProtocolTailwireError, SUPPORTED_VERSIONS } from "@tailwire/protocol";
import {
  ExecutionNotFoundError,
  isRemovedNotice,
  LogStreamClient,
  TailwireError,
} from "@tailwire/requester";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const nc = await connect({ servers: env("NATS_URL"), name: "packed-requester" });
const client = new LogStreamClient({ connection: nc, nodeId: env("NODE_ID") });
// The error classes re-exported by the requester are the protocol's own (one installed copy).
console.log(
  `protocol ${SUPPORTED_VERSIONS.join(",")}, one copy: ${TailwireError === ProtocolTailwireError}`,
);
try {
  const stream = client.streamLogs({
    nodeId: env("COMPUTE_NODE_ID"),
    executionId: env("EXECUTION_ID"),
    follow: true,
  });
  for await (const item of stream) {
    // Lines the compute node's retention removed come as a notice, in order.
    if (isRemovedNotice(item)) {
      console.log(`removed ${item.fromSeq}..${item.toSeq}`);
      continue;
    }
    const { seq, stream: out, line } = item;
    console.log(`${seq} ${out} ${line}`);
  }
  console.log(`exit code ${stream.exitCode}`);
} catch (error) {
  const kind = error instanceof ExecutionNotFoundError ? "not found" : "other";
  console.log(`failed: ${error instanceof TailwireError ? error.code : String(error)} (${kind})`);
  process.exitCode = 1;
} finally {
  await client.close();
  await nc.close();
}
