// The v1 message schemas (TypeBox), their static types and the protocol's bounds (LIMITS).
import { type Static, Type } from "@sinclair/typebox";
import {
  EXECUTION_ID_PATTERN,
  JOB_ID_PATTERN,
  NODE_ID_PATTERN,
  STREAM_ID_PATTERN,
} from "../ids.js";
import { TIME_DELTA_PATTERN } from "./time-deltas.js";

/**
 * ExecutionLogs/v1. Field names follow JSON camelCase; the request keeps the fields of the
 * original Bacalhau design (SourcePeerId, TargetPeerId, ExecutionId, Tail, Follow) under those
 * names. Unknown extra fields are allowed and ignored, so a later minor revision can add
 * optional fields without breaking v1 readers (see PROTOCOL.md, compatibility rules).
 */
export const VERSION = "v1";

export const MessageType = {
  Request: "ExecutionLogs.Request/v1",
  Accepted: "ExecutionLogs.Accepted/v1",
  Data: "ExecutionLogs.Data/v1",
  End: "ExecutionLogs.End/v1",
  Error: "ExecutionLogs.Error/v1",
  Control: "ExecutionLogs.Control/v1",
  Heartbeat: "ExecutionLogs.Heartbeat/v1",
  HeartbeatResponse: "ExecutionLogs.HeartbeatResponse/v1",
  Locate: "ExecutionLogs.Locate/v1",
  Located: "ExecutionLogs.Located/v1",
  Notice: "ExecutionLogs.Notice/v1",
} as const;
export type MessageTypeName = (typeof MessageType)[keyof typeof MessageType];

/** Bounds that keep every message small enough for any NATS server and any language. */
export const LIMITS = {
  maxInt: 2_147_483_647,
  /** Sequence numbers and times are integers below 2^53 so every JSON reader keeps them exact. */
  maxSafe: Number.MAX_SAFE_INTEGER,
  minWindowBytes: 1024,
  maxWindowBytes: 1 << 30,
  minHeartbeatIntervalMs: 10,
  maxHeartbeatIntervalMs: 3_600_000,
  maxIdsPerMessage: 20_000,
  maxSubjectLength: 256,
} as const;

const NodeId = Type.String({ pattern: NODE_ID_PATTERN });
const ExecutionId = Type.String({ pattern: EXECUTION_ID_PATTERN });
const StreamId = Type.String({ pattern: STREAM_ID_PATTERN });
const Seq = Type.Integer({ minimum: 0, maximum: LIMITS.maxSafe });
const FrameNumber = Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe });
// A NATS subject without wildcards or white space.
const Subject = Type.String({
  pattern: "^[A-Za-z0-9_\\-/$]+(\\.[A-Za-z0-9_\\-/$]+)*$",
  maxLength: LIMITS.maxSubjectLength,
});

export const LogStreamName = Type.Union([Type.Literal("stdout"), Type.Literal("stderr")], {
  $id: "LogStreamName",
});
export type LogStreamName = Static<typeof LogStreamName>;

export const LogEntry = Type.Object(
  {
    /** Per-execution sequence number, from 1, stable across reads. */
    seq: Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe }),
    stream: LogStreamName,
    /** Capture time, milliseconds since the Unix epoch. */
    time: Type.Integer({ minimum: 0, maximum: LIMITS.maxSafe }),
    /** The line without its trailing newline. */
    line: Type.String(),
  },
  { $id: "LogEntry" },
);
export type LogEntry = Static<typeof LogEntry>;

/**
 * Notice kinds, named in a request (what the requester understands) and echoed in Accepted
 * (what this stream will send). A compute node sends a Notice only of a kind that both listed;
 * unknown names are ignored, so a kind can be added later without a new wire version. v1 has one:
 * "removed" (lines a store's retention removed; see NoticeFrame).
 */
const NoticeList = () =>
  Type.Array(Type.String({ pattern: "^[a-z][a-z0-9_]{0,31}$" }), {
    maxItems: 16,
    uniqueItems: true,
  });
export const NOTICE_KINDS = ["removed"] as const;

/** A codec name (compression); the codecs of v1 are in compression.ts. */
const CODEC_PATTERN = "^[a-z][a-z0-9_-]{0,31}$";
const CodecList = () =>
  Type.Array(Type.String({ pattern: CODEC_PATTERN }), { maxItems: 16, uniqueItems: true });

