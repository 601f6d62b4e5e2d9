/**
 * A compute node: runs a job, captures its output into a FileLogStore and serves the log to
 * requesters over NATS while the job runs and after it has finished.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node examples/serve-logs.ts
 *
 * (Node 22.18+ runs TypeScript directly; on Node 20 use `npx tsx examples/serve-logs.ts`.) Then
 * follow the job from a requester with @tailwire/requester's examples/follow-logs.ts. The test
 * suite runs `main` against a real nats-server (tests/integration/src/packaging).
 */
import { pathToFileURL } from "node:url";
import { connect } from "@nats-io/transport-node";
import {
  type CaptureProcessResult,
  captureProcess,
  FileLogStore,
  LogStreamServer,
  type LogStreamServerOptions,
} from "@tailwire/compute";

type Logger = NonNullable<LogStreamServerOptions["logger"]>;

export interface ServeLogsOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** This compute node's id: requesters address it by this id (`[A-Za-z0-9_-]{1,128}`). */
  nodeId: string;
  /** Where the logs are kept; they survive a restart of the node. */
  logDir: string;
  /** The job to run and capture. */
  job: { executionId: string; command: string; args: string[] };
  /** pino, or any object with the same debug/info/warn/error(obj, msg) methods; default silent. */
  logger?: Logger;
}

export interface ComputeNode {
  server: LogStreamServer;
  /** Settles once the job has exited and all of its output is in the store. */
  job: Promise<CaptureProcessResult>;
  /** Ends open streams with GOING_AWAY, then closes the store and the connection. */
  stop(): Promise<void>;
}

export async function main(options: ServeLogsOptions): Promise<ComputeNode> {
  // The host owns the connection (servers, credentials, TLS): the library never creates or
  // closes one.
  const nc = await connect({ servers: options.servers, name: `compute ${options.nodeId}` });
  const store = new FileLogStore({ dir: options.logDir });
  const server = new LogStreamServer({
    connection: nc,
    nodeId: options.nodeId,
    source: store,
    limits: { maxStreams: 1_000 }, // every option has a default; see the README
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const { executionId, command, args } = options.job;
  // Known before the node answers: a request that arrives first then finds an empty log to
  // follow, not EXECUTION_NOT_FOUND.
  await store.create(executionId);
  await server.start(); // subscribed: requests are served from here on
  const job = captureProcess(store, executionId, command, args);
  return {
    server,
    job,
    async stop() {
      await server.close();
      await job.catch(() => undefined); // its last lines reach the store before it closes
      await store.close();
      await nc.close();
    },
  };
}

/** A console logger with pino's method shapes. */
export const consoleLogger: Logger = {
  debug: () => {},
  info: (obj, msg) => console.log(`[info] ${msg ?? ""} ${JSON.stringify(obj)}`),
  warn: (obj, msg) => console.warn(`[warn] ${msg ?? ""} ${JSON.stringify(obj)}`),
  error: (obj, msg) => console.error(`[error] ${msg ?? ""} ${JSON.stringify(obj)}`),
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const executionId = `job-${Date.now()}`;
  const node = await main({
    servers: process.env["NATS_URL"] ?? "nats://127.0.0.1:4222",
    nodeId: "compute-1",
    logDir: "./tailwire-logs",
    job: {
      executionId,
      command: "sh",
      args: ["-c", "for i in 1 2 3 4 5; do echo step $i; sleep 1; done; echo finished >&2"],
    },
    logger: consoleLogger,
  });
  console.log(`compute-1 serves ${executionId}; Ctrl-C to stop`);
  process.once("SIGINT", () => void node.stop());
  const { exitCode } = await node.job;
  console.log(`${executionId} exited with ${exitCode}; its log stays available`);
}
