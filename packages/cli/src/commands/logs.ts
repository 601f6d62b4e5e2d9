import { randomBytes } from "node:crypto";
import type { Writable } from "node:stream";
import { isExecutionId, isNodeId, type LogStreamName } from "@tailwire/protocol";
import {
  DEFAULTS,
  isRemovedNotice,
  type LogEntry,
  LogStreamClient,
  TailwireError,
} from "@tailwire/requester";
import { type Command, Option } from "commander";
import { addNatsOptions, connectNats, type NatsCliOptions } from "../connection.js";
import { CliError, EXIT, exitCodeOf, exitCodeTable } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { colorEnabled, palette, writeLine } from "../output.js";
import { nonNegativeInteger, positiveInteger, sinceArgument } from "../parse.js";
import { removedNoticeJson, removedNoticeText } from "../removed-notice.js";
import { onTerminate } from "../signals.js";

interface LogsOptions extends NatsCliOptions {
  node: string;
  follow?: boolean;
  tail?: number;
  since?: number;
  timestamps?: boolean;
  stream?: LogStreamName;
  fromSeq?: number;
  json?: boolean;
  color: boolean;
  requesterId: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number | undefined;
  computeLostAfterMissed: number;
  acceptTimeoutMs: number;
}

export function registerLogs(program: Command, logger: () => CliLogger): void {
  const command = program
    .command("logs")
    .description(
      "print an execution's logs from a compute node: stdout lines to stdout, stderr lines to stderr",
    )
    .argument("<execution-id>", "the execution")
    .requiredOption("--node <node-id>", "the compute node that ran it")
    .option("-f, --follow", "keep printing new lines until the execution completes")
    .option("--tail <n>", "only the last N lines (0 = only new lines)", nonNegativeInteger)
    .option(
      "--since <when>",
      'only lines captured since a time: a duration back from now ("10m", "1h30m") or RFC 3339',
      sinceArgument,
    )
    .option("--timestamps", "prefix every line with its capture time (RFC 3339, UTC)")
    .addOption(
      new Option("--stream <name>", "only this output stream").choices(["stdout", "stderr"]),
    )
    .option(
      "--from-seq <n>",
      "only lines after this sequence number (resume; takes precedence over --tail)",
      nonNegativeInteger,
    )
    .option("--json", "print every line as one JSON object on stdout: {seq, stream, time, line}")
    .option(
      "--no-color",
      "never colour (default: colour when the output is a terminal; NO_COLOR honoured)",
    )
    .option(
      "--requester-id <id>",
      "this requester's node id (unique among live requesters)",
      `cli-${randomBytes(4).toString("hex")}`,
    )
    .addOption(
      new Option(
        "--heartbeat-interval-ms <ms>",
        "how often the compute node heartbeats this requester",
      )
        .argParser(positiveInteger)
        .default(DEFAULTS.heartbeatIntervalMs),
    )
    .addOption(
      new Option(
        "--heartbeat-timeout-ms <ms>",
        "how long the compute node waits for a heartbeat answer, at most 0.9 × the interval (default: 2000, or half the interval when shorter)",
      ).argParser(positiveInteger),
    )
    .addOption(
      new Option(
        "--compute-lost-after-missed <n>",
        "silent heartbeat intervals after which the compute node is lost",
      )
        .argParser(positiveInteger)
        .default(DEFAULTS.computeLostAfterMissed),
    )
    .addOption(
      new Option("--accept-timeout-ms <ms>", "time the compute node has to accept the request")
        .argParser(positiveInteger)
        .default(DEFAULTS.acceptTimeoutMs),
    )
    .addHelpText(
      "after",
      `
Exit codes:
${exitCodeTable()}

Examples:
  tailwire logs job-42 --node compute-1 --tail 20 -f
  tailwire logs job-42 --node compute-1 --since 10m --stream stderr --timestamps
  tailwire logs job-42 --node compute-1 --from-seq 1200 --json | jq .line`,
    );
  addNatsOptions(command, nonNegativeInteger);
  command.action(async (executionId: string, options: LogsOptions) => {
    process.exitCode = await runLogs(executionId, options, logger());
  });
}

