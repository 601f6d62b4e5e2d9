/**
 * A one-shot-per-listener wake-up: waiters register, the next notify() calls and forgets them
 * all. Lets follows sleep until something happens instead of polling.
 */
export class ChangeSignal {
  #listeners = new Set<() => void>();

  on(listener: () => void): void {
    this.#listeners.add(listener);
  }

  off(listener: () => void): void {
    this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  notify(): void {
    if (this.#listeners.size === 0) return;
    const listeners = this.#listeners;
    // Swap before calling so listeners that re-register wait for the next change.
    this.#listeners = new Set();
    for (const listener of listeners) listener();
  }
}
