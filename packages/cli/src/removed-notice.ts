/**
 * How `tailwire logs` shows lines the compute node's retention removed: a line on stderr for a
 * person (never mixed into the job's own stdout), a JSON object in `--json` output, in order with
 * the entries: `{"notice":"removed","reason":"retention","fromSeq":1,"toSeq":41000}`.
 */
import type { RemovedNotice } from "@tailwire/requester";
import type { Palette } from "./output.js";

export function removedNoticeJson(notice: RemovedNotice): string {
  return `${JSON.stringify({
    notice: "removed",
    reason: notice.reason,
    fromSeq: notice.fromSeq,
    toSeq: notice.toSeq,
  })}\n`;
}

export function removedNoticeText(notice: RemovedNotice, colors: Palette): string {
  const count = notice.toSeq - notice.fromSeq + 1;
  const lines =
    count === 1
      ? `line ${notice.fromSeq} was`
      : `lines ${notice.fromSeq}..${notice.toSeq} (${count}) were`;
  return `${colors.yellow(`tailwire: ${lines} removed by the compute node's log ${notice.reason}`)}\n`;
}
