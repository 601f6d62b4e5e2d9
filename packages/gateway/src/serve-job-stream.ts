// Serves one job's logs over HTTP: waits for the job's first item before the first byte (so a
// job nobody holds is a 404, not an error event after a 200), then writes the merged items in
// chunks, each SSE line carrying the job's cursor as its id, and stops every execution's stream
// as soon as the HTTP client goes away.
import type { JobLogItem, JobLogStream } from "@tailwire/requester";
import { type GatewayError, toGatewayError } from "./errors.js";
import { JobCursor } from "./job-cursor.js";
import { JOB_FORMATS, type JobSummary } from "./job-formats.js";
import { type ResponseOptions, settle } from "./serve-stream.js";
import { StreamResponse } from "./stream-response.js";

export interface ServeJobOptions extends ResponseOptions {
  stream: JobLogStream;
  /** text/plain lines start with `[computeNodeId/executionId] `. */
  prefix: boolean;
  /** Where the stream started (a reconnect's Last-Event-ID), advanced as items go out. */
  cursor: JobCursor | undefined;
}

/**
 * Bytes gathered before a write: items come one at a time, and one socket write per line would
 * cost more than the merge. Whatever is gathered is also written as soon as the stream waits.
 */
const CHUNK_BYTES = 64 * 1024;

export async function serveJobStream(options: ServeJobOptions): Promise<void> {
  const { stream, reply, log, metrics, format, prefix } = options;
  const response = new StreamResponse(reply, () => stream.cancel());
  const items = stream[Symbol.asyncIterator]();
  const answer = await response.answered(items.next(), options.done, toGatewayError);
  if (!answer) {
    log.info({ code: "CANCELLED" }, "client left before the job's first item");
    return;
  }
  const first = answer.value;

  const body = JOB_FORMATS[format];
  response.open(reply, body.contentType, options.extraHeaders, body.preamble);
  metrics.openStreams.inc({ format });
  metrics.streamsStarted.inc({ format });
  log.info(
    { jobId: stream.jobId, format, resumed: options.cursor !== undefined },
    "job stream started",
  );
  response.pingWhenIdle(body.ping, options.pingIntervalMs);

  const cursor = options.cursor ?? new JobCursor();
  const summary: JobSummary = { executions: 0, failed: 0, exitCode: 0 };
  let pending: string[] = [];
  let pendingBytes = 0;
  let pendingLines = 0;
  let blocked: Promise<void> | undefined;
  let flushScheduled = false;
  const flush = (): Promise<void> | undefined => {
    flushScheduled = false;
    if (pending.length === 0 || response.clientGone) return undefined;
    const chunk = Buffer.from(pending.join(""), "utf8");
    metrics.sent(format, pendingLines, chunk.length);
    pending = [];
    pendingBytes = 0;
    pendingLines = 0;
    return response.write(chunk);
  };
  const add = (text: string, isLine: boolean) => {
    if (text === "") return;
    pending.push(text);
    pendingBytes += text.length;
    if (isLine) pendingLines++;
    if (!flushScheduled) {
      flushScheduled = true;
      // After the merge's microtasks: runs once the job stream waits for the network.
      setImmediate(() => {
        const writing = flush();
        if (writing) blocked = writing.then(() => (blocked = undefined));
      });
    }
  };
  const take = (item: JobLogItem) => {
    switch (item.type) {
      case "entry":
        cursor.advance(item.executionId, item.seq);
        add(body.entry(item, cursor.toString(), prefix), true);
        return;
      case "removed":
        cursor.advance(item.executionId, item.toSeq);
        add(body.removed(item, cursor.toString()), false);
        return;
      case "started":
        summary.executions++;
        add(body.started(item), false);
        return;
      case "ended":
        if (item.error) summary.failed++;
        else if (summary.exitCode === 0 && item.exitCode !== 0)
          summary.exitCode = item.exitCode ?? null;
        add(body.ended(item), false);
        return;
    }
  };

  let failure: GatewayError | undefined;
  try {
    if (!first.done) take(first.value);
    for (;;) {
      // Backpressure: the next item (and so the executions' credit) waits for the socket.
      if (blocked) await blocked;
      if (pendingBytes >= CHUNK_BYTES) await flush();
      if (response.clientGone) break;
      const next = await items.next();
      if (next.done) break;
      take(next.value);
    }
    await flush();
  } catch (error) {
    if (!response.clientGone) failure = toGatewayError(error);
  } finally {
    settle(response, options);
  }

  const fields = { jobId: stream.jobId, ...summary };
  if (response.clientGone) {
    log.info(fields, "client disconnected: the job's streams were cancelled");
    return;
  }
  if (failure) {
    await flush();
    metrics.streamErrors.inc({ code: failure.code });
    log.warn({ ...fields, code: failure.code, err: failure.cause }, "job stream failed");
    response.fail(body.error(failure));
    return;
  }
  log.info(fields, "job stream completed");
  response.end(body.end(summary));
}
