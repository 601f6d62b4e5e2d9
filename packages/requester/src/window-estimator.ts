// Estimates the credit window one stream needs to fill its path: twice the bandwidth-delay
// product (delivery rate × round-trip time) seen on the stream, between the request's window
// and the requester's memory cap (PROTOCOL.md "Flow control", the adaptive window).
//
// Round trips come from the credit itself, so nothing new goes on the wire: bytes past the
// credit limit a grant raised can only have been sent after the grant reached the compute node,
// so the time from the grant to the first such byte is at least one round trip (exactly one when
// the node was waiting for it). The minimum of recent samples is the round trip (as BBR's
// min_rtt); the delivery rate is the bytes received between two such samples over their time,
// the maximum of recent rounds (a consumer or a link that slows down lowers it within 8 rounds).
// Why twice: grants go out each time half a window was consumed, so the credit a node holds
// swings between half and all of the window, and half must still cover the path.

/** How long a round-trip sample counts for the minimum: a route that changes is followed. */
const RTT_WINDOW_MS = 10_000;
/** Rounds whose delivery rate counts for the maximum. */
const RATE_ROUNDS = 8;
const GAIN = 2;

interface Probe {
  at: number;
  /** The credit limit (window + grants) before this grant: bytes past it needed the grant. */
  limitBefore: number;
}

export class WindowEstimator {
  readonly #floor: number;
  #cap: number;
  #received = 0;
  #limit: number;
  readonly #probes: Probe[] = [];
  readonly #rtts: { at: number; ms: number }[] = [];
  readonly #rates: number[] = [];
  #roundStart: { at: number; received: number } | undefined;

  /**
   * `requestWindow`: the request's window (the compute node's first credit limit); `floor`: the
   * window never goes below this; `cap`: nor above this (credit bytes).
   */
  constructor(requestWindow: number, floor: number, cap: number) {
    this.#limit = requestWindow;
    this.#floor = floor;
    this.#cap = Math.max(floor, cap);
  }

  /** Lowers or raises the cap (a compressed stream holds up to 16 decoded bytes per credit byte). */
  setCap(cap: number): void {
    this.#cap = Math.max(this.#floor, cap);
  }

  /** A grant of `bytes` went out at `now` (monotonic ms). */
  granted(bytes: number, now: number): void {
    this.#probes.push({ at: now, limitBefore: this.#limit });
    if (this.#probes.length > 64) this.#probes.shift();
    this.#limit += bytes;
  }

  /** A data frame taking `bytes` of credit arrived at `now`. */
  received(bytes: number, now: number): void {
    this.#received += bytes;
    let sample: number | undefined;
    while (this.#probes.length > 0 && this.#received > (this.#probes[0] as Probe).limitBefore) {
      sample = now - (this.#probes.shift() as Probe).at;
    }
    if (sample === undefined) return;
    this.#rtts.push({ at: now, ms: Math.max(0.1, sample) });
    while ((this.#rtts[0] as { at: number }).at < now - RTT_WINDOW_MS || this.#rtts.length > 32)
      this.#rtts.shift();
    const start = this.#roundStart;
    if (start !== undefined && now > start.at) {
      this.#rates.push((this.#received - start.received) / (now - start.at));
      if (this.#rates.length > RATE_ROUNDS) this.#rates.shift();
    }
    this.#roundStart = { at: now, received: this.#received };
  }

  /** The smallest recent round trip in ms, undefined before the first. */
  get rttMs(): number | undefined {
    if (this.#rtts.length === 0) return undefined;
    return Math.min(...this.#rtts.map((r) => r.ms));
  }

  /** The largest recent delivery rate in bytes per ms, undefined before the second round trip. */
  get rateBytesPerMs(): number | undefined {
    return this.#rates.length === 0 ? undefined : Math.max(...this.#rates);
  }

  /** The window to keep: GAIN × rate × round trip, within [floor, cap]. */
  get window(): number {
    const rtt = this.rttMs;
    const rate = this.rateBytesPerMs;
    if (rtt === undefined || rate === undefined) return this.#floor;
    return Math.min(this.#cap, Math.max(this.#floor, Math.ceil(GAIN * rate * rtt)));
  }
}
