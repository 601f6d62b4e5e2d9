// One attempt's credit: the released bytes a CreditMeter batches (the protocol's rule), plus
// extra credit that makes the window follow the path, as WindowEstimator measures it, up to the
// requester's memory cap (PROTOCOL.md "Flow control", the adaptive window).
import { LIMITS } from "@tailwire/protocol";
import { monotonicNow } from "./clock.js";
import { CreditMeter } from "./credit-meter.js";
import { WindowEstimator } from "./window-estimator.js";

export class AdaptiveCredit {
  readonly #meter: CreditMeter;
  readonly #estimator: WindowEstimator;
  readonly #baseWindow: number;
  readonly #capBytes: number;
  readonly #now: () => number;
  /** Credit granted beyond the bytes released: what the window grew by. Never negative. */
  #extra = 0;

  /**
   * `requestWindow`: the request's window; `baseWindow`: the window grants are batched for and
   * the least the window is ever kept at; `capBytes`: the memory cap the window grows up to.
   */
  constructor(requestWindow: number, baseWindow: number, capBytes: number, now = monotonicNow) {
    this.#meter = new CreditMeter(baseWindow);
    this.#baseWindow = baseWindow;
    this.#capBytes = capBytes;
    this.#estimator = new WindowEstimator(requestWindow, baseWindow, capBytes);
    this.#now = now;
  }

  /** See CreditMeter.fitFrames. */
  fitFrames(maxFrameBytes: number): void {
    this.#meter.fitFrames(maxFrameBytes);
  }

  /**
   * Each credit byte may become up to `expansion` bytes in memory (16 on a compressed stream):
   * the window grows only to the cap over that, so memory stays within the cap.
   */
  setExpansion(expansion: number): void {
    this.#estimator.setCap(Math.floor(this.#capBytes / expansion));
  }

  /** A data frame taking `bytes` of credit arrived. */
  received(bytes: number): void {
    this.#estimator.received(bytes, this.#now());
  }

  /**
   * Records bytes the consumer took; returns the credit to grant now (0: keep batching). When
   * the released bytes are due (CreditMeter's rule) the grant adds what the window should grow
   * by, or holds back what it should shrink by, never below the base window.
   */
  consumed(bytes: number): number {
    const released = this.#meter.consumed(bytes);
    if (released === 0) return 0;
    const targetExtra = Math.max(0, this.#estimator.window - this.#baseWindow);
    const grant = Math.min(
      LIMITS.maxWindowBytes,
      Math.max(0, released + targetExtra - this.#extra),
    );
    this.#extra += grant - released;
    if (grant > 0) this.#estimator.granted(grant, this.#now());
    return grant;
  }

  get pending(): number {
    return this.#meter.pending;
  }

  /** The window now: the base and what it grew by. */
  get window(): number {
    return this.#baseWindow + this.#extra;
  }

  get estimator(): WindowEstimator {
    return this.#estimator;
  }
}
