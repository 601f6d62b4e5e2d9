// The gateway as a Fastify plugin: the logs routes (an execution's, a job's), /healthz, /metrics and the web view, with
// authentication, authorization, limits and error bodies. An orchestrator registers it in its
// own Fastify server; createGateway (server.ts) registers it in a server of its own.
import type { NatsConnection } from "@nats-io/nats-core";
import type { JobLogStream, LogStream, LogStreamClient } from "@tailwire/requester";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type GatewayToken,
  hostnameOf,
  isLoopbackHost,
  type Principal,
  TokenVerifier,
} from "./auth.js";
import { errorBody, GatewayError, toGatewayError } from "./errors.js";
import { parseJobLogQuery } from "./job-query.js";
import { LIMIT_DEFAULTS, type StreamLimits, StreamSlots } from "./limits.js";
import { type ExecutionLocator, locateWith } from "./locator.js";
import { GatewayMetrics } from "./metrics.js";
import { trackConnection } from "./nats-health.js";
import { negotiateFormat, parseLogQuery } from "./query.js";
import { serveJobStream } from "./serve-job-stream.js";
import { serveStream } from "./serve-stream.js";
import { registerWebView } from "./web-view.js";

/**
 * What `authorize` is asked about: the target of the request and who asks. An execution's logs
 * name the execution and its compute node; a job's logs name the job (asked once, before any of
 * its executions is located: the job is the unit an orchestrator's permissions know).
 */
export type AuthorizeTarget =
  | { executionId: string; computeNodeId: string; jobId?: undefined; principal: Principal }
  | { jobId: string; executionId?: undefined; computeNodeId?: undefined; principal: Principal };

/** true allows, false answers 403. For orchestrators with their own identities. */
export type AuthorizeHook = (
  request: FastifyRequest,
  target: AuthorizeTarget,
) => boolean | Promise<boolean>;

export interface GatewayPluginOptions {
  /** The requester the gateway streams through; it stays the caller's (never closed here). */
  client: LogStreamClient;
  /** The client's NATS connection, for /healthz. */
  connection?: NatsConnection;
  /** Bearer tokens; none = no authentication (see allowUnauthenticated). */
  tokens?: readonly GatewayToken[];
  /**
   * Without tokens and without `authorize`, requests whose Host is not a loopback name are
   * refused (DNS rebinding); true lifts that, for a gateway behind an authenticating proxy.
   */
  allowUnauthenticated?: boolean;
  authorize?: AuthorizeHook;
  /**
   * Finds an execution's compute node. Default: `?node=` when given, else the client's locator
   * (`nodeFromQuery` requires `?node=` instead).
   */
  locate?: ExecutionLocator;
  limits?: Partial<StreamLimits>;
  /** Idle time before an SSE comment ping (default 15 s, below common proxy idle timeouts). */
  pingIntervalMs?: number;
  /** Serve the web log view at the plugin's root (default true). */
  webView?: boolean;
  /** Allowed CORS origins; CORS is off without it. */
  corsOrigins?: readonly string[];
  /** The metrics object to count into (default: a new one with its own registry). */
  metrics?: GatewayMetrics;
}

const principals = new WeakMap<FastifyRequest, Principal>();

