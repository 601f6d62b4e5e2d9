// Concurrent-stream limits: per principal (token) and for the whole gateway.
import { GatewayError } from "./errors.js";

export interface StreamLimits {
  /** Streams open at once for one token (or for all anonymous requests together). */
  perToken: number;
  /** Streams open at once in this gateway. */
  total: number;
}

export const LIMIT_DEFAULTS: StreamLimits = { perToken: 64, total: 4096 };

export class StreamSlots {
  readonly #limits: StreamLimits;
  readonly #byPrincipal = new Map<string, number>();
  #total = 0;

  constructor(limits: StreamLimits) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  /** Takes a slot or throws 429; the returned function gives it back (once). */
  acquire(principal: string): () => void {
    const mine = this.#byPrincipal.get(principal) ?? 0;
    if (mine >= this.#limits.perToken) {
      throw new GatewayError(
        "TOO_MANY_STREAMS",
        `this token already has ${mine} open streams (the limit is ${this.#limits.perToken})`,
      );
    }
    if (this.#total >= this.#limits.total) {
      throw new GatewayError(
        "TOO_MANY_GATEWAY_STREAMS",
        "the gateway serves as many streams as it allows",
      );
    }
    this.#byPrincipal.set(principal, mine + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#byPrincipal.get(principal) ?? 1) - 1;
      if (left === 0) this.#byPrincipal.delete(principal);
      else this.#byPrincipal.set(principal, left);
    };
  }
}