export const LogRequest = Type.Object(
  {
    type: Type.Literal(MessageType.Request),
    /** The requester node asking (the original design's SourcePeerId). */
    sourcePeerId: NodeId,
    /** The compute node asked (TargetPeerId); must match the node serving the subject. */
    targetPeerId: NodeId,
    executionId: ExecutionId,
    /** Chosen by the requester, unguessable; the frames' inbox ends with it. */
    streamId: StreamId,
    /** The last N lines; 0 = only lines written from now on; absent = the whole history. */
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.maxInt })),
    /** Keep streaming new lines until the execution completes. */
    follow: Type.Boolean(),
    /** Resume: only entries with seq > fromSeq. Takes precedence over tail. */
    fromSeq: Type.Optional(Seq),
    /** Only entries with time >= since (ms since the Unix epoch). */
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.maxSafe })),
    /** Only these streams; absent = both. */
    streams: Type.Optional(
      Type.Array(LogStreamName, { minItems: 1, maxItems: 2, uniqueItems: true }),
    ),
    /** Where the compute node sends heartbeat requests for this stream. */
    heartbeatSubject: Subject,
    /** How often the requester expects a heartbeat while the stream is open. */
    heartbeatIntervalMs: Type.Integer({
      minimum: LIMITS.minHeartbeatIntervalMs,
      maximum: LIMITS.maxHeartbeatIntervalMs,
    }),
    /** How long the compute node waits for a heartbeat response; defaults to its own setting. */
    heartbeatTimeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: LIMITS.maxHeartbeatIntervalMs }),
    ),
    /** Initial flow-control credit: data-frame bytes the compute node may send before more credit. */
    window: Type.Integer({ minimum: LIMITS.minWindowBytes, maximum: LIMITS.maxWindowBytes }),
    /** Optional (retention): the Notice kinds this requester understands. See NoticeList. */
    notices: Type.Optional(NoticeList()),
    /**
     * Optional (compression): the codecs this requester can decompress, most wanted first;
     * unknown names are ignored. Absent or empty: plain frames only. See CompressedFrameHeader.
     */
    compression: Type.Optional(CodecList()),
  },
  { $id: "ExecutionLogs.Request/v1" },
);
export type LogRequest = Static<typeof LogRequest>;

export const AcceptedFrame = Type.Object(
  {
    type: Type.Literal(MessageType.Accepted),
    streamId: StreamId,
    /** Frames are numbered per stream: accepted is 0, then every data frame counts up by one. */
    // An integer like every other `n` in the JSON Schema (a literal would say "number").
    n: Type.Integer({ minimum: 0, maximum: 0 }),
    computeNodeId: NodeId,
    /** The stream carries entries with seq > afterSeq (resume from here if nothing arrived). */
    afterSeq: Seq,
    /** The execution's last sequence number when the stream was accepted (0 = no lines yet). */
    lastSeq: Seq,
    /** The largest data frame this stream will carry, in bytes. */
    maxFrameBytes: Type.Integer({ minimum: 1, maximum: LIMITS.maxInt }),
    /**
     * Optional (retention): the first seq the compute node's store still held when it accepted
     * (lastSeq + 1 when it held none). Lines below it were removed by retention. Informational.
     */
    firstSeq: Type.Optional(Seq),
    /** Optional: the notice kinds of the request that this stream will send (see NoticeFrame). */
    notices: Type.Optional(NoticeList()),
    /**
     * Optional (compression): the codec, one the request offered, that this stream's data
     * frames may be compressed with (ExecutionLogs.Compressed/v1). Absent: plain frames only.
     */
    compression: Type.Optional(Type.String({ pattern: CODEC_PATTERN })),
  },
  { $id: "ExecutionLogs.Accepted/v1" },
);
export type AcceptedFrame = Static<typeof AcceptedFrame>;

/**
 * A batch of entries, column by column: entry i is (seq[i] or firstSeq + i, stream[i], its time
 * from timeBase and timeDelta, line[i]). Columns parse much faster than an array of objects
 * (one object per line was the slowest form measured; BENCHMARKS.md, "stream"). Every column
 * holds one value per entry (checked by the decoder), and seq increases strictly within a frame.
 */
