// Serves one log stream over HTTP: waits for the compute node's answer before the first byte
// (so refusals become statuses), then copies batches to the socket, taking the next batch only
// once the socket has drained (that is what grants the compute node credit), pings an idle SSE
// stream, and cancels the upstream stream as soon as the HTTP client goes away.
import { isRemovedNotice, type LogStream } from "@tailwire/requester";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { type GatewayError, refusalOf, toGatewayError } from "./errors.js";
import { FORMATS } from "./formats.js";
import type { GatewayMetrics } from "./metrics.js";
import type { LogFormat } from "./query.js";
import { StreamResponse } from "./stream-response.js";

/** What serving a stream over HTTP needs, whichever route it is (see serve-job-stream.ts). */
export interface ResponseOptions {
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

export interface ServeOptions extends ResponseOptions {
  stream: LogStream;
}

/** A served stream is over, however it ended: the watch stops, its slot and gauge go back. */
export function settle(response: StreamResponse, options: ResponseOptions): void {
  response.stop();
  options.metrics.openStreams.dec({ format: options.format });
  options.done();
}

/**
 * Throws the GatewayError to answer with when the stream fails before it was accepted; the
 * caller turns that into a status. Once it resolves, the response is this function's.
 */
export async function serveStream(options: ServeOptions): Promise<void> {
  const { stream, reply, log, metrics, format } = options;
  // One cancel message to the compute node, as soon as the client goes away.
  const response = new StreamResponse(reply, () => stream.cancel());
  const answer = await response.answered(stream.accepted, options.done, (error) =>
    toGatewayError(refusalOf(error)),
  );
  if (!answer) {
    log.info({ code: "CANCELLED" }, "client left before the stream was accepted");
    return;
  }

  const body = FORMATS[format];
  response.open(reply, body.contentType, options.extraHeaders, body.preamble);
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
  response.pingWhenIdle(body.ping, options.pingIntervalMs);

  let lines = 0;
  let failure: GatewayError | undefined;
  try {
    for await (const batch of stream.batches()) {
      if (isRemovedNotice(batch)) {
        await response.write(body.removed(batch));
        if (response.clientGone) break;
        continue;
      }
      const chunk = body.batch(batch);
      lines += batch.length;
      metrics.sent(format, batch.length, chunk.length);
      // Backpressure: the next batch (and so the next credit grant) waits for the socket.
      await response.write(chunk);
      if (response.clientGone) break;
    }
  } catch (error) {
    if (!response.clientGone) failure = toGatewayError(error);
  } finally {
    settle(response, options);
  }

  const fields = {
    executionId: stream.executionId,
    lines,
    lastSeq: stream.lastSeq,
    cause: stream.endCause,
  };
  if (response.clientGone) {
    log.info(fields, "client disconnected: upstream stream cancelled");
    return;
  }
  if (failure) {
    metrics.streamErrors.inc({ code: failure.code });
    log.warn({ ...fields, code: failure.code, err: failure.cause }, "log stream failed");
    response.fail(body.error(failure, stream.lastSeq));
    return;
  }
  log.info({ ...fields, exitCode: stream.exitCode }, "log stream completed");
  response.end(body.end(stream.exitCode, stream.lastSeq));
}
