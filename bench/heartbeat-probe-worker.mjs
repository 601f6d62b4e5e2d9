// The heartbeat probe of bench/heartbeat-scale.mjs, in its own lightly loaded process: sends
// ExecutionLogs.Heartbeat/v1 requests to a requester at a fixed rate, each in the name of a real
// compute node and listing that node's real stream ids, and times every answer.
//   node heartbeat-probe-worker.mjs <natsUrl> <requesterNodeId> <nodes.json> <perSecond> <durationMs>
//   nodes.json: [{ "nodeId": ..., "streamIds": [...] }, ...] (used round-robin)
// Prints "ready", starts on a "go" line on stdin, then (after the run) prints one line: {"count","p50","p99","max","failed","unknown"}.
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { decodeHeartbeatResponse, encode, MessageType, subjects } from "@tailwire/protocol";

const [url, requesterId, nodesFile, perSecondArg, durationArg] = process.argv.slice(2);
const nodes = JSON.parse(readFileSync(nodesFile, "utf8"));
const perSecond = Number(perSecondArg);
const durationMs = Number(durationArg);
const nc = await connect({ servers: url, name: "heartbeat probe" });
const subject = subjects.heartbeat(requesterId);
const payloads = nodes.map((n) =>
  encode({ type: MessageType.Heartbeat, computeNodeId: n.nodeId, streamIds: n.streamIds }),
);
await nc.flush();
const go = new Promise((resolve) => process.stdin.once("data", resolve));
console.log("ready");
await go;

const times = [];
let failed = 0;
let unknown = 0;
const pending = [];
const start = performance.now();
for (let i = 0; performance.now() - start < durationMs; i++) {
  const due = start + (i * 1000) / perSecond;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const sentAt = performance.now();
  pending.push(
    nc.request(subject, payloads[i % payloads.length], { timeout: 2000 }).then(
      (msg) => {
        times.push(performance.now() - sentAt);
        unknown += decodeHeartbeatResponse(msg.data).unknownStreamIds.length;
      },
      () => {
        failed++;
      },
    ),
  );
}
await Promise.all(pending);
times.sort((a, b) => a - b);
const at = (p) =>
  times.length === 0
    ? null
    : times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)];
console.log(
  JSON.stringify({
    count: times.length,
    p50: at(50),
    p99: at(99),
    max: times.at(-1) ?? null,
    failed,
    unknown,
  }),
);
await nc.close();
process.exit(0);
