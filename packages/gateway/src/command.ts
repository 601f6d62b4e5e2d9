// `tailwire gateway`: the commander command the CLI registers (program.addCommand(gatewayCommand())).
import { Command, InvalidArgumentError, Option } from "commander";
import pino from "pino";
import { parseListen } from "./auth.js";
import { type RunningGateway, runGateway } from "./server.js";

export interface GatewayCommandHooks {
  /** Called once the gateway listens (tests use it to reach and close it). */
  onStarted?: (gateway: RunningGateway) => void;
  /** Where the "listening" line goes (default stdout). */
  print?: (line: string) => void;
  /** Install SIGINT/SIGTERM handlers that close the gateway (default true). */
  handleSignals?: boolean;
}

const positive = (name: string) => (value: string) => {
  const n = Number(value);
  if (!/^[1-9][0-9]{0,9}$/.test(value) || n > 2_147_483_647) {
    throw new InvalidArgumentError(`${name} must be a positive integer`);
  }
  return n;
};

const listen = (value: string) => {
  try {
    return parseListen(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

export interface GatewayCommandOptions {
  listen: { host: string; port: number };
  nats: string;
  tokenFile?: string;
  allowUnauthenticated?: boolean;
  nodeId?: string;
  maxStreams?: number;
  maxStreamsPerToken?: number;
  corsOrigin?: string[];
  pingInterval?: number;
  windowBytes?: number;
  logLevel: string;
}

export function gatewayCommand(hooks: GatewayCommandHooks = {}): Command {
  return new Command("gateway")
    .description("serve execution logs over HTTP (SSE, ndjson, text) and the web log view")
    .addOption(
      new Option("--listen <host:port>", "address to listen on")
        .default(parseListen("127.0.0.1:8080"), "127.0.0.1:8080")
        .argParser(listen),
    )
    .option("--nats <url>", "NATS server URL(s), comma-separated", "nats://127.0.0.1:4222")
    .option("--token-file <file>", "bearer tokens, one per line ([name] token)")
    .option(
      "--allow-unauthenticated",
      "listen on a non-loopback address without tokens (only behind an authenticating proxy)",
    )
    .option("--node-id <id>", "the gateway's requester node id (default gw-<random>)")
    .option("--max-streams <n>", "open streams in the gateway", positive("--max-streams"))
    .option(
      "--max-streams-per-token <n>",
      "open streams per token",
      positive("--max-streams-per-token"),
    )
    .option("--cors-origin <origin...>", "allow these origins (CORS is off without it)")
    .option("--ping-interval <ms>", "idle time before an SSE ping", positive("--ping-interval"))
    .option(
      "--window-bytes <n>",
      "flow-control window per stream: the most the gateway holds for one slow client (default 4 MiB, at least 128 KiB)",
      positive("--window-bytes"),
    )
    .option("--log-level <level>", "pino log level", "info")
    .action(async (opts: GatewayCommandOptions) => {
      const logger = pino({ level: opts.logLevel, base: { service: "tailwire-gateway" } });
      const limits = {
        ...(opts.maxStreams === undefined ? {} : { total: opts.maxStreams }),
        ...(opts.maxStreamsPerToken === undefined ? {} : { perToken: opts.maxStreamsPerToken }),
      };
      const running = await runGateway({
        servers: opts.nats.split(",").map((s) => s.trim()),
        host: opts.listen.host,
        port: opts.listen.port,
        logger,
        limits,
        ...(opts.tokenFile === undefined ? {} : { tokenFile: opts.tokenFile }),
        ...(opts.allowUnauthenticated ? { allowUnauthenticated: true } : {}),
        ...(opts.nodeId === undefined ? {} : { nodeId: opts.nodeId }),
        ...(opts.corsOrigin === undefined ? {} : { corsOrigins: opts.corsOrigin }),
        ...(opts.pingInterval === undefined ? {} : { pingIntervalMs: opts.pingInterval }),
        ...(opts.windowBytes === undefined ? {} : { client: { windowBytes: opts.windowBytes } }),
      });
      (hooks.print ?? ((line: string) => process.stdout.write(`${line}\n`)))(
        `tailwire gateway listening on ${running.url} (requester ${running.nodeId})`,
      );
      if (hooks.handleSignals ?? true) {
        const stop = (signal: NodeJS.Signals) => {
          logger.info({ signal }, "closing the gateway");
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void running.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      }
      hooks.onStarted?.(running);
    });
}
