// Parses and checks the query of GET /v1/jobs/{jobId}/logs: the execution route's filters (no
// `node`: a job's executions are located; no `fromSeq`: a job resumes by its cursor), plus
// `maxStreams` and, for text, `prefix`.
import { isJobId } from "@tailwire/protocol";
import { JobCursor } from "./job-cursor.js";
import {
  bad,
  boolean,
  checkNames,
  integer,
  type LogFilters,
  parseFilters,
  single,
} from "./query.js";

export interface JobLogQuery extends LogFilters {
  jobId: string;
  /** Where a reconnect goes on (Last-Event-ID), or undefined for a fresh stream. */
  cursor: JobCursor | undefined;
  maxStreams: number;
  /** text/plain lines start with `[computeNodeId/executionId] `. */
  prefix: boolean;
}

/** Executions a job request may stream at once: the requester's default, and the ceiling. */
export const JOB_MAX_STREAMS = { default: 10, max: 32 } as const;

const KNOWN = new Set(["tail", "follow", "since", "stream", "format", "maxStreams", "prefix"]);

export function parseJobLogQuery(
  jobId: string,
  query: Record<string, unknown>,
  lastEventId: string | string[] | undefined,
): JobLogQuery {
  if (!isJobId(jobId)) throw bad("jobId must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$");
  for (const name of ["node", "fromSeq"]) {
    if (name in query) {
      throw bad(
        `${name} does not apply to a job: its executions are located, and it resumes by Last-Event-ID`,
      );
    }
  }
  checkNames(query, KNOWN);
  if (Array.isArray(lastEventId)) throw bad("Last-Event-ID may be given once");
  const maxStreams = single(query, "maxStreams");
  const prefix = single(query, "prefix");
  const streamsAtOnce =
    maxStreams === undefined
      ? JOB_MAX_STREAMS.default
      : integer("maxStreams", maxStreams, JOB_MAX_STREAMS.max);
  if (streamsAtOnce < 1) {
    throw bad(`maxStreams must be an integer from 1 to ${JOB_MAX_STREAMS.max}`);
  }
  return {
    jobId,
    ...parseFilters(query),
    cursor: lastEventId === undefined ? undefined : JobCursor.parse(lastEventId),
    maxStreams: streamsAtOnce,
    prefix: prefix === undefined ? false : boolean("prefix", prefix),
  };
}
