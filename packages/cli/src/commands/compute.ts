// `tailwire compute`: a compute node serving the logs `tailwire exec` writes to a data directory,
// with its limits and retention as options, until SIGINT/SIGTERM.
import { createInterface } from "node:readline";
import { FileLogStore, LogStreamServer } from "@tailwire/compute";
import { isNodeId, subjects } from "@tailwire/protocol";
import { type Command, Option } from "commander";
import { addNatsOptions, connectNats, type NatsCliOptions } from "../connection.js";
import { CliError, EXIT } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { nonNegativeInteger, positiveInteger } from "../parse.js";
import { onTerminate } from "../signals.js";
import { parseRetentionAge, parseSize } from "../sizes.js";

interface ComputeOptions extends NatsCliOptions {
  nodeId: string;
  dataDir: string;
  heartbeatTimeoutMs: number;
  heartbeatMaxMissed: number;
  maxStreams?: number;
  maxStreamsPerRequester?: number;
  maxTailLines?: number;
  maxRequestsPerSecond?: number;
  maxNodeRequestsPerSecond?: number;
  inboxPrefix?: string;
  statsIntervalMs: number;
  pollIntervalMs: number;
  maxStoreBytes?: number;
  maxLogAge?: number;
}

/** A NATS subject prefix: dot-separated tokens, no wildcards or white space. */
const INBOX_PREFIX = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;

