/**
 * ExecutionLogs/v2: v1's messages with every identity moved out of the payload into the subject
 * (PROTOCOL.md, "ExecutionLogs/v2"), where per-user NATS permissions check it. What v2 drops
 * from v1, and why:
 *
 * - `sourcePeerId` (Request, Control, Locate): the requester id is the last token of the
 *   subject it publishes on, which its NATS user may only publish under its own id;
 * - `targetPeerId` (Request) and `computeNodeId` (Accepted, Heartbeat, Located): the compute id
 *   is in the subject both ways (`node.compute.<id>.` in, `_TW.<requester>.v2.<id>.` out);
 * - `heartbeatSubject` (Request) and `requesterNodeId` (HeartbeatResponse): derived, so a
 *   compute node has nothing to check and nothing to get wrong;
 * - `compression` (Request, Accepted): not yet; v1's optional compressed frames have no v2 kind.
 * - `notices` (Request, Accepted): removal notices are always on in v2 (every v2 reader speaks
 *   Notice), so `Accepted.firstSeq` is required and an old requester's SEQUENCE_GAP fallback is
 *   gone.
 *
 * Every other field keeps its v1 schema (Type.Omit of the v1 definitions: the two cannot drift).
 * Unknown extra fields are allowed and ignored, as in v1: optional additions (compression
 * negotiation, which v1 is gaining as an optional addition, carries over as the same optional
 * fields of Request and Accepted) need no new version.
 */
import { type Static, Type } from "@sinclair/typebox";
import { STREAM_ID_PATTERN } from "../ids.js";
import {
  AcceptedFrame as AcceptedV1,
  ControlMessage as ControlV1,
  DataFrame as DataV1,
  EndFrame as EndV1,
  ErrorFrame as ErrorV1,
  HeartbeatResponse as HeartbeatResponseV1,
  HeartbeatRequest as HeartbeatV1,
  LocateAnswer as LocatedV1,
  LocateRequest as LocateV1,
  LogEntry,
  LogStreamName,
  NoticeFrame as NoticeV1,
  LogRequest as RequestV1,
} from "../v1/schemas.js";

export const VERSION_V2 = "v2";

export const MessageTypeV2 = {
  Request: "ExecutionLogs.Request/v2",
  Accepted: "ExecutionLogs.Accepted/v2",
  Data: "ExecutionLogs.Data/v2",
  End: "ExecutionLogs.End/v2",
  Error: "ExecutionLogs.Error/v2",
  Notice: "ExecutionLogs.Notice/v2",
  Control: "ExecutionLogs.Control/v2",
  Heartbeat: "ExecutionLogs.Heartbeat/v2",
  HeartbeatResponse: "ExecutionLogs.HeartbeatResponse/v2",
  Locate: "ExecutionLogs.Locate/v2",
  Located: "ExecutionLogs.Located/v2",
} as const;
export type MessageTypeNameV2 = (typeof MessageTypeV2)[keyof typeof MessageTypeV2];

export const LogRequestV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Request),
    ...Type.Omit(RequestV1, [
      "type",
      "sourcePeerId",
      "targetPeerId",
      "heartbeatSubject",
      "notices",
      // Not in v2 yet: v1's compressed frames (ExecutionLogs.Compressed/v1) have no v2 kind.
      "compression",
    ]).properties,
  },
  { $id: MessageTypeV2.Request },
);
export type LogRequestV2 = Static<typeof LogRequestV2>;

export const AcceptedFrameV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Accepted),
    ...Type.Omit(AcceptedV1, ["type", "computeNodeId", "firstSeq", "notices", "compression"])
      .properties,
    /** Required in v2: the first seq the store still held (lastSeq + 1 when it held none). */
    firstSeq: AcceptedV1.properties.afterSeq,
  },
  { $id: MessageTypeV2.Accepted },
);
export type AcceptedFrameV2 = Static<typeof AcceptedFrameV2>;

/** Same columns as v1's data frame (see DataFrame in ../v1/schemas.ts). */
export const DataFrameV2 = Type.Object(
  { type: Type.Literal(MessageTypeV2.Data), ...Type.Omit(DataV1, ["type"]).properties },
  { $id: MessageTypeV2.Data },
);
/** A decoded v2 data frame: its lines in `line`, its decoded times in `time` (as v1's). */
export type DataFrameV2 = Omit<Static<typeof DataFrameV2>, "line"> & {
  line: string[];
  time: number[];
};

