import { CreditMeter } from "./credit-meter.js";
import { FrameReader } from "./frame-reader.js";

/**
 * The wire side of one request: its stream id, frame order, partial line, credit and accept
 * timer. A stream owns one attempt at a time; resuming after a gap or a lost node means a new
 * attempt (new stream id, fromSeq = the last delivered seq) under the same consumer-facing stream.
 */
export class Attempt {
  readonly streamId: string;
  readonly reader: FrameReader;
  readonly credit: CreditMeter;
  /** Monotonic time of acceptance; undefined while the request is pending. */
  acceptedAt: number | undefined;
  acceptTimer: NodeJS.Timeout | undefined;
  /** Data-frame bytes received and credit granted so far: received may never pass window + granted. */
  receivedBytes = 0;
  grantedBytes = 0;

  constructor(streamId: string, computeNodeId: string, windowBytes: number) {
    this.streamId = streamId;
    this.reader = new FrameReader(streamId, computeNodeId);
    this.credit = new CreditMeter(windowBytes);
  }

  clearAcceptTimer(): void {
    if (this.acceptTimer !== undefined) {
      clearTimeout(this.acceptTimer);
      this.acceptTimer = undefined;
    }
  }
}