export const DataFrame = Type.Object(
  {
    type: Type.Literal(MessageType.Data),
    streamId: StreamId,
    n: FrameNumber,
    /** Each entry's sequence number, increasing. Absent when the frame has `firstSeq` instead. */
    seq: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe }), { minItems: 1 }),
    ),
    /**
     * The first entry's seq when the frame's sequence numbers are consecutive (entry i has
     * firstSeq + i): the usual case, sent instead of `seq`, so a frame carries no number per line
     * for it. Exactly one of `seq` and `firstSeq`.
     */
    firstSeq: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe })),
    /** One character per entry: "o" = stdout, "e" = stderr. It gives the number of entries. */
    stream: Type.String({ pattern: "^[oe]+$" }),
    /** Where the capture times start (ms since the Unix epoch): the first entry's time. */
    timeBase: Type.Integer({ minimum: 0, maximum: LIMITS.maxSafe }),
    /**
     * Each entry's capture time minus the previous entry's (the first's minus timeBase), in base64
     * VLQ: one character for a delta within ±15 ms. Negative when a clock stepped back. See
     * PROTOCOL.md, "Data frames".
     */
    timeDelta: Type.String({ pattern: TIME_DELTA_PATTERN }),
    /**
     * The lines, when they travel inside the JSON. Usually they do not: the JSON object is
     * followed by a newline and the lines themselves, joined by newlines (see PROTOCOL.md, "Data
     * frames"), which is several times cheaper to write and read. Exactly one of the two forms.
     */
    line: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    /**
     * The last line was too long for one frame and continues in the next frame, whose first
     * entry has the same seq; the requester joins the parts back into one line.
     */
    partial: Type.Optional(Type.Boolean()),
  },
  { $id: "ExecutionLogs.Data/v1" },
);
/** A data frame as it goes on the wire (what `encode` takes): the schema's own shape. */
export type WireDataFrame = Static<typeof DataFrame>;
/**
 * A data frame as `decodeFrame` returns it: whichever form it travelled in, its lines are in
 * `line`; `time` holds its entries' capture times, decoded from timeBase and timeDelta (not a
 * wire field). Read its entries with EntryJoiner (whole lines) or dataFrameEntries (one frame).
 */
export type DecodedDataFrame = Omit<WireDataFrame, "line"> & { line: string[]; time: number[] };
/**
 * @deprecated The decoded data frame under its old name: use DecodedDataFrame (or WireDataFrame
 * for what goes on the wire). Removed in a later release.
 */
export type DataFrame = DecodedDataFrame;

export const EndFrame = Type.Object(
  {
    type: Type.Literal(MessageType.End),
    streamId: StreamId,
    n: FrameNumber,
    /** The last sequence number the stream covered (the consumer has everything up to it). */
    lastSeq: Seq,
    /** The execution's exit code when it has completed; null when unknown. */
    exitCode: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  },
  { $id: "ExecutionLogs.End/v1" },
);
export type EndFrame = Static<typeof EndFrame>;

export const ErrorFrame = Type.Object(
  {
    type: Type.Literal(MessageType.Error),
    streamId: StreamId,
    /** Absent when the stream failed before it was accepted. */
    n: Type.Optional(Seq),
    /** A code from the error table; readers treat codes they do not know as INTERNAL. */
    code: Type.String({ pattern: "^[A-Z][A-Z0-9_]{0,63}$" }),
    message: Type.String({ maxLength: 4096 }),
    retryable: Type.Boolean(),
  },
  { $id: "ExecutionLogs.Error/v1" },
);
export type ErrorFrame = Static<typeof ErrorFrame>;

/**
 * Optional (retention), sent only on a stream whose Accepted listed "removed": the lines
 * fromSeq..toSeq (both included), which this stream covers, were removed by the compute node's
 * log retention and will never be sent. The stream goes on after toSeq: later data frames carry
 * seqs above it. Numbered like every frame; takes no flow-control credit.
 */
export const NoticeFrame = Type.Object(
  {
    type: Type.Literal(MessageType.Notice),
    streamId: StreamId,
    n: FrameNumber,
    notice: Type.Literal("removed"),
    /** Why: "retention" in v1; a reader treats any other value as "removed" too. */
    reason: Type.String({ pattern: "^[a-z][a-z0-9_]{0,31}$" }),
    fromSeq: Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe }),
    toSeq: Type.Integer({ minimum: 1, maximum: LIMITS.maxSafe }),
  },
  { $id: "ExecutionLogs.Notice/v1" },
);
export type NoticeFrame = Static<typeof NoticeFrame>;

export const StreamFrame = Type.Union(
  [AcceptedFrame, DataFrame, EndFrame, ErrorFrame, NoticeFrame],
  { $id: "ExecutionLogs.StreamFrame/v1" },
);
/** A frame as `decodeFrame` returns it (a data frame decoded, see DecodedDataFrame). */
export type StreamFrame = AcceptedFrame | DecodedDataFrame | EndFrame | ErrorFrame | NoticeFrame;

export const CreditGrant = Type.Object(
  {
    streamId: StreamId,
    bytes: Type.Integer({ minimum: 1, maximum: LIMITS.maxWindowBytes }),
  },
  { $id: "CreditGrant" },
);
export type CreditGrant = Static<typeof CreditGrant>;

