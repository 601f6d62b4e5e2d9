// When to grant an attempt's consumed bytes back as credit (batched); used only by Attempt.
import { LIMITS } from "@tailwire/protocol";

/**
 * Counts the data-frame bytes a stream's consumer has taken and says when to grant them back as
 * credit. Grants are batched (half a window at a time) so a fast consumer costs one control
 * message per half window, not one per frame.
 */
export class CreditMeter {
  readonly #windowBytes: number;
  #threshold: number;
  #pending = 0;

  constructor(windowBytes: number) {
    this.#windowBytes = windowBytes;
    this.#threshold = Math.max(1, Math.floor(windowBytes / 2));
  }

  /**
   * Grants early enough for frames of this size: once everything received was consumed, the
   * credit left is the window minus what is not yet granted, so that must stay at least one
   * frame. A compute node following PROTOCOL.md keeps frames to half the window, which changes
   * nothing here; one that sends larger frames still cannot stall the stream.
   */
  fitFrames(maxFrameBytes: number): void {
    this.#threshold = Math.max(1, Math.min(this.#threshold, this.#windowBytes - maxFrameBytes + 1));
  }

  /** Records consumed bytes; returns the bytes to grant now, or 0 to keep batching. */
  consumed(bytes: number): number {
    this.#pending += bytes;
    if (this.#pending < this.#threshold) return 0;
    // One grant may not exceed the protocol's bound; the rest waits for the next grant.
    const grant = Math.min(this.#pending, LIMITS.maxWindowBytes);
    this.#pending -= grant;
    return grant;
  }

  get pending(): number {
    return this.#pending;
  }
}
