// A gateway of its own: a Fastify server with the plugin (createGateway), and the whole service
// with its NATS connection and requester (runGateway), as `tailwire gateway` runs it.
import { randomBytes, randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { DEFAULTS, LogStreamClient, type LogStreamClientOptions } from "@tailwire/requester";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { checkListenSafety, type GatewayToken, readTokenFile } from "./auth.js";
import { GatewayConfigError } from "./errors.js";
import { GatewayMetrics } from "./metrics.js";
import { type GatewayPluginOptions, tailwireGateway } from "./plugin.js";

export interface GatewayOptions extends Omit<GatewayPluginOptions, "metrics"> {
  /** pino (or any Fastify-compatible logger); default: no logging. */
  logger?: FastifyBaseLogger;
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly metrics: GatewayMetrics;
  /**
   * Listens and resolves to the base URL (`http://127.0.0.1:8080`). Refuses a non-loopback
   * host without tokens unless `allowUnauthenticated` (GatewayConfigError INSECURE_LISTEN).
   */
  listen(host: string, port: number): Promise<string>;
  /** Stops accepting, ends open streams (SSE clients get a retryable GOING_AWAY), closes the server. */
  close(): Promise<void>;
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    genReqId: () => randomUUID(),
    // Execution ids are up to 200 characters (Fastify's default stops path parameters at 100).
    maxParamLength: 256,
    // A follow stream is a long response: no request timeout; idle keep-alive sockets are cut
    // at close so shutdown does not wait for them.
    requestTimeout: 0,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const metrics = new GatewayMetrics(options.client);
  await app.register(tailwireGateway, { ...options, metrics });
  await app.ready();
  const authenticated = (options.tokens?.length ?? 0) > 0 || options.authorize !== undefined;
  return {
    app,
    metrics,
    async listen(host, port) {
      checkListenSafety(host, authenticated, options.allowUnauthenticated ?? false);
      await app.listen({ host, port });
      const address = app.server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      return `http://${host.includes(":") ? `[${host}]` : host}:${actual}`;
    },
    async close() {
      await app.close();
    },
  };
}

/**
 * The smallest window runGateway accepts: frames are at most half the window, so below this they
 * get smaller than the compute node's default largest frame (64 KiB) and a stream slower.
 */
export const MIN_WINDOW_BYTES = 128 * 1024;

export interface RunGatewayOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  host: string;
  port: number;
  /** Path of a token file (see parseTokenFile); or tokens directly. */
  tokenFile?: string;
  tokens?: readonly GatewayToken[];
  allowUnauthenticated?: boolean;
  /** The gateway's requester node id (default gw-<random>: unique per process). */
  nodeId?: string;
  logger?: FastifyBaseLogger;
  limits?: GatewayPluginOptions["limits"];
  pingIntervalMs?: number;
  corsOrigins?: readonly string[];
  /** LogStreamClient options besides connection, nodeId and logger. */
  client?: Omit<LogStreamClientOptions, "connection" | "nodeId" | "logger">;
}

export interface RunningGateway {
  readonly url: string;
  readonly nodeId: string;
  readonly gateway: Gateway;
  readonly client: LogStreamClient;
  readonly connection: NatsConnection;
  close(): Promise<void>;
}

export async function runGateway(options: RunGatewayOptions): Promise<RunningGateway> {
  const window = options.client?.windowBytes;
  if (window !== undefined && window < MIN_WINDOW_BYTES) {
    // Frames are at most half the window: below this they shrink under the compute node's
    // default 64 KiB, and a gateway stream slows down (see the README's Flow control).
    throw new GatewayConfigError(
      "INVALID_OPTIONS",
      `client.windowBytes must be at least ${MIN_WINDOW_BYTES} for a gateway, got ${window}`,
    );
  }
  const tokens =
    options.tokens ?? (options.tokenFile ? await readTokenFile(options.tokenFile) : []);
  const authenticated = tokens.length > 0;
  // Checked before connecting anything: a refused configuration leaves nothing behind.
  checkListenSafety(options.host, authenticated, options.allowUnauthenticated ?? false);
  const nodeId = options.nodeId ?? `gw-${randomBytes(6).toString("hex")}`;
  const { connect } = await import("@nats-io/transport-node");
  const connection = await connect({
    servers: options.servers,
    name: `tailwire gateway ${nodeId}`,
    maxReconnectAttempts: -1,
  });
  const client = new LogStreamClient({
    // The most a gateway holds for one slow HTTP client is its window: the window does not grow
    // with the path (the requester's adaptive window) unless maxWindowBytes is given.
    maxWindowBytes: options.client?.windowBytes ?? DEFAULTS.windowBytes,
    ...options.client,
    connection,
    nodeId,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let gateway: Gateway;
  let url: string;
  try {
    gateway = await createGateway({
      client,
      connection,
      tokens,
      ...(options.allowUnauthenticated === undefined
        ? {}
        : { allowUnauthenticated: options.allowUnauthenticated }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.pingIntervalMs === undefined ? {} : { pingIntervalMs: options.pingIntervalMs }),
      ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    });
    url = await gateway.listen(options.host, options.port);
  } catch (error) {
    await client.close();
    await connection.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    nodeId,
    gateway,
    client,
    connection,
    close() {
      closing ??= (async () => {
        // Streams first: each open response gets its final event and ends, then the server.
        await client.close();
        await gateway.close();
        await connection.close();
      })();
      return closing;
    },
  };
}
