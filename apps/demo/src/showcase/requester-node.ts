/**
 * The showcase's requester node: one long-lived process with one LogStreamClient, driven by
 * JSON commands on stdin, reporting everything that happens as numbered events on stdout:
 *
 *   in:  {"op":"follow","tag":"s1","node":"compute-1","executionId":"job-a","tail":5}
 *        {"op":"cancel","tag":"s1"}     {"op":"stats","tag":"q1"}
 *   out: requester <id> ready
 *        ev <n> {"type":"accepted"|"entry"|"end"|"error"|"cancelled"|"stats", "tag":..., "at":...}
 *
 * Event numbers start at 1 and have no gaps, so the showcase reads them in order.
 */
import { createInterface } from "node:readline";
import {
  addNatsOptions,
  connectNats,
  type NatsCliOptions,
  nonNegativeInteger,
  positiveInteger,
} from "@tailwire/cli";
import {
  isRemovedNotice,
  type LogStream,
  LogStreamClient,
  TailwireError,
} from "@tailwire/requester";
import { Command } from "commander";

interface Options extends NatsCliOptions {
  requesterId: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  computeLostAfterMissed: number;
  acceptTimeoutMs: number;
}

interface FollowCommand {
  op: "follow";
  tag: string;
  node: string;
  executionId: string;
  tail?: number;
}

let eventNumber = 0;
function emit(event: Record<string, unknown>): void {
  eventNumber++;
  process.stdout.write(`ev ${eventNumber} ${JSON.stringify({ ...event, at: Date.now() })}\n`);
}

async function main(): Promise<void> {
  const program = new Command("requester-node")
    .requiredOption("--requester-id <id>")
    .requiredOption("--heartbeat-interval-ms <ms>", "", positiveInteger)
    .requiredOption("--heartbeat-timeout-ms <ms>", "", positiveInteger)
    .requiredOption("--compute-lost-after-missed <n>", "", positiveInteger)
    .requiredOption("--accept-timeout-ms <ms>", "", positiveInteger);
  addNatsOptions(program, nonNegativeInteger);
  program.parse();
  const options = program.opts<Options>();

  const nc = await connectNats(options, `showcase requester ${options.requesterId}`);
  const client = new LogStreamClient({
    connection: nc,
    nodeId: options.requesterId,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    computeLostAfterMissed: options.computeLostAfterMissed,
    acceptTimeoutMs: options.acceptTimeoutMs,
  });
  const streams = new Map<string, LogStream>();

  const follow = async (command: FollowCommand) => {
    const stream = client.streamLogs({
      nodeId: command.node,
      executionId: command.executionId,
      follow: true,
      ...(command.tail === undefined ? {} : { tail: command.tail }),
    });
    streams.set(command.tag, stream);
    const tag = command.tag;
    void stream.accepted.then(
      (info) => emit({ type: "accepted", tag, streamId: stream.streamId, ...info }),
      () => {},
    );
    try {
      for await (const item of stream) {
        // Lines retention removed: their own event (the showcase's stores keep everything).
        if (isRemovedNotice(item)) emit({ type: "removed", tag, ...item });
        else emit({ type: "entry", tag, ...item });
      }
      if (stream.endCause === "cancelled") return; // cancel(): reported when it was asked for
      emit({ type: "end", tag, streamId: stream.streamId, exitCode: stream.exitCode ?? null });
    } catch (error) {
      const code = error instanceof TailwireError ? error.code : "INTERNAL";
      const message = error instanceof Error ? error.message : String(error);
      emit({ type: "error", tag, streamId: stream.streamId, code, message });
    } finally {
      streams.delete(tag);
    }
  };

  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    const command = JSON.parse(line) as { op: string; tag: string };
    if (command.op === "follow") void follow(command as FollowCommand);
    else if (command.op === "cancel") {
      const stream = streams.get(command.tag);
      emit({ type: "cancelled", tag: command.tag, streamId: stream?.streamId ?? null });
      stream?.cancel();
    } else if (command.op === "stats")
      emit({ type: "stats", tag: command.tag, stats: client.stats() });
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    lines.close();
    await client.close();
    await nc.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
  lines.once("close", () => void stop()); // the showcase went away
  process.stdout.write(`requester ${options.requesterId} ready\n`);
}

await main();
