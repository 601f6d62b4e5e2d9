// How a v2 request or control message enters the server (PROTOCOL.md, "ExecutionLogs/v2"): the
// requester id is the subject's last token (which the v2 permission table binds to the sender's
// login), never the payload's, and the stream inbox and heartbeat subject are derived from it.
// The result is the server's one internal form of a request, so admission, serving and ending
// are the same for both versions; only the stream's wire dialect differs.
import {
  type ControlMessageV2,
  decodeControlV2,
  decodeRequestV2,
  type ErrorCode,
  isErrorCode,
  type LogRequest,
  MessageType,
  rejectionInboxV2,
  requesterOfSubjectV2,
  subjectsV2,
  TailwireError,
} from "@tailwire/protocol";

/** The part of a NATS message intake reads. */
export interface IncomingMessage {
  subject: string;
  reply?: string | undefined;
  data: Uint8Array;
}

/** What a rejection is logged with. */
export type RequestContext = Record<string, unknown> & { requesterNodeId: string };

export type RequestIntakeV2 =
  /** Not a subject of this node's (cannot happen under its own subscription): nothing at all. */
  | { kind: "drop"; reason: string }
  /** Refused: an Error frame goes to `to` when the request named its derived inbox, else none. */
  | {
      kind: "reject";
      code: ErrorCode;
      message: string;
      to: { reply: string; streamId: string } | undefined;
      ctx: RequestContext;
    }
  | { kind: "admit"; request: LogRequest; inbox: string; ctx: RequestContext };

/** A request that did not decode: its code (BAD_REQUEST unless the codec said) and message. */
export function refusalOf(error: unknown): { code: ErrorCode; message: string } {
  return {
    code: error instanceof TailwireError && isErrorCode(error.code) ? error.code : "BAD_REQUEST",
    message: error instanceof Error ? error.message : String(error),
  };
}

export function readRequestV2(msg: IncomingMessage, computeNodeId: string): RequestIntakeV2 {
  const requesterNodeId = requesterOfSubjectV2(msg.subject, computeNodeId, "request");
  if (requesterNodeId === undefined) return { kind: "drop", reason: `subject ${msg.subject}` };
  let decoded: ReturnType<typeof decodeRequestV2>;
  try {
    decoded = decodeRequestV2(msg.data);
  } catch (error) {
    return {
      kind: "reject",
      ...refusalOf(error),
      to: rejectionInboxV2(msg.data, msg.reply, requesterNodeId, computeNodeId),
      ctx: { requesterNodeId },
    };
  }
  const { type: _v2, ...read } = decoded;
  const ctx = { requesterNodeId, streamId: read.streamId, executionId: read.executionId };
  const inbox = subjectsV2.streamInbox(requesterNodeId, computeNodeId, read.streamId);
  if (msg.reply !== inbox) {
    return {
      kind: "reject",
      code: "BAD_REQUEST",
      message: `reply subject ${msg.reply ?? "(none)"} is not the stream inbox ${inbox}`,
      to: undefined,
      ctx,
    };
  }
  return {
    kind: "admit",
    // The server's internal form: the identities are the subject's, removal notices always on.
    request: {
      type: MessageType.Request,
      sourcePeerId: requesterNodeId,
      targetPeerId: computeNodeId,
      heartbeatSubject: subjectsV2.heartbeat(requesterNodeId, computeNodeId),
      notices: ["removed"],
      ...read,
    },
    inbox,
    ctx,
  };
}

/** A v2 control message and the requester it is from (its subject's), or why it is refused. */
export function readControlV2(
  msg: IncomingMessage,
  computeNodeId: string,
): { from: string; control: ControlMessageV2 } | { error: string } {
  const from = requesterOfSubjectV2(msg.subject, computeNodeId, "control");
  if (from === undefined) return { error: `subject ${msg.subject} is not a v2 control subject` };
  try {
    return { from, control: decodeControlV2(msg.data) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