export const EndFrameV2 = Type.Object(
  { type: Type.Literal(MessageTypeV2.End), ...Type.Omit(EndV1, ["type"]).properties },
  { $id: MessageTypeV2.End },
);
export type EndFrameV2 = Static<typeof EndFrameV2>;

export const ErrorFrameV2 = Type.Object(
  { type: Type.Literal(MessageTypeV2.Error), ...Type.Omit(ErrorV1, ["type"]).properties },
  { $id: MessageTypeV2.Error },
);
export type ErrorFrameV2 = Static<typeof ErrorFrameV2>;

export const NoticeFrameV2 = Type.Object(
  { type: Type.Literal(MessageTypeV2.Notice), ...Type.Omit(NoticeV1, ["type"]).properties },
  { $id: MessageTypeV2.Notice },
);
export type NoticeFrameV2 = Static<typeof NoticeFrameV2>;

export const StreamFrameV2 = Type.Union(
  [AcceptedFrameV2, DataFrameV2, EndFrameV2, ErrorFrameV2, NoticeFrameV2],
  { $id: "ExecutionLogs.StreamFrame/v2" },
);
export type StreamFrameV2 =
  | AcceptedFrameV2
  | DataFrameV2
  | EndFrameV2
  | ErrorFrameV2
  | NoticeFrameV2;

/** Cancel and credit; honoured only for streams the requester of the subject opened. */
export const ControlMessageV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Control),
    ...Type.Omit(ControlV1, ["type", "sourcePeerId"]).properties,
  },
  { $id: MessageTypeV2.Control },
);
export type ControlMessageV2 = Static<typeof ControlMessageV2>;

export const HeartbeatRequestV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Heartbeat),
    ...Type.Omit(HeartbeatV1, ["type", "computeNodeId"]).properties,
  },
  { $id: MessageTypeV2.Heartbeat },
);
export type HeartbeatRequestV2 = Static<typeof HeartbeatRequestV2>;

export const HeartbeatResponseV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.HeartbeatResponse),
    unknownStreamIds: HeartbeatResponseV1.properties.unknownStreamIds,
  },
  { $id: MessageTypeV2.HeartbeatResponse },
);
export type HeartbeatResponseV2 = Static<typeof HeartbeatResponseV2>;

/**
 * Which compute node holds an execution (or a job's executions). `lookupId` names where the
 * answers go (`_TW.<requester>.v2.<compute>.l.<lookupId>`); exactly one of executionId, jobId.
 */
export const LocateRequestV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Locate),
    lookupId: Type.String({ pattern: STREAM_ID_PATTERN }),
    executionId: LocateV1.properties.executionId,
    jobId: LocateV1.properties.jobId,
  },
  { $id: MessageTypeV2.Locate },
);
export type LocateRequestV2 = Static<typeof LocateRequestV2>;

/** One compute node's answer; which node it is, is the subject's (its login's) business. */
export const LocateAnswerV2 = Type.Object(
  {
    type: Type.Literal(MessageTypeV2.Located),
    executions: LocatedV1.properties.executions,
  },
  { $id: MessageTypeV2.Located },
);
export type LocateAnswerV2 = Static<typeof LocateAnswerV2>;

export const schemasV2 = {
  LogEntry,
  LogStreamName,
  LogRequestV2,
  AcceptedFrameV2,
  DataFrameV2,
  EndFrameV2,
  ErrorFrameV2,
  NoticeFrameV2,
  StreamFrameV2,
  ControlMessageV2,
  HeartbeatRequestV2,
  HeartbeatResponseV2,
  LocateRequestV2,
  LocateAnswerV2,
} as const;

export type MessageV2 =
  | LogRequestV2
  | AcceptedFrameV2
  | DataFrameV2
  | EndFrameV2
  | ErrorFrameV2
  | NoticeFrameV2
  | ControlMessageV2
  | HeartbeatRequestV2
  | HeartbeatResponseV2
  | LocateRequestV2
  | LocateAnswerV2;
