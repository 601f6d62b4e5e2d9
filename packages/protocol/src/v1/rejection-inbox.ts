// Where a compute node may answer a request it could not accept: the one rule that keeps a
// rejection from landing on someone else's inbox (PROTOCOL.md, "A stream, from request to end").
import { isNodeId, isStreamId } from "../ids.js";
import { subjects } from "../subjects.js";
import { MAX_MESSAGE_BYTES } from "./codec.js";

/**
 * The reply subject a rejection of this request may be published on, or undefined for none.
 *
 * A request is answered only on the stream inbox it names itself: its payload must be a JSON
 * object (within the request size bound) whose `sourcePeerId` and `streamId` are valid ids, and
 * the reply subject must be exactly `_TW.<sourcePeerId>.s.<streamId>`. Anything else (not JSON,
 * not an object, no usable ids, oversized, a reply elsewhere) gets no reply at all, so a
 * malformed request cannot make a compute node publish on another requester's inbox. The
 * validity of the other fields does not matter here: a request with a valid identity is answered
 * with the reason it was refused.
 */
export function rejectionInbox(
  payload: Uint8Array,
  reply: string | undefined,
): { reply: string; streamId: string } | undefined {
  if (!reply) return undefined;
  const { sourcePeerId, streamId } = requestIds(payload) ?? {};
  if (sourcePeerId === undefined || streamId === undefined) return undefined;
  return reply === subjects.streamInbox(sourcePeerId, streamId) ? { reply, streamId } : undefined;
}

/**
 * The valid `sourcePeerId` and `streamId` of a request payload (within the request size bound,
 * a JSON object), each undefined when missing or invalid; undefined for anything else. Whatever
 * else the payload holds does not matter here.
 */
export function requestIds(
  payload: Uint8Array,
): { sourcePeerId: string | undefined; streamId: string | undefined } | undefined {
  if (payload.byteLength > MAX_MESSAGE_BYTES.request) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { sourcePeerId, streamId } = value as { sourcePeerId?: unknown; streamId?: unknown };
  return {
    sourcePeerId:
      typeof sourcePeerId === "string" && isNodeId(sourcePeerId) ? sourcePeerId : undefined,
    streamId: typeof streamId === "string" && isStreamId(streamId) ? streamId : undefined,
  };
}
