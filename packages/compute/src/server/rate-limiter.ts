/**
 * Token bucket per key (a requester node id, or one key for the whole node): `ratePerSecond`
 * requests per second sustained, bursts up to `burst` (default: the rate). Idle buckets are
 * forgotten so a stream of fresh ids cannot grow memory.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #now: () => number;

  constructor(
    ratePerSecond: number,
    now: () => number = performance.now.bind(performance),
    burst = ratePerSecond,
  ) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#now = now;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.#now();
    if (this.#buckets.size > 10_000) this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) * this.#rate) / 1000);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      // Full again: forgetting it changes nothing.
      if (bucket.tokens + ((now - bucket.at) * this.#rate) / 1000 >= this.#burst)
        this.#buckets.delete(key);
    }
  }
}
