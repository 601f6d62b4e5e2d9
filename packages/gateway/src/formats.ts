// The three response bodies of a log stream: SSE, ndjson and plain text. Each turns a batch of
// entries into one string (one socket write per batch) and says how the stream ends.
import type { LogEntry } from "@tailwire/requester";
import { errorBody, type GatewayError } from "./errors.js";
import type { LogFormat } from "./query.js";

export interface BodyFormat {
  readonly contentType: string;
  /** Written once the compute node accepted the stream (the headers go with it). */
  readonly preamble: string;
  batch(entries: readonly LogEntry[]): string;
  end(exitCode: number | null | undefined, lastSeq: number | undefined): string;
  /** undefined: the format cannot say it, so the connection is cut instead (see README). */
  error(error: GatewayError, lastSeq: number | undefined): string | undefined;
  /** An idle keep-alive, or undefined when the format has none. */
  readonly ping: string | undefined;
}

// Built by hand: JSON.stringify of the line is the only escaping needed (seq, time are integers,
// stream is stdout|stderr), and skipping the object walk is most of the cost per line.
const entryJson = (e: LogEntry) =>
  `{"seq":${e.seq},"stream":"${e.stream}","time":${e.time},"line":${JSON.stringify(e.line)}}`;

const endJson = (exitCode: number | null | undefined, lastSeq: number | undefined) =>
  JSON.stringify({ exitCode: exitCode ?? null, lastSeq: lastSeq ?? null });

const errorJson = (error: GatewayError, lastSeq: number | undefined) =>
  JSON.stringify({ ...errorBody(error), lastSeq: lastSeq ?? null });

const sse: BodyFormat = {
  contentType: "text/event-stream; charset=utf-8",
  // retry: how long an EventSource waits before it reconnects (with Last-Event-ID).
  preamble: "retry: 1000\n\n",
  batch(entries) {
    let out = "";
    for (const e of entries) out += `id: ${e.seq}\ndata: ${entryJson(e)}\n\n`;
    return out;
  },
  end: (exitCode, lastSeq) => `event: end\ndata: ${endJson(exitCode, lastSeq)}\n\n`,
  error: (error, lastSeq) => `event: error\ndata: ${errorJson(error, lastSeq)}\n\n`,
  ping: ": ping\n\n",
};

const ndjson: BodyFormat = {
  contentType: "application/x-ndjson; charset=utf-8",
  preamble: "",
  batch(entries) {
    let out = "";
    for (const e of entries) out += `${entryJson(e)}\n`;
    return out;
  },
  end: (exitCode, lastSeq) => `{"end":${endJson(exitCode, lastSeq)}}\n`,
  error: (error, lastSeq) => `{"error":${errorJson(error, lastSeq)}}\n`,
  ping: undefined,
};

const text: BodyFormat = {
  contentType: "text/plain; charset=utf-8",
  preamble: "",
  batch(entries) {
    let out = "";
    for (const e of entries) out += `${e.line}\n`;
    return out;
  },
  end: () => "",
  error: () => undefined,
  ping: undefined,
};

export const FORMATS: Record<LogFormat, BodyFormat> = { sse, ndjson, text };
