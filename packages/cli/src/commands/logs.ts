// `tailwire logs <execution>`: one execution's log to the terminal (tail, follow, filters, --json),
// and what both logs commands share: the read filters, opening the client, reporting the end.
import { randomBytes } from "node:crypto";
import type { Writable } from "node:stream";
import type { NatsConnection } from "@nats-io/nats-core";
import { isExecutionId, isNodeId, type LogStreamName } from "@tailwire/protocol";
import {
  DEFAULTS,
  InternalError,
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
import {
  durationArgument,
  nonNegativeInteger,
  positiveInteger,
  sinceArgument,
  streamsArgument,
  TAIL_ALL,
  tailArgument,
} from "../parse.js";
import { removedNoticeJson, removedNoticeText } from "../removed-notice.js";
import { runJobLogs } from "./job-logs.js";
import { type StoppedBy, StreamStop } from "./stream-stop.js";

export interface LogsOptions extends NatsCliOptions {
  node?: string;
  job?: string;
  prefix?: boolean;
  maxStreams?: number;
  follow?: boolean;
  tail?: number;
  since?: number;
  until?: number;
  timestamps?: boolean;
  stream?: LogStreamName[];
  fromSeq?: number;
  json?: boolean;
  exitCode?: boolean;
  reconnectWindow: number;
  color: boolean;
  requesterId: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number | undefined;
  computeLostAfterMissed: number;
  acceptTimeoutMs: number;
  /** Offer compressed frames (for links where bytes are the limit). */
  compress?: boolean;
}

export function registerLogs(program: Command, logger: () => CliLogger): void {
  const command = program
    .command("logs")
    .description(
      "print an execution's logs from a compute node: stdout lines to stdout, stderr lines to stderr",
    )
    .argument("[execution-id]", "the execution (or --job for every execution of a job)")
    .option(
      "--node <node-id>",
      "the compute node that ran it (default: found by asking the compute nodes)",
    )
    .option(
      "--job <job-id>",
      "every execution of this job, on every compute node, merged in capture-time order",
    )
    .option("--prefix", "with --job: put [node/execution] before every line (like kubectl)")
    .option(
      "--max-streams <n>",
      "with --job: executions streamed at once, the rest wait (default 10; kubectl's --max-log-requests)",
      positiveInteger,
    )
    .option("-f, --follow", "keep printing new lines until the execution completes")
    .option(
      "--compress",
      "ask for compressed frames (zstd or brotli; speaks ExecutionLogs/v1, which has them): fewer bytes over slow or distant links",
    )
    .option(
      "-n, --tail <n>",
      'only the last N lines (0 = only new lines; "all" or -1 = every line, the default)',
      tailArgument,
    )
    .option(
      "--since <when>",
      'only lines captured since a time: a duration back from now ("10m", "1h30m"), RFC 3339 or a unix timestamp',
      sinceArgument,
    )
    .option(
      "--until <when>",
      "only lines captured before a time (same forms as --since); with -f, stop there",
      sinceArgument,
    )
    .option("-t, --timestamps", "prefix every line with its capture time (RFC 3339, UTC)")
    .option(
      "--stream <name>",
      "only this output stream: stdout or stderr (repeatable, or comma-separated)",
      streamsArgument,
    )
    .option(
      "--from-seq <n>",
      "only lines after this sequence number (resume; takes precedence over --tail)",
      nonNegativeInteger,
    )
    .option(
      "--json",
      'print every line as one JSON object on stdout: {seq, stream, time, line}; the last record is {"type":"end","executionId","exitCode","lastSeq"}',
    )
    .option(
      "--exit-code",
      `exit with the execution's exit code once the stream ends (${EXIT.NO_EXIT_CODE} when it has none: still running, killed by a signal)`,
    )
    .addOption(
      new Option(
        "--reconnect-window <duration>",
        `how long to wait for a lost NATS connection to come back before giving up (exit ${EXIT.NATS_UNAVAILABLE})`,
      )
        .argParser(durationArgument)
        .default(30_000, "30s"),
    )
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
  tailwire logs job-42 --node compute-1 -n 20 -f
  tailwire logs job-42 --node compute-1 --since 10m --until 5m --stream stderr -t
  tailwire logs job-42 --node compute-1 -f --exit-code && echo "job-42 succeeded"
  tailwire logs job-42 --node compute-1 --from-seq 1200 --json | jq -r 'select(.seq) | .line'`,
    );
  addNatsOptions(command, nonNegativeInteger);
  command.action(async (executionId: string | undefined, options: LogsOptions) => {
    if (options.job !== undefined) {
      if (executionId !== undefined)
        throw new CliError(EXIT.USAGE, "give an execution id or --job, not both");
      process.exitCode = await runJobLogs(options.job, options, logger());
      return;
    }
    if (executionId === undefined)
      throw new CliError(EXIT.USAGE, "missing the execution id (or --job <job-id>)");
    process.exitCode = await runLogs(executionId, options, logger());
  });
}

/** What to read, as both logs commands ask for it: follow, tail, since and the output streams. */
export function readFilters(options: LogsOptions): {
  follow?: boolean;
  tail?: number;
  since?: number;
  streams?: LogStreamName[];
} {
  return {
    ...(options.follow ? { follow: true } : {}),
    ...(options.tail === undefined || options.tail === TAIL_ALL ? {} : { tail: options.tail }),
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.stream === undefined || options.stream.length === 0
      ? {}
      : { streams: options.stream }),
  };
}

/**
 * Checks the options every logs run shares, connects (reconnecting for as long as the window
 * allows: watchNatsConnection decides when to give up, so the window is one clear option instead
 * of attempts × wait) and makes the client; bad values are usage errors.
 */
export async function openClient(
  options: LogsOptions,
  log: CliLogger,
): Promise<{ nc: NatsConnection; client: LogStreamClient }> {
  if (options.node !== undefined && !isNodeId(options.node))
    throw new CliError(EXIT.USAGE, `invalid node id ${JSON.stringify(options.node)}`);
  if (!isNodeId(options.requesterId)) {
    throw new CliError(EXIT.USAGE, `invalid requester id ${JSON.stringify(options.requesterId)}`);
  }
  if (options.until !== undefined && options.since !== undefined && options.until < options.since)
    throw new CliError(EXIT.USAGE, "--until is before --since: no line can match");
  const nc = await connectNats(options, `tailwire logs ${options.requesterId}`, {
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  try {
    const client = new LogStreamClient({
      connection: nc,
      nodeId: options.requesterId,
      logger: log,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      ...(options.heartbeatTimeoutMs === undefined
        ? {}
        : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
      computeLostAfterMissed: options.computeLostAfterMissed,
      // Compressed frames exist in ExecutionLogs/v1 only (v2 has none yet).
      ...(options.compress ? { compression: true, protocol: "v1" as const } : {}),
      acceptTimeoutMs: options.acceptTimeoutMs,
    });
    return { nc, client };
  } catch (error) {
    await nc.close();
    if (error instanceof RangeError || error instanceof TypeError)
      throw new CliError(EXIT.USAGE, error.message);
    throw error;
  }
}

async function runLogs(
  executionId: string,
  options: LogsOptions,
  logger: CliLogger,
): Promise<number> {
  if (!isExecutionId(executionId))
    throw new CliError(EXIT.USAGE, `invalid execution id ${JSON.stringify(executionId)}`);
  const log = logger.child({ requesterId: options.requesterId });
  const { nc, client } = await openClient(options, log);

  const stopper = new StreamStop(nc, options.reconnectWindow);
  const untilTimer =
    options.follow && options.until !== undefined
      ? setTimeout(() => stopper.stop("UNTIL"), Math.max(0, options.until - Date.now()))
      : undefined;
  const colors = {
    out: palette(options.color && colorEnabled(process.stdout)),
    err: palette(options.color && colorEnabled(process.stderr)),
  };

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
      // Without --node the client's locator finds the one compute node holding it.
      ...(options.node === undefined ? {} : { computeNodeId: options.node }),
      executionId,
      signal: stopper.signal,
      ...readFilters(options),
      ...(options.fromSeq === undefined ? {} : { fromSeq: options.fromSeq }),
    });
    log.info({ streamId: stream.streamId, node: options.node, executionId }, "stream requested");
    // A batch's consecutive lines for the same output go in one write: a big log prints at
    // NATS speed instead of one write call per line, and stdout/stderr keep their interleaving.
    let lastSeq: number | undefined;
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
        // --until: lines come in capture order, so the first one after it ends the stream.
        if (options.until !== undefined && entry.time > options.until) {
          stopper.stop("UNTIL");
          break;
        }
        const out = options.json || entry.stream === "stdout" ? process.stdout : process.stderr;
        if (out !== pendingOut && pending !== "") {
          await writeLine(pendingOut, pending);
          pending = "";
        }
        pendingOut = out;
        pending += format(entry);
        lastSeq = entry.seq;
      }
      if (pending !== "") await writeLine(pendingOut, pending);
      if (stopper.by === "UNTIL") break;
    }
    log.info({ exitCode: stream.exitCode, lastSeq: stream.lastSeq }, "stream completed");
    if (stopper.by === "UNTIL") {
      code = options.exitCode ? EXIT.NO_EXIT_CODE : EXIT.OK;
    } else {
      code = await reportEnd(
        executionId,
        stream.exitCode ?? null,
        stream.lastSeq ?? lastSeq,
        options,
      );
    }
  } catch (error) {
    code = reportFailure(error, stopper.by, options, nc.isClosed());
  } finally {
    stopper.dispose();
    clearTimeout(untilTimer);
    await client.close(); // cancels the stream on the compute node if it is still open
    await nc.close().catch(() => {});
  }
  return code;
}

/**
 * The end of a stream, said: the execution's exit code on stderr (an end record on stdout with
 * --json), and the exit code of this command (the execution's with --exit-code).
 */
async function reportEnd(
  executionId: string,
  exitCode: number | null,
  lastSeq: number | undefined,
  options: LogsOptions,
): Promise<number> {
  if (options.json) {
    const end = { type: "end", executionId, exitCode, lastSeq: lastSeq ?? null };
    await writeLine(process.stdout, `${JSON.stringify(end)}\n`);
  } else if (exitCode !== null) {
    const c = palette(options.color && colorEnabled(process.stderr));
    const text = `tailwire logs: execution ${executionId} exited with code ${exitCode}`;
    await writeLine(process.stderr, `${exitCode === 0 ? c.dim(text) : c.red(text)}\n`);
  } else if (options.follow) {
    // -f ends only when the execution completed: it did, without an exit code.
    await writeLine(
      process.stderr,
      `tailwire logs: execution ${executionId} ended without an exit code (killed by a signal, or it could not start)\n`,
    );
  }
  if (!options.exitCode) return EXIT.OK;
  return exitCode ?? EXIT.NO_EXIT_CODE;
}

export function reportFailure(
  error: unknown,
  stoppedBy: StoppedBy | undefined,
  options: LogsOptions,
  natsClosed: boolean,
): number {
  if (stoppedBy === "SIGINT") return EXIT.SIGINT;
  if (stoppedBy === "SIGTERM") return EXIT.SIGTERM;
  if (stoppedBy === "EPIPE") return EXIT.OK;
  // -f --until: the time came before the execution ended; the stream was cancelled for it.
  if (stoppedBy === "UNTIL") return options.exitCode ? EXIT.NO_EXIT_CODE : EXIT.OK;
  if (stoppedBy === "NATS" || (natsClosed && error instanceof InternalError)) {
    const window =
      stoppedBy === "NATS" ? ` and it was not back within ${options.reconnectWindow / 1000} s` : "";
    process.stderr.write(
      `tailwire logs: NATS_UNAVAILABLE: lost the connection to NATS (${options.nats})${window}; the stream was given up (--reconnect-window sets how long to wait)\n`,
    );
    return EXIT.NATS_UNAVAILABLE;
  }
  if (error instanceof TailwireError) {
    const hint =
      error.code === "NODE_UNREACHABLE" && options.node !== undefined
        ? ` (is compute node ${options.node} running and connected to ${options.nats}?)`
        : error.code === "EXECUTION_AMBIGUOUS"
          ? " (name one with --node)"
          : "";
    process.stderr.write(`tailwire logs: ${error.code}: ${error.message}${hint}\n`);
    return exitCodeOf(error.code);
  }
  throw error;
}
