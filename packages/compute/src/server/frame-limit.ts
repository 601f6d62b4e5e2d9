/**
 * The largest data frame a stream may carry: the rule that keeps flow control free of deadlock.
 *
 * PROTOCOL.md ("Flow control") lets a requester keep up to half its window consumed but not yet
 * granted back. Once its consumer has taken everything, the credit left is then more than half
 * the window, so any frame of at most half the window fits and the stream cannot stall. A frame
 * as large as the whole window (what this node once sent) could wait forever for a grant that a
 * requester following the spec never has to send.
 */
export function maxFrameBytesFor(
  window: number,
  configuredMaxFrameBytes: number,
  serverMaxPayload: number,
): number {
  return Math.min(configuredMaxFrameBytes, Math.floor(window / 2), serverMaxPayload);
}
