// The three response bodies of a log stream: SSE, ndjson and plain text. Each turns a batch of
// entries into one Buffer (one socket write per batch) and says how the stream ends.
import type { LogEntry, RemovedNotice } from "@tailwire/requester";
import { errorBody, type GatewayError } from "./errors.js";
import type { LogFormat } from "./query.js";

export interface BodyFormat {
  readonly contentType: string;
  /** Written once the compute node accepted the stream (the headers go with it). */
  readonly preamble: string;
  batch(entries: readonly LogEntry[]): Buffer;
  /**
   * Lines the compute node's retention removed before they were read (never a silent gap). SSE
   * gives it `id: <toSeq>`, so a reconnect with Last-Event-ID goes on after it.
   */
  removed(notice: RemovedNotice): string;
  end(exitCode: number | null | undefined, lastSeq: number | undefined): string;
  /** undefined: the format cannot say it, so the connection is cut instead (see README). */
  error(error: GatewayError, lastSeq: number | undefined): string | undefined;
  /** An idle keep-alive, or undefined when the format has none. */
  readonly ping: string | undefined;
}

// Lines with nothing JSON must escape (quote, backslash, control characters; any surrogate is
// left to JSON.stringify so lone ones are escaped as it does) are quoted as they are: the scan is
// cheaper than JSON.stringify's escaping, and most log lines qualify (BENCHMARKS.md, gateway).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
export const quote = (line: string) =>
  NEEDS_ESCAPE.test(line) ? JSON.stringify(line) : `"${line}"`;

// Built by hand: seq and time are integers and stream is stdout|stderr, so the line is the only
// field to escape, and skipping the object walk is most of the cost per line.
const entryJson = (e: LogEntry) =>
  `{"seq":${e.seq},"stream":"${e.stream}","time":${e.time},"line":${quote(e.line)}}`;

/**
 * One Buffer per batch (one socket write, its exact byte length for the metrics): the entries'
 * texts joined, then encoded. Joining makes one flat string (a `+=` chain makes a rope V8 must
 * flatten first); writing each text into a preallocated Buffer measured no faster.
 */
function encodeBatch(entries: readonly LogEntry[], text: (e: LogEntry) => string): Buffer {
  const parts = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) parts[i] = text(entries[i]!);
  return Buffer.from(parts.join(""), "utf8");
}

const endJson = (exitCode: number | null | undefined, lastSeq: number | undefined) =>
  JSON.stringify({ exitCode: exitCode ?? null, lastSeq: lastSeq ?? null });

const removedJson = (n: RemovedNotice) =>
  JSON.stringify({ fromSeq: n.fromSeq, toSeq: n.toSeq, reason: n.reason });

export const errorJson = (error: GatewayError, lastSeq: number | undefined) =>
  JSON.stringify({ ...errorBody(error), lastSeq: lastSeq ?? null });

const sse: BodyFormat = {
  contentType: "text/event-stream; charset=utf-8",
  // retry: how long an EventSource waits before it reconnects (with Last-Event-ID).
  preamble: "retry: 1000\n\n",
  batch: (entries) => encodeBatch(entries, (e) => `id: ${e.seq}\ndata: ${entryJson(e)}\n\n`),
  removed: (n) => `event: removed\nid: ${n.toSeq}\ndata: ${removedJson(n)}\n\n`,
  end: (exitCode, lastSeq) => `event: end\ndata: ${endJson(exitCode, lastSeq)}\n\n`,
  error: (error, lastSeq) => `event: error\ndata: ${errorJson(error, lastSeq)}\n\n`,
  ping: ": ping\n\n",
};

const ndjson: BodyFormat = {
  contentType: "application/x-ndjson; charset=utf-8",
  preamble: "",
  batch: (entries) => encodeBatch(entries, (e) => `${entryJson(e)}\n`),
  removed: (n) => `{"removed":${removedJson(n)}}\n`,
  end: (exitCode, lastSeq) => `{"end":${endJson(exitCode, lastSeq)}}\n`,
  error: (error, lastSeq) => `{"error":${errorJson(error, lastSeq)}}\n`,
  ping: undefined,
};

const text: BodyFormat = {
  contentType: "text/plain; charset=utf-8",
  preamble: "",
  batch: (entries) => encodeBatch(entries, (e) => `${e.line}\n`),
  // Plain text has no side channel: say it in the text, as `tailwire logs` says it on stderr.
  removed: (n) => `[tailwire: lines ${n.fromSeq}..${n.toSeq} were removed by ${n.reason}]\n`,
  end: () => "",
  error: () => undefined,
  ping: undefined,
};

export const FORMATS: Record<LogFormat, BodyFormat> = { sse, ndjson, text };
