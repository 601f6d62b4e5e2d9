// Serves one log stream over HTTP: waits for the compute node's answer before the first byte
// (so refusals become statuses), then copies batches to the socket, taking the next batch only
// once the socket has drained (that is what grants the compute node credit), pings an idle SSE
// stream, and cancels the upstream stream as soon as the HTTP client goes away.
import type { ServerResponse } from "node:http";
import { isRemovedNotice, type LogStream } from "@tailwire/requester";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { type GatewayError, refusalOf, toGatewayError } from "./errors.js";
import { FORMATS } from "./formats.js";
import type { GatewayMetrics } from "./metrics.js";
import type { LogFormat } from "./query.js";

export interface ServeOptions {
  stream: LogStream;
  format: LogFormat;
  reply: FastifyReply;
  log: FastifyBaseLogger;
  metrics: GatewayMetrics;
  /** Idle time after which an SSE stream gets a comment ping. */
  pingIntervalMs: number;
  /** Headers set on the streaming response (CORS, security). */
  extraHeaders: Record<string, string>;
  /** Called once the response is over, however it ended. */
  done: () => void;
}

/** Resolves when `res` can take more, or when it closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      res.off("drain", finish);
      res.off("close", finish);
      resolve();
    };
    res.on("drain", finish);
    res.on("close", finish);
  });
}

/**
 * Throws the GatewayError to answer with when the stream fails before it was accepted; the
 * caller turns that into a status. Once it resolves, the response is this function's.
 */
export async function serveStream(options: ServeOptions): Promise<void> {
  const { stream, reply, log, metrics, format } = options;
  const res = reply.raw;
  let clientGone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientGone = true;
    stream.cancel(); // one cancel message to the compute node, now
  };
  res.on("close", onClose);
  try {
    await stream.accepted;
  } catch (error) {
    res.off("close", onClose);
    options.done();
    if (clientGone) {
      log.info({ code: "CANCELLED" }, "client left before the stream was accepted");
      return;
    }
    throw toGatewayError(refusalOf(error));
  }
  if (clientGone) {
    options.done();
    return;
  }

  const body = FORMATS[format];
  reply.hijack();
  res.writeHead(200, {
    ...options.extraHeaders,
    "content-type": body.contentType,
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no", // nginx: do not buffer a stream
    "x-request-id": String(reply.request.id),
  });
  metrics.openStreams.inc({ format });
  metrics.streamsStarted.inc({ format });
  const info = stream.acceptedInfo;
  log.info(
    {
      executionId: stream.executionId,
      computeNodeId: stream.nodeId,
      format,
      afterSeq: info?.afterSeq,
    },
    "log stream accepted",
  );

  let wrote = true;
  const write = (chunk: string | Buffer): boolean => {
    wrote = true;
    return res.write(chunk);
  };
  if (body.preamble) write(body.preamble);
  else res.flushHeaders();
  const ping = body.ping;
  const pinger =
    ping === undefined
      ? undefined
      : setInterval(() => {
          if (!wrote && !clientGone) res.write(ping);
          wrote = false;
        }, options.pingIntervalMs);

  let lines = 0;
  let failure: GatewayError | undefined;
  try {
    for await (const batch of stream.batches()) {
      if (isRemovedNotice(batch)) {
        if (!write(body.removed(batch))) await drained(res);
        if (clientGone) break;
        continue;
      }
      const chunk = body.batch(batch);
      lines += batch.length;
      metrics.sent(format, batch.length, chunk.length);
      // Backpressure: the next batch (and so the next credit grant) waits for the socket.
      if (!write(chunk)) await drained(res);
      if (clientGone) break;
    }
  } catch (error) {
    if (!clientGone) failure = toGatewayError(error);
  } finally {
    if (pinger) clearInterval(pinger);
    metrics.openStreams.dec({ format });
    res.off("close", onClose);
    options.done();
  }

  const fields = {
    executionId: stream.executionId,
    lines,
    lastSeq: stream.lastSeq,
    cause: stream.endCause,
  };
  if (clientGone) {
    log.info(fields, "client disconnected: upstream stream cancelled");
    return;
  }
  if (failure) {
    metrics.streamErrors.inc({ code: failure.code });
    log.warn({ ...fields, code: failure.code, err: failure.cause }, "log stream failed");
    const tail = body.error(failure, stream.lastSeq);
    if (tail === undefined) {
      res.destroy(); // text/plain cannot carry the error: a cut connection is a visible failure
      return;
    }
    res.end(tail);
    return;
  }
  log.info({ ...fields, exitCode: stream.exitCode }, "log stream completed");
  res.end(body.end(stream.exitCode, stream.lastSeq));
}
