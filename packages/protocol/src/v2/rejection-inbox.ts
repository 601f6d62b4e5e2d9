// Where a compute node may answer a v2 request it could not accept: only the stream inbox it
// derives itself from the subject's requester, its own id and the payload's stream id
// (PROTOCOL.md, "ExecutionLogs/v2"), and only when the request named exactly that inbox.
import { requestIds } from "../v1/rejection-inbox.js";
import { subjectsV2 } from "./subjects.js";

export function rejectionInboxV2(
  payload: Uint8Array,
  reply: string | undefined,
  requesterNodeId: string,
  computeNodeId: string,
): { reply: string; streamId: string } | undefined {
  const streamId = requestIds(payload)?.streamId;
  if (!reply || streamId === undefined) return undefined;
  const inbox = subjectsV2.streamInbox(requesterNodeId, computeNodeId, streamId);
  return reply === inbox ? { reply, streamId } : undefined;
}
