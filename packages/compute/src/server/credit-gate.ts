/**
 * Flow-control credit of one stream: data-frame bytes may be sent while
 * `sent + frame <= window + granted`. A sender short of credit waits for a grant (no polling).
 */
export class CreditGate {
  #limit: number;
  #sent = 0;
  #waiter: { bytes: number; resolve: (ok: boolean) => void } | undefined;

  constructor(window: number) {
    this.#limit = window;
  }

  get sent(): number {
    return this.#sent;
  }

  /** A sender is waiting for a grant: it has a frame ready that the credit left does not cover. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  /** Bytes that may still be sent before more credit arrives. */
  get available(): number {
    return this.#limit - this.#sent;
  }

  grant(bytes: number): void {
    // Clamp so a requester cannot push the sum past exact integer range.
    this.#limit = Math.min(this.#limit + bytes, Number.MAX_SAFE_INTEGER);
    const waiter = this.#waiter;
    if (waiter && this.#fits(waiter.bytes)) {
      this.#waiter = undefined;
      this.#sent += waiter.bytes;
      waiter.resolve(true);
    }
  }

  /** Takes `bytes` of credit now if there is enough. */
  tryTake(bytes: number): boolean {
    if (!this.#fits(bytes)) return false;
    this.#sent += bytes;
    return true;
  }

  /** Resolves true once `bytes` of credit were taken, false if the signal aborts first. */
  take(bytes: number, signal: AbortSignal): Promise<boolean> {
    if (this.tryTake(bytes)) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    if (this.#waiter) throw new Error("CreditGate supports one waiting sender");
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiter = undefined;
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiter = {
        bytes,
        resolve: (ok) => {
          signal.removeEventListener("abort", onAbort);
          resolve(ok);
        },
      };
    });
  }

  #fits(bytes: number): boolean {
    return this.#sent + bytes <= this.#limit;
  }
}
