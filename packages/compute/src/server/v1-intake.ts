// How a v1 request or control message enters the server (PROTOCOL.md, "A stream, from request
// to end"): the requester id is the payload's `sourcePeerId` (claimed, not proved: SECURITY.md),
// a refusal goes only to the request's own stream inbox (rejectionInbox), and the result is the
// same internal form v2-intake.ts makes, so the server handles both versions alike.
import {
  type ControlMessage,
  decodeControl,
  decodeRequest,
  rejectionInbox,
} from "@tailwire/protocol";
import { replyRefusal } from "./admission.js";
import { type IncomingMessage, type RequestIntakeV2, refusalOf } from "./v2-intake.js";

/** The same outcomes as a v2 request's (v1 never drops: a foreign subject cannot reach it). */
export type RequestIntake = RequestIntakeV2;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function readRequestV1(msg: IncomingMessage): RequestIntake {
  const reply = msg.reply;
  let request: ReturnType<typeof decodeRequest>;
  try {
    request = decodeRequest(msg.data);
  } catch (error) {
    // Answer only on the stream inbox the request names itself, never on another's.
    return {
      kind: "reject",
      ...refusalOf(error),
      to: rejectionInbox(msg.data, reply),
      ctx: { requesterNodeId: "" },
    };
  }
  const ctx = {
    requesterNodeId: request.sourcePeerId,
    streamId: request.streamId,
    executionId: request.executionId,
  };
  const refusal = reply ? replyRefusal(request, reply) : "request has no reply subject";
  if (refusal !== undefined || !reply) {
    return { kind: "reject", code: "BAD_REQUEST", message: refusal ?? "", to: undefined, ctx };
  }
  return { kind: "admit", request, inbox: reply, ctx };
}

/** A v1 control message and the requester it claims to be from, or why it is refused. */
export function readControlV1(
  msg: IncomingMessage,
): { from: string; control: ControlMessage } | { error: string } {
  try {
    const control = decodeControl(msg.data);
    return { from: control.sourcePeerId, control };
  } catch (error) {
    return { error: messageOf(error) };
  }
}
