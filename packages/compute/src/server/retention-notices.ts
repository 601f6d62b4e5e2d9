/**
 * How a served stream tells its requester about lines that retention removed: the v1 optional
 * Notice frame for requesters that asked for "removed" notices, and for older requesters
 * (which would read a silent gap) the old Accepted `afterSeq` at open and a SEQUENCE_GAP error
 * for a gap in the middle of the stream.
 */
import { type LogRequest, SequenceGapError } from "@tailwire/protocol";
import type { LogReader, RemovedLines } from "../log-source.js";

/** True when the requester said it understands removal notices. */
export const wantsRemovedNotices = (request: LogRequest): boolean =>
  request.notices?.includes("removed") === true;

/** The retention fields of the Accepted frame, and the afterSeq it states. */
export function acceptedRetentionFields(
  request: LogRequest,
  reader: LogReader,
): { afterSeq: number; firstSeq?: number; notices?: string[] } {
  const firstSeq = reader.firstSeqAtOpen;
  if (wantsRemovedNotices(request)) {
    const fields: { afterSeq: number; firstSeq?: number; notices?: string[] } = {
      afterSeq: reader.afterSeq,
      notices: ["removed"],
    };
    if (firstSeq !== undefined) fields.firstSeq = firstSeq;
    return fields;
  }
  // An older requester is told where the stream really starts, as before there were notices.
  const afterSeq =
    firstSeq === undefined ? reader.afterSeq : Math.max(reader.afterSeq, firstSeq - 1);
  return firstSeq === undefined ? { afterSeq } : { afterSeq, firstSeq };
}

/**
 * What an older requester's stream does with a notice: nothing for one covered by its Accepted
 * `afterSeq`; otherwise the stream must fail, explicitly, rather than skip lines in silence.
 */
export function noticeForOldRequester(notice: RemovedLines, acceptedAfterSeq: number): void {
  if (notice.toSeq <= acceptedAfterSeq) return;
  throw new SequenceGapError(
    `lines ${notice.fromSeq}..${notice.toSeq} were removed by retention before this stream read them`,
    { retryable: false },
  );
}
