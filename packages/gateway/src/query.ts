// Parses and checks the query of GET /v1/executions/{executionId}/logs into stream options (its
// parameter parsers are shared with job-query.ts).
// Written by hand rather than with Fastify's schema coercion: coercion turns `tail=` into 0 and
// `tail=1e3` into 1000, and the messages should name the parameter and what it accepts.
import { isExecutionId, isNodeId, LIMITS, type LogStreamName } from "@tailwire/protocol";
import { GatewayError } from "./errors.js";

export type LogFormat = "sse" | "ndjson" | "text";

export interface LogQuery extends LogFilters {
  executionId: string;
  /** The compute node named in the query; a locator decides when it is absent. */
  node: string | undefined;
  fromSeq: number | undefined;
}

const KNOWN = new Set(["node", "tail", "follow", "since", "stream", "fromSeq", "format"]);
export const INTEGER = /^(0|[1-9][0-9]{0,15})$/;

export const bad = (message: string) => new GatewayError("BAD_REQUEST", message);

export function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw bad(`${name} may be given once`);
  return value;
}

export function integer(name: string, value: string, max: number): number {
  if (!INTEGER.test(value) || Number(value) > max) {
    throw bad(`${name} must be an integer from 0 to ${max}`);
  }
  return Number(value);
}

export function boolean(name: string, value: string): boolean {
  if (value === "" || value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw bad(`${name} must be true or false`);
}

/** `since`: epoch milliseconds or an ISO 8601 date-time with a zone. */
function time(value: string): number {
  const ms = INTEGER.test(value)
    ? Number(value)
    : /^\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)$/.test(value)
      ? Date.parse(value)
      : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw bad("since must be epoch milliseconds or an ISO 8601 time with a zone (…Z)");
  }
  return ms;
}

function streams(value: string): LogStreamName[] | undefined {
  if (value === "stdout" || value === "stderr") return [value];
  if (value === "both" || value === "stdout,stderr" || value === "stderr,stdout") return undefined;
  throw bad("stream must be stdout, stderr or both");
}

function format(value: string): LogFormat {
  if (value === "sse" || value === "ndjson" || value === "text") return value;
  throw bad("format must be sse, ndjson or text");
}

/** The filters both log routes take: tail, follow, since, stream and format (`format=`
 * overrides the Accept header). */
export interface LogFilters {
  tail: number | undefined;
  follow: boolean;
  since: number | undefined;
  streams: LogStreamName[] | undefined;
  format: LogFormat | undefined;
}

/** Refuses unknown names: a typo such as `folow` would otherwise silently give another stream. */
export function checkNames(query: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const name of Object.keys(query)) {
    if (!known.has(name)) throw bad(`unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
  }
}

export function parseFilters(query: Record<string, unknown>): LogFilters {
  const tail = single(query, "tail");
  const follow = single(query, "follow");
  const since = single(query, "since");
  const stream = single(query, "stream");
  const formatText = single(query, "format");
  return {
    tail: tail === undefined ? undefined : integer("tail", tail, LIMITS.maxInt),
    follow: follow === undefined ? false : boolean("follow", follow),
    since: since === undefined ? undefined : time(since),
    streams: stream === undefined ? undefined : streams(stream),
    format: formatText === undefined ? undefined : format(formatText),
  };
}

/**
 * Checks every parameter; unknown ones are refused (a typo such as `folow` would otherwise
 * silently give a different stream). `lastEventId` (the SSE header) wins over `fromSeq`.
 */
export function parseLogQuery(
  executionId: string,
  query: Record<string, unknown>,
  lastEventId: string | string[] | undefined,
): LogQuery {
  if (!isExecutionId(executionId)) {
    throw bad("executionId must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$");
  }
  checkNames(query, KNOWN);
  const node = single(query, "node");
  if (node !== undefined && !isNodeId(node)) throw bad("node must match ^[A-Za-z0-9_-]{1,128}$");
  const fromSeqText = single(query, "fromSeq");
  let fromSeq =
    fromSeqText === undefined ? undefined : integer("fromSeq", fromSeqText, LIMITS.maxSafe);
  if (lastEventId !== undefined) {
    if (typeof lastEventId !== "string") throw bad("Last-Event-ID may be given once");
    fromSeq = integer("Last-Event-ID", lastEventId.trim(), LIMITS.maxSafe);
  }
  return { executionId, node, fromSeq, ...parseFilters(query) };
}

/**
 * Picks the format from `format=` or the Accept header: text/event-stream, application/x-ndjson
 * (or application/jsonl), text/plain; `*` or no Accept gives text/plain (curl's default).
 */
export function negotiateFormat(
  explicit: LogFormat | undefined,
  accept: string | undefined,
): LogFormat {
  if (explicit) return explicit;
  if (accept === undefined || accept.trim() === "") return "text";
  const wanted = accept
    .split(",")
    .map((part) => {
      const [type = "", ...params] = part.trim().toLowerCase().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { type: type.trim(), q: q === undefined ? 1 : Number(q.slice(2)) };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { type } of wanted) {
    if (type === "text/event-stream") return "sse";
    if (type === "application/x-ndjson" || type === "application/jsonl") return "ndjson";
    if (type === "text/plain" || type === "text/*" || type === "*/*") return "text";
  }
  throw new GatewayError(
    "NOT_ACCEPTABLE",
    "Accept must allow text/event-stream, application/x-ndjson or text/plain",
  );
}