export async function tailwireGateway(
  app: FastifyInstance,
  options: GatewayPluginOptions,
): Promise<void> {
  const client = options.client;
  const metrics = options.metrics ?? new GatewayMetrics(client);
  const verifier = options.tokens?.length ? new TokenVerifier(options.tokens) : undefined;
  const checkHost = !verifier && !options.authorize && !options.allowUnauthenticated;
  const slots = new StreamSlots({ ...LIMIT_DEFAULTS, ...options.limits });
  const locate = options.locate ?? locateWith(client);
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  const health = options.connection ? trackConnection(options.connection) : undefined;
  app.addHook("onClose", async () => health?.stop());

  await app.register((await import("@fastify/helmet")).default, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    referrerPolicy: { policy: "no-referrer" },
    crossOriginEmbedderPolicy: false,
  });
  if (options.corsOrigins?.length) {
    await app.register((await import("@fastify/cors")).default, {
      origin: [...options.corsOrigins],
      methods: ["GET"],
      allowedHeaders: ["Authorization", "Last-Event-ID", "Accept"],
      exposedHeaders: ["X-Request-Id"],
      maxAge: 600,
    });
  }

  const fail = (reply: FastifyReply, error: GatewayError) => {
    metrics.httpErrors.inc({ code: error.code, status: String(error.status) });
    if (error.code === "UNAUTHORIZED") reply.header("www-authenticate", 'Bearer realm="tailwire"');
    return reply.code(error.status).type("application/json; charset=utf-8").send(errorBody(error));
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof GatewayError) return fail(reply, error);
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return fail(reply, new GatewayError("BAD_REQUEST", "the request is malformed", { status }));
    }
    request.log.error({ err: error }, "request failed");
    return fail(reply, toGatewayError(error));
  });
  app.setNotFoundHandler((_request, reply) =>
    fail(reply, new GatewayError("NOT_FOUND", "no such route")),
  );

  const authenticate = async (request: FastifyRequest) => {
    if (verifier) {
      const name = verifier.verify(request.headers.authorization);
      if (name === undefined) {
        throw new GatewayError(
          "UNAUTHORIZED",
          request.headers.authorization === undefined
            ? "an Authorization: Bearer token is required"
            : "the bearer token is not valid",
        );
      }
      principals.set(request, { name, authenticated: true });
      return;
    }
    if (checkHost && !isLoopbackHost(hostnameOf(request.headers.host))) {
      throw new GatewayError(
        "FORBIDDEN",
        "this gateway has no authentication and answers loopback hosts only",
      );
    }
    principals.set(request, { name: "anonymous", authenticated: false });
  };

  const requireNats = () => {
    if (health && !health.connected()) {
      throw new GatewayError("NATS_DISCONNECTED", "the gateway is not connected to NATS");
    }
  };

  /** Asks the authorize hook (if any); a hook that throws denies, and the error is logged. */
  const authorizeOrThrow = async (request: FastifyRequest, target: AuthorizeTarget) => {
    if (!options.authorize) return;
    let allowed: boolean;
    try {
      allowed = await options.authorize(request, target);
    } catch (error) {
      request.log.error({ err: error }, "authorize hook failed");
      allowed = false;
    }
    if (!allowed) {
      throw new GatewayError(
        "FORBIDDEN",
        target.jobId === undefined
          ? "not allowed to read this execution's logs"
          : "not allowed to read this job's logs",
      );
    }
  };

  app.get("/healthz", async (_request, reply) => {
    const nats =
      health === undefined ? "unknown" : health.connected() ? "connected" : "disconnected";
    return reply
      .code(nats === "disconnected" ? 503 : 200)
      .header("cache-control", "no-store")
      .send({ status: nats === "disconnected" ? "unavailable" : "ok", nats, streams: slots.total });
  });

  app.get("/metrics", { onRequest: authenticate }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).header("cache-control", "no-store").send(text);
  });

  app.get<{ Params: { executionId: string }; Querystring: Record<string, unknown> }>(
    "/v1/executions/:executionId/logs",
    // No HEAD twin: a HEAD would open (and hold) an upstream stream for a body nobody gets.
    { onRequest: authenticate, exposeHeadRoute: false },
    async (request, reply) => {
      const principal = principals.get(request)!;
      const lastEventId = request.headers["last-event-id"];
      const query = parseLogQuery(request.params.executionId, request.query, lastEventId);
      const format = negotiateFormat(query.format, request.headers.accept);
      requireNats();
      const computeNodeId = await locate(
        { executionId: query.executionId, node: query.node },
        request,
      );
      await authorizeOrThrow(request, { executionId: query.executionId, computeNodeId, principal });
      const release = slots.acquire(principal.name);
      if (query.fromSeq !== undefined) metrics.resumes.inc();
      let stream: LogStream;
      try {
        stream = client.streamLogs({
          nodeId: computeNodeId,
          executionId: query.executionId,
          follow: query.follow,
          ...(query.fromSeq === undefined
            ? query.tail === undefined
              ? {}
              : { tail: query.tail }
            : { fromSeq: query.fromSeq }),
          ...(query.since === undefined ? {} : { since: query.since }),
          ...(query.streams === undefined ? {} : { streams: query.streams }),
        });
      } catch (error) {
        release();
        throw toGatewayError(error);
      }
      const log = request.log.child({ principal: principal.name, streamId: stream.streamId });
      await serveStream({
        stream,
        format,
        reply,
        log,
        metrics,
        pingIntervalMs,
        extraHeaders: headersOf(reply),
        done: release,
      });
      return reply;
    },
  );

  app.get<{ Params: { jobId: string }; Querystring: Record<string, unknown> }>(
    "/v1/jobs/:jobId/logs",
    { onRequest: authenticate, exposeHeadRoute: false },
    async (request, reply) => {
      const principal = principals.get(request)!;
      const query = parseJobLogQuery(
        request.params.jobId,
        request.query,
        request.headers["last-event-id"],
      );
      const format = negotiateFormat(query.format, request.headers.accept);
      requireNats();
      await authorizeOrThrow(request, { jobId: query.jobId, principal });
      const release = slots.acquire(principal.name);
      if (query.cursor !== undefined) metrics.resumes.inc();
      let stream: JobLogStream;
      try {
        stream = client.streamJobLogs({
          jobId: query.jobId,
          follow: query.follow,
          maxStreams: query.maxStreams,
          ...(query.tail === undefined ? {} : { tail: query.tail }),
          ...(query.since === undefined ? {} : { since: query.since }),
          ...(query.streams === undefined ? {} : { streams: query.streams }),
          ...(query.cursor === undefined ? {} : { fromSeqs: query.cursor.fromSeqs }),
        });
      } catch (error) {
        release();
        throw toGatewayError(error);
      }
      await serveJobStream({
        stream,
        format,
        prefix: query.prefix,
        cursor: query.cursor,
        reply,
        log: request.log.child({ principal: principal.name, jobId: query.jobId }),
        metrics,
        pingIntervalMs,
        extraHeaders: headersOf(reply),
        done: release,
      });
      return reply;
    },
  );

  if (options.webView !== false) registerWebView(app);
}

function headersOf(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined)
      headers[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return headers;
}
