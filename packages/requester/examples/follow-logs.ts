/**
 * A requester: follows an execution's log on a compute node and prints it. A retryable failure
 * (the node unreachable or lost, see `error.retryable`) is retried from the last line delivered,
 * so nothing is printed twice.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node examples/follow-logs.ts <executionId> [computeNodeId]
 *
 * (Node 22.18+ runs TypeScript directly; on Node 20 use `npx tsx examples/follow-logs.ts`.) The
 * compute side is @tailwire/compute's examples/serve-logs.ts. The test suite runs `main` against
 * a real nats-server (tests/integration/src/packaging).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { connect } from "@nats-io/transport-node";
import {
  ExecutionNotFoundError,
  isRemovedNotice,
  type LogEntry,
  LogStreamClient,
  type RemovedNotice,
  TailwireError,
} from "@tailwire/requester";

export interface FollowLogsOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** This requester's id; unique among live requesters (`[A-Za-z0-9_-]{1,128}`). */
  nodeId: string;
  /** The compute node that holds the execution's log. */
  computeNodeId: string;
  executionId: string;
  /** Called for each line, in order (default: printed). */
  onEntry?: (entry: LogEntry) => void;
  /** Called where the compute node's retention removed lines (default: printed to stderr). */
  onRemoved?: (notice: RemovedNotice) => void;
  /** Attempts after a retryable failure (default 3), with 250 ms, 500 ms, 1 s... between. */
  retries?: number;
  /** Aborting stops following: main rejects with CancelledError. */
  signal?: AbortSignal;
}

export interface FollowLogsResult {
  /** The job's exit code (null: killed by a signal or unknown). */
  exitCode: number | null | undefined;
  /** The last sequence number delivered. */
  lastSeq: number | undefined;
}

const print = (e: LogEntry) =>
  console.log(`${new Date(e.time).toISOString()} ${e.stream} ${e.line}`);
const printRemoved = (n: RemovedNotice) =>
  console.error(`[lines ${n.fromSeq}..${n.toSeq} were removed by ${n.reason}]`);

export async function main(options: FollowLogsOptions): Promise<FollowLogsResult> {
  // The host owns the connection: the client never creates or closes it.
  const nc = await connect({ servers: options.servers, name: `requester ${options.nodeId}` });
  const client = new LogStreamClient({ connection: nc, nodeId: options.nodeId });
  const onEntry = options.onEntry ?? print;
  const onRemoved = options.onRemoved ?? printRemoved;
  const retries = options.retries ?? 3;
  let fromSeq: number | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const stream = client.streamLogs({
        computeNodeId: options.computeNodeId,
        executionId: options.executionId,
        follow: true, // until the job completes, then the stream ends with its exit code
        ...(fromSeq === undefined ? {} : { fromSeq }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      try {
        for await (const item of stream) {
          if (isRemovedNotice(item)) onRemoved(item);
          else onEntry(item);
        }
        return { exitCode: stream.exitCode, lastSeq: stream.lastSeq };
      } catch (error) {
        // Errors are TailwireErrors with a `code` from PROTOCOL.md's table and `retryable`.
        if (!(error instanceof TailwireError && error.retryable) || attempt >= retries) throw error;
        fromSeq = stream.lastSeq ?? fromSeq; // everything up to lastSeq was delivered
        await sleep(250 * 2 ** attempt, undefined, { signal: options.signal });
      }
    }
  } finally {
    await client.close();
    await nc.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [executionId, computeNodeId = "compute-1"] = process.argv.slice(2);
  if (!executionId) {
    console.error("usage: follow-logs.ts <executionId> [computeNodeId]");
    process.exit(2);
  }
  try {
    const { exitCode } = await main({
      servers: process.env["NATS_URL"] ?? "nats://127.0.0.1:4222",
      nodeId: `requester-${process.pid}`,
      computeNodeId,
      executionId,
    });
    console.log(`${executionId} exited with ${exitCode}`);
    process.exitCode = exitCode ?? 1;
  } catch (error) {
    if (error instanceof ExecutionNotFoundError)
      console.error(`${computeNodeId} has no ${executionId}`);
    else if (error instanceof TailwireError) console.error(`${error.code}: ${error.message}`);
    else throw error;
    process.exitCode = 1;
  }
}
