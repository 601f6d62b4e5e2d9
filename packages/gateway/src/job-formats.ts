// The three response bodies of a job stream (SSE, ndjson, plain text): like an execution's
// (formats.ts), but every line names its execution and compute node, each execution's start,
// removed lines and end are events of their own, and the SSE id is the job's cursor.
import type { JobLogItem } from "@tailwire/requester";
import { errorBody, type GatewayError, toGatewayError } from "./errors.js";
import { errorJson, quote } from "./formats.js";
import type { LogFormat } from "./query.js";

type Entry = Extract<JobLogItem, { type: "entry" }>;
type Removed = Extract<JobLogItem, { type: "removed" }>;
type Started = Extract<JobLogItem, { type: "started" }>;
type Ended = Extract<JobLogItem, { type: "ended" }>;

/** What the job's end says: how many executions there were and the first non-zero exit code. */
export interface JobSummary {
  executions: number;
  failed: number;
  exitCode: number | null;
}

export interface JobBodyFormat {
  readonly contentType: string;
  readonly preamble: string;
  /** `id`: the cursor after this entry (SSE only), undefined past the cursor's size. */
  entry(e: Entry, id: string | undefined, prefix: boolean): string;
  started(s: Started): string;
  removed(r: Removed, id: string | undefined): string;
  ended(e: Ended): string;
  end(summary: JobSummary): string;
  /** undefined: the format cannot say it, so the connection is cut instead. */
  error(error: GatewayError): string | undefined;
  readonly ping: string | undefined;
}

// Built by hand as formats.ts does: ids match PROTOCOL.md's patterns (nothing to escape), so
// the line is the only field to quote.
const entryJson = (e: Entry) =>
  `{"executionId":"${e.executionId}","computeNodeId":"${e.computeNodeId}","seq":${e.seq},"stream":"${e.stream}","time":${e.time},"line":${quote(e.line)}}`;

const startedJson = (s: Started) =>
  JSON.stringify({ executionId: s.executionId, computeNodeId: s.computeNodeId });

const removedJson = (r: Removed) =>
  JSON.stringify({
    executionId: r.executionId,
    computeNodeId: r.computeNodeId,
    fromSeq: r.fromSeq,
    toSeq: r.toSeq,
    reason: r.reason,
  });

/** An execution's end: its exit code, or (its stream failed) the error with a safe message. */
const endedJson = (e: Ended) =>
  JSON.stringify({
    executionId: e.executionId,
    computeNodeId: e.computeNodeId,
    exitCode: e.exitCode ?? null,
    ...(e.error ? { error: errorBody(toGatewayError(e.error)) } : {}),
  });

const idLine = (id: string | undefined) => (id === undefined ? "" : `id: ${id}\n`);

const sse: JobBodyFormat = {
  contentType: "text/event-stream; charset=utf-8",
  preamble: "retry: 1000\n\n",
  entry: (e, id) => `${idLine(id)}data: ${entryJson(e)}\n\n`,
  started: (s) => `event: started\ndata: ${startedJson(s)}\n\n`,
  removed: (r, id) => `event: removed\n${idLine(id)}data: ${removedJson(r)}\n\n`,
  ended: (e) => `event: ended\ndata: ${endedJson(e)}\n\n`,
  end: (summary) => `event: end\ndata: ${JSON.stringify(summary)}\n\n`,
  error: (error) => `event: error\ndata: ${errorJson(error, undefined)}\n\n`,
  ping: ": ping\n\n",
};

const ndjson: JobBodyFormat = {
  contentType: "application/x-ndjson; charset=utf-8",
  preamble: "",
  entry: (e) => `${entryJson(e)}\n`,
  started: (s) => `{"started":${startedJson(s)}}\n`,
  removed: (r) => `{"removed":${removedJson(r)}}\n`,
  ended: (e) => `{"ended":${endedJson(e)}}\n`,
  end: (summary) => `{"end":${JSON.stringify(summary)}}\n`,
  error: (error) => `{"error":${errorJson(error, undefined)}}\n`,
  ping: undefined,
};

const text: JobBodyFormat = {
  contentType: "text/plain; charset=utf-8",
  preamble: "",
  entry: (e, _id, prefix) =>
    prefix ? `[${e.computeNodeId}/${e.executionId}] ${e.line}\n` : `${e.line}\n`,
  started: () => "",
  removed: (r) =>
    `[tailwire: lines ${r.fromSeq}..${r.toSeq} of ${r.executionId} were removed by ${r.reason}]\n`,
  // One execution failing is not the job failing: said in the text, the others go on.
  ended: (e) =>
    e.error
      ? `[tailwire: execution ${e.executionId} on ${e.computeNodeId} failed: ${toGatewayError(e.error).code}]\n`
      : "",
  end: () => "",
  error: () => undefined,
  ping: undefined,
};

export const JOB_FORMATS: Record<LogFormat, JobBodyFormat> = { sse, ndjson, text };
