/**
 * Token bucket per key (requester node id): `ratePerSecond` requests per second sustained, bursts
 * up to the same number. Idle buckets are forgotten so a stream of fresh ids cannot grow memory.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #now: () => number;

  constructor(ratePerSecond: number, now: () => number = performance.now.bind(performance)) {
    this.#rate = ratePerSecond;
    this.#now = now;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.#now();
    if (this.#buckets.size > 10_000) this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#rate, at: now };
    bucket.tokens = Math.min(this.#rate, bucket.tokens + ((now - bucket.at) * this.#rate) / 1000);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      // Full again: forgetting it changes nothing.
      if (bucket.tokens + ((now - bucket.at) * this.#rate) / 1000 >= this.#rate)
        this.#buckets.delete(key);
    }
  }
}
