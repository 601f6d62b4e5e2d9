// A FIFO of one execution's merged entries with their arrival times: taking from the front is
// O(1) (Array.prototype.shift moves every element, which dominated a job stream's CPU).

export class EntryQueue<T> {
  #items: T[] = [];
  #arrived: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The oldest item, or undefined when empty. */
  get first(): T | undefined {
    return this.#items[this.#head];
  }

  /** When the oldest item arrived (performance.now()), or undefined when empty. */
  get firstArrived(): number | undefined {
    return this.#arrived[this.#head];
  }

  push(item: T, arrivedAt: number): void {
    this.#items.push(item);
    this.#arrived.push(arrivedAt);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    this.#head++;
    // Drop the consumed front once it is most of the array: amortised O(1) per item.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#arrived = this.#arrived.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
