import { CreditMeter } from "./credit-meter.js";
import { FrameReader } from "./frame-reader.js";

/**
 * The wire side of one request: its stream id, frame order, partial line, credit and accept
 * timer. A stream owns one attempt at a time; resuming after a gap or a lost stream means a new
 * attempt (new stream id, fromSeq = the last seq received) under the same consumer-facing stream.
 */
export class Attempt {
  readonly streamId: string;
  readonly reader: FrameReader;
  readonly credit: CreditMeter;
  /** The request's window: initial credit in data-frame bytes. */
  readonly window: number;
  /** For a resumed attempt: the fromSeq asked, which the Accepted frame's afterSeq must equal. */
  readonly resumeFrom: number | undefined;
  /** Monotonic time of acceptance; undefined while the request is pending. */
  acceptedAt: number | undefined;
  acceptTimer: NodeJS.Timeout | undefined;
  /** Data-frame bytes received and credit granted so far: received may never pass window + granted. */
  receivedBytes = 0;
  grantedBytes = 0;
  /** The largest data frame the compute node said it sends (Accepted); 0 until accepted. */
  maxFrameBytes = 0;
  /** No longer routed (the stream ended or moved on to another attempt): grants nothing more. */
  detached = false;

  constructor(
    streamId: string,
    computeNodeId: string,
    window: number,
    creditBatchWindow: number,
    resumeFrom?: number,
  ) {
    this.streamId = streamId;
    this.window = window;
    this.resumeFrom = resumeFrom;
    this.reader = new FrameReader(streamId, computeNodeId);
    this.credit = new CreditMeter(creditBatchWindow);
  }

  clearAcceptTimer(): void {
    if (this.acceptTimer !== undefined) {
      clearTimeout(this.acceptTimer);
      this.acceptTimer = undefined;
    }
  }
}