async function runLogs(
  executionId: string,
  options: LogsOptions,
  logger: CliLogger,
): Promise<number> {
  if (!isExecutionId(executionId))
    throw new CliError(EXIT.USAGE, `invalid execution id ${JSON.stringify(executionId)}`);
  if (!isNodeId(options.node))
    throw new CliError(EXIT.USAGE, `invalid node id ${JSON.stringify(options.node)}`);
  if (!isNodeId(options.requesterId)) {
    throw new CliError(EXIT.USAGE, `invalid requester id ${JSON.stringify(options.requesterId)}`);
  }
  const log = logger.child({ requesterId: options.requesterId });
  let client: LogStreamClient;
  const nc = await connectNats(options, `tailwire logs ${options.requesterId}`, {
    maxReconnectAttempts: 10,
  });
  try {
    client = new LogStreamClient({
      connection: nc,
      nodeId: options.requesterId,
      logger: log,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      ...(options.heartbeatTimeoutMs === undefined
        ? {}
        : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
      computeLostAfterMissed: options.computeLostAfterMissed,
      acceptTimeoutMs: options.acceptTimeoutMs,
    });
  } catch (error) {
    await nc.close();
    if (error instanceof RangeError || error instanceof TypeError)
      throw new CliError(EXIT.USAGE, error.message);
    throw error;
  }

  const abort = new AbortController();
  let interruptedBy: "SIGINT" | "SIGTERM" | "EPIPE" | undefined;
  const off = onTerminate((signal) => {
    interruptedBy = signal;
    abort.abort(signal);
  });
  const colors = {
    out: palette(options.color && colorEnabled(process.stdout)),
    err: palette(options.color && colorEnabled(process.stderr)),
  };
  const onPipeError = (error: NodeJS.ErrnoException) => {
    // `tailwire logs ... | head`: the reader went away. Stop the stream, quietly.
    if (error.code === "EPIPE") {
      interruptedBy ??= "EPIPE";
      abort.abort("EPIPE");
    }
  };
  process.stdout.on("error", onPipeError);
  process.stderr.on("error", onPipeError);

  const format = (entry: LogEntry): string => {
    if (options.json)
      return `${JSON.stringify({ seq: entry.seq, stream: entry.stream, time: entry.time, line: entry.line })}\n`;
    const c = entry.stream === "stderr" ? colors.err : colors.out;
    const time = options.timestamps ? `${c.dim(new Date(entry.time).toISOString())} ` : "";
    const line = entry.stream === "stderr" ? c.red(entry.line) : entry.line;
    return `${time}${line}\n`;
  };

  let code: number = EXIT.OK;
  try {
    const stream = client.streamLogs({
      nodeId: options.node,
      executionId,
      signal: abort.signal,
      ...(options.follow ? { follow: true } : {}),
      ...(options.tail === undefined ? {} : { tail: options.tail }),
      ...(options.since === undefined ? {} : { since: options.since }),
      ...(options.stream === undefined ? {} : { streams: [options.stream] }),
      ...(options.fromSeq === undefined ? {} : { fromSeq: options.fromSeq }),
    });
    log.info({ streamId: stream.streamId, node: options.node, executionId }, "stream requested");
    // A batch's consecutive lines for the same output go in one write: a big log prints at
    // NATS speed instead of one write call per line, and stdout/stderr keep their interleaving.
    for await (const batch of stream.batches()) {
      if (isRemovedNotice(batch)) {
        // Lines retention removed: said where they would have been, never skipped in silence.
        if (options.json) await writeLine(process.stdout, removedNoticeJson(batch));
        else await writeLine(process.stderr, removedNoticeText(batch, colors.err));
        continue;
      }
      let pending = "";
      let pendingOut: Writable = process.stdout;
      for (const entry of batch) {
        const out = options.json || entry.stream === "stdout" ? process.stdout : process.stderr;
        if (out !== pendingOut && pending !== "") {
          await writeLine(pendingOut, pending);
          pending = "";
        }
        pendingOut = out;
        pending += format(entry);
      }
      if (pending !== "") await writeLine(pendingOut, pending);
    }
    log.info({ exitCode: stream.exitCode, lastSeq: stream.lastSeq }, "stream completed");
  } catch (error) {
    code = reportFailure(error, interruptedBy, options);
  } finally {
    off();
    await client.close(); // cancels the stream on the compute node if it is still open
    await nc.close().catch(() => {});
  }
  return code;
}

function reportFailure(
  error: unknown,
  interruptedBy: string | undefined,
  options: LogsOptions,
): number {
  if (interruptedBy === "SIGINT") return EXIT.SIGINT;
  if (interruptedBy === "SIGTERM") return EXIT.SIGTERM;
  if (interruptedBy === "EPIPE") return EXIT.OK;
  if (error instanceof TailwireError) {
    const hint =
      error.code === "NODE_UNREACHABLE"
        ? ` (is compute node ${options.node} running and connected to ${options.nats}?)`
        : "";
    process.stderr.write(`tailwire logs: ${error.code}: ${error.message}${hint}\n`);
    return exitCodeOf(error.code);
  }
  throw error;
}
