// Builds the conformance transcripts (conformance/v1/*.json) from our encoders, so that the
// committed files are exactly what the codec writes: transcripts.test.ts compares them and
// rewrites them when UPDATE_TRANSCRIPTS=1.
import { ERROR_CODES, type ErrorCode } from "../../errors.js";
import { subjects } from "../../subjects.js";
import { encode, encodeDataFrame } from "../codec.js";
import { type LogEntry, type LogRequest, MessageType, type MessageV1 } from "../schemas.js";

export type Direction = "requester→compute" | "compute→requester";

export interface Step {
  from: Direction;
  /** The NATS subject, with the transcript's variables in braces. */
  subject: string;
  /** The reply subject the message is published with, if any. */
  reply?: string;
  /** The exact payload (UTF-8 text; bytes are this text's UTF-8). Absent for `expect: "nothing"`. */
  payload?: string;
  /** The payload's byte length (what counts against credit for a data frame). */
  bytes?: number;
  /** `nothing`: no message at all may arrive on `subject` within `withinMs`. */
  expect?: "nothing";
  withinMs?: number;
  /** Fields whose value an implementation may choose differently; "framing": how entries are cut into frames. */
  vary?: string[];
  /** Credit state after this step: data bytes sent and credit granted so far, and the window. */
  credit?: { window: number; sent: number; granted: number };
  /** The PROTOCOL.md section the step illustrates. */
  section: string;
  note?: string;
}

export interface Exchange {
  title: string;
  steps: Step[];
}

export interface Transcript {
  name: string;
  title: string;
  description: string;
  variables: Record<string, string>;
  exchanges: Exchange[];
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

export const VARS = {
  computeNodeId: "node-3",
  requesterNodeId: "requester-0",
  streamId: "b3JhbmdlLXN0cmVhbS1pZA",
  streamId2: "Zm9sbG93LXN0cmVhbS1pZDI",
  inbox: "_INBOX.hb-reply-1",
};
const V = (name: keyof typeof VARS) => `{${name}}`;
export const SUBJECT = {
  request: `node.compute.${V("computeNodeId")}.ExecutionLogs/v1`,
  control: `node.compute.${V("computeNodeId")}.ExecutionLogsControl/v1`,
  inbox: (stream: "streamId" | "streamId2" = "streamId") =>
    `_TW.${V("requesterNodeId")}.s.${V(stream)}`,
  heartbeat: `_TW.${V("requesterNodeId")}.hb`,
};

// The subjects with the example values, checked against subjects.ts so they cannot drift.
export const concreteSubject = (subject: string): string =>
  subject.replace(/\{(\w+)\}/g, (_m, name: string) => VARS[name as keyof typeof VARS]);
if (concreteSubject(SUBJECT.request) !== subjects.request(VARS.computeNodeId))
  throw new Error("subject drift");

/** A request with the example ids. */
export function request(
  fields: Partial<LogRequest> & { executionId: string },
  streamId = VARS.streamId,
): LogRequest {
  // executionId is placed where a requester writes it; the other fields override the defaults.
  const { executionId, ...rest } = fields;
  return {
    type: MessageType.Request,
    sourcePeerId: VARS.requesterNodeId,
    targetPeerId: VARS.computeNodeId,
    executionId,
    streamId,
    follow: false,
    heartbeatSubject: subjects.heartbeat(VARS.requesterNodeId),
    heartbeatIntervalMs: 5000,
    window: 65536,
    ...rest,
  } as LogRequest;
}

export const message = (m: MessageV1): string => text(encode(m));

export const accepted = (
  afterSeq: number,
  lastSeq: number,
  maxFrameBytes: number,
  streamId = VARS.streamId,
  /** The first seq the node still holds (optional, retention): 1 when nothing was removed. */
  firstSeq = 1,
): string =>
  message({
    type: MessageType.Accepted,
    streamId,
    n: 0,
    computeNodeId: VARS.computeNodeId,
    afterSeq,
    lastSeq,
    maxFrameBytes,
    firstSeq,
  });

export const dataFrame = (
  n: number,
  entries: LogEntry[],
  partial = false,
  streamId = VARS.streamId,
): Uint8Array => encodeDataFrame(streamId, n, entries, partial);

export const end = (
  n: number,
  lastSeq: number,
  exitCode: number | null,
  streamId = VARS.streamId,
): string => message({ type: MessageType.End, streamId, n, lastSeq, exitCode });

export const rejection = (code: ErrorCode, text: string, streamId = VARS.streamId): string =>
  message({
    type: MessageType.Error,
    streamId,
    code,
    message: text,
    retryable: ERROR_CODES[code].retryable,
  });

export const control = (fields: {
  cancel?: string[];
  credit?: { streamId: string; bytes: number }[];
}): string => message({ type: MessageType.Control, sourcePeerId: VARS.requesterNodeId, ...fields });

export const send = (
  from: Direction,
  subject: string,
  payload: string | Uint8Array,
  section: string,
  extra: Partial<Step> = {},
): Step => {
  const body = typeof payload === "string" ? payload : text(payload);
  return {
    from,
    subject,
    ...(extra.reply ? { reply: extra.reply } : {}),
    payload: body,
    bytes: Buffer.byteLength(body),
    section,
    ...withoutReply(extra),
  };
};

const withoutReply = ({ reply: _reply, ...rest }: Partial<Step>): Partial<Step> => rest;

export const nothing = (subject: string, section: string, note: string, withinMs = 400): Step => ({
  from: "compute→requester",
  subject,
  expect: "nothing",
  withinMs,
  section,
  note,
});