export function registerCompute(program: Command, logger: () => CliLogger): void {
  const command = program
    .command("compute")
    .description(
      "run a compute node: serve the logs of every execution stored in DIR (written by `tailwire exec`) until SIGINT/SIGTERM, which end open streams with GOING_AWAY and exit 0",
    )
    .requiredOption("--node-id <id>", "this compute node's id: [A-Za-z0-9_-]{1,128}")
    .requiredOption("--data-dir <dir>", "the log directory")
    .addOption(
      new Option(
        "--heartbeat-timeout-ms <ms>",
        "heartbeat timeout when the requester asks for none",
      )
        .argParser(positiveInteger)
        .default(2000),
    )
    .addOption(
      new Option(
        "--heartbeat-max-missed <n>",
        "failed heartbeats in a row after which a requester is given up",
      )
        .argParser(positiveInteger)
        .default(2),
    )
    .option("--max-streams <n>", "open streams on this node (default 10000)", positiveInteger)
    .option(
      "--max-streams-per-requester <n>",
      "open streams per requester (default 1000)",
      positiveInteger,
    )
    .option(
      "--max-tail-lines <n>",
      "largest --tail a request may ask for (default 1000000)",
      nonNegativeInteger,
    )
    .option(
      "--max-requests-per-second <n>",
      "requests per second per requester (default 200)",
      positiveInteger,
    )
    .option(
      "--max-node-requests-per-second <n>",
      "requests per second for the whole node, all requesters together (default 1000)",
      positiveInteger,
    )
    .option(
      "--inbox-prefix <prefix>",
      "inbox prefix of this node's NATS connection, where heartbeat answers arrive (default _INBOX_<node-id>, what SECURITY.md's permissions grant)",
    )
    .addOption(
      new Option(
        "--poll-interval-ms <ms>",
        "how often a follow re-checks a log file without a change notification",
      )
        .argParser(positiveInteger)
        .default(250),
    )
    .addOption(
      new Option(
        "--stats-interval-ms <ms>",
        "print a stats line on stdout this often (0 = only on request)",
      )
        .argParser(nonNegativeInteger)
        .default(0),
    )
    .option(
      "--max-store-bytes <size>",
      'the most DIR keeps for all executions, oldest data removed first, never a running execution\'s newest lines ("10GB", "1GiB", "unlimited"; default 1GiB)',
      parseSize,
    )
    .option(
      "--max-log-age <duration>",
      'remove a completed execution\'s log this long after it completed ("7d", "12h", "unlimited"; default unlimited)',
      parseRetentionAge,
    )
    .addHelpText(
      "after",
      `
Stats: write "stats" (or "stats <tag>") followed by a newline on stdin and the node prints
  stats [<tag>] {"openStreams":...,"streamsEnded":{...},"framesSent":...,...}
on stdout (one JSON object: LogStreamServer.stats(), plus "store": the FileLogStore's usage,
{"totalBytes":...,"executions":{"<id>":<bytes>,...},"executionsRemoved":...}).`,
    );
  addNatsOptions(command, nonNegativeInteger);
  command.action(async (options: ComputeOptions) => {
    if (!isNodeId(options.nodeId)) {
      throw new CliError(
        EXIT.USAGE,
        `invalid node id ${JSON.stringify(options.nodeId)}: use [A-Za-z0-9_-]{1,128}`,
      );
    }
    if (options.inboxPrefix !== undefined && !INBOX_PREFIX.test(options.inboxPrefix)) {
      throw new CliError(
        EXIT.USAGE,
        `invalid --inbox-prefix ${JSON.stringify(options.inboxPrefix)}: subject tokens without wildcards`,
      );
    }
    const log = logger().child({ node: options.nodeId });
    // Listen before anything is announced: a SIGTERM right after the ready line must find it.
    let stopping = false;
    let stop!: (code: number) => void;
    const stopped = new Promise<number>((resolve) => {
      stop = resolve;
    });
    onTerminate((signal) => {
      stopping = true;
      log.info({ signal }, "shutting down");
      stop(EXIT.OK);
    });
    const nc = await connectNats(options, `tailwire compute ${options.nodeId}`, {
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      inboxPrefix: options.inboxPrefix ?? subjects.computeInboxPrefix(options.nodeId),
    });
    let store: FileLogStore;
    try {
      store = new FileLogStore({
        dir: options.dataDir,
        pollIntervalMs: options.pollIntervalMs,
        ...(options.maxStoreBytes === undefined ? {} : { maxStoreBytes: options.maxStoreBytes }),
        ...(options.maxLogAge === undefined ? {} : { maxLogAgeMs: options.maxLogAge }),
      });
    } catch (error) {
      throw new CliError(EXIT.USAGE, (error as Error).message);
    }
    // Applied at once, then every 10 s by the store itself.
    void store.sweep().catch((error) => log.warn({ err: error }, "log retention sweep failed"));
    const limits = {
      ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
      ...(options.maxStreamsPerRequester === undefined
        ? {}
        : { maxStreamsPerRequester: options.maxStreamsPerRequester }),
      ...(options.maxTailLines === undefined ? {} : { maxTailLines: options.maxTailLines }),
      ...(options.maxRequestsPerSecond === undefined
        ? {}
        : { maxRequestsPerSecondPerRequester: options.maxRequestsPerSecond }),
      ...(options.maxNodeRequestsPerSecond === undefined
        ? {}
        : { maxRequestsPerSecond: options.maxNodeRequestsPerSecond }),
    };
    const server = new LogStreamServer({
      connection: nc,
      nodeId: options.nodeId,
      source: store,
      logger: log,
      limits,
      heartbeat: { timeoutMs: options.heartbeatTimeoutMs, maxMissed: options.heartbeatMaxMissed },
    });
    await server.start();

    const printStats = (tag?: string) => {
      // With the store's usage (bytes per execution and in total), fresh from a retention sweep
      // (the last one's if this one fails).
      void store
        .sweep()
        .catch(() => store.usage())
        .then((usage) => {
          const line = JSON.stringify({ ...server.stats(), store: usage });
          process.stdout.write(tag === undefined ? `stats ${line}\n` : `stats ${tag} ${line}\n`);
        });
    };
    const stdin = createInterface({ input: process.stdin, terminal: false });
    stdin.on("line", (line) => {
      const [word, tag] = line.trim().split(/\s+/);
      if (word === "stats") printStats(tag);
      else if (word !== undefined && word !== "")
        process.stderr.write(`unknown command ${JSON.stringify(word)}\n`);
    });
    const statsTimer =
      options.statsIntervalMs > 0
        ? setInterval(() => printStats(), options.statsIntervalMs)
        : undefined;

    log.info({ dataDir: store.dir, nats: nc.getServer() }, "compute node ready");
    process.stdout.write(`compute node ${options.nodeId} ready (serving ${store.dir})\n`);

    void nc.closed().then((error) => {
      if (stopping) return;
      log.error({ err: error }, "NATS connection closed for good: stopping");
      stop(EXIT.NATS_UNAVAILABLE);
    });
    const code = await stopped;
    if (statsTimer) clearInterval(statsTimer);
    stdin.close();
    process.stdin.destroy();
    await server.close(); // GOING_AWAY on every open stream
    await store.close();
    if (!nc.isClosed()) await nc.close();
    process.stdout.write(`compute node ${options.nodeId} stopped\n`);
    process.exitCode = code;
  });
}