export const ControlMessage = Type.Object(
  {
    type: Type.Literal(MessageType.Control),
    /** Honoured only for streams this requester opened. */
    sourcePeerId: NodeId,
    /** Streams to stop at once. */
    cancel: Type.Optional(Type.Array(StreamId, { maxItems: LIMITS.maxIdsPerMessage })),
    /** More flow-control credit, in data-frame bytes. */
    credit: Type.Optional(Type.Array(CreditGrant, { maxItems: LIMITS.maxIdsPerMessage })),
  },
  { $id: "ExecutionLogs.Control/v1" },
);
export type ControlMessage = Static<typeof ControlMessage>;

export const HeartbeatRequest = Type.Object(
  {
    type: Type.Literal(MessageType.Heartbeat),
    computeNodeId: NodeId,
    /** Every stream the compute node serves for this requester. */
    streamIds: Type.Array(StreamId, { maxItems: LIMITS.maxIdsPerMessage }),
    /**
     * Optional (v1 addition): those of `streamIds` that have lines ready but wait for credit,
     * so a stalled stream can be told from one with no new lines. Absent = none waits.
     */
    creditWait: Type.Optional(Type.Array(StreamId, { maxItems: LIMITS.maxIdsPerMessage })),
  },
  { $id: "ExecutionLogs.Heartbeat/v1" },
);
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;

export const HeartbeatResponse = Type.Object(
  {
    type: Type.Literal(MessageType.HeartbeatResponse),
    requesterNodeId: NodeId,
    /** Streams of the request that the requester no longer wants or does not know. */
    unknownStreamIds: Type.Array(StreamId, { maxItems: LIMITS.maxIdsPerMessage }),
  },
  { $id: "ExecutionLogs.HeartbeatResponse/v1" },
);
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

/** At most this many executions in one Located answer (one compute node's share of a job). */
export const MAX_LOCATED_EXECUTIONS = 1000;
const JobId = Type.String({ pattern: JOB_ID_PATTERN });

/**
 * Optional (v1 addition): which compute node holds an execution, or a job's executions.
 * Published on `node.locate.ExecutionLocate/v1.e.<key>` (or `.j.<key>`), reply subject
 * `_TW.<sourcePeerId>.l.<lookupId>`. Exactly one of executionId and jobId.
 */
export const LocateRequest = Type.Object(
  {
    type: Type.Literal(MessageType.Locate),
    sourcePeerId: NodeId,
    executionId: Type.Optional(ExecutionId),
    jobId: Type.Optional(JobId),
  },
  { $id: "ExecutionLogs.Locate/v1" },
);
export type LocateRequest = Static<typeof LocateRequest>;

export const LocatedExecution = Type.Object(
  {
    executionId: ExecutionId,
    jobId: Type.Optional(JobId),
    /** The execution's last sequence number when the answer was made (0 = no lines yet). */
    lastSeq: Seq,
    /** Whether the execution has completed (its log is final). */
    completed: Type.Boolean(),
  },
  { $id: "LocatedExecution" },
);
export type LocatedExecution = Static<typeof LocatedExecution>;

/** One compute node's answer to a Locate: what it holds of what was asked. */
export const LocateAnswer = Type.Object(
  {
    type: Type.Literal(MessageType.Located),
    computeNodeId: NodeId,
    executions: Type.Array(LocatedExecution, { maxItems: MAX_LOCATED_EXECUTIONS }),
  },
  { $id: "ExecutionLogs.Located/v1" },
);
export type LocateAnswer = Static<typeof LocateAnswer>;

export const schemasV1 = {
  LogEntry,
  LogRequest,
  AcceptedFrame,
  DataFrame,
  EndFrame,
  ErrorFrame,
  StreamFrame,
  ControlMessage,
  HeartbeatRequest,
  HeartbeatResponse,
  LocateRequest,
  LocatedExecution,
  LocateAnswer,
  NoticeFrame,
} as const;

/** A message as it goes on the wire (what `encode` takes). */
export type MessageV1 =
  | LogRequest
  | AcceptedFrame
  | WireDataFrame
  | EndFrame
  | ErrorFrame
  | ControlMessage
  | HeartbeatRequest
  | HeartbeatResponse
  | LocateRequest
  | LocateAnswer
  | NoticeFrame;

/** A message as `decodeMessage` returns it: a data frame comes decoded. */
export type DecodedMessageV1 = Exclude<MessageV1, WireDataFrame> | DecodedDataFrame;
