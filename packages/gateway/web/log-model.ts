// The page's data: every entry loaded, once, in the order it came (seq order per execution); the
// filtered view of it; and what a test or a person may ask about it (counts, duplicates refused).

export interface Entry {
  seq: number;
  stream: "stdout" | "stderr";
  time: number;
  line: string;
  /** A job's lines name their execution and compute node; one execution's lines do not. */
  executionId?: string;
  computeNodeId?: string;
  /** A row that says lines fromSeq..seq were removed by retention (not a line of the log). */
  removed?: boolean;
}

export class LogModel {
  readonly entries: Entry[] = [];
  /** Entries refused because their seq was not above the last one (should stay 0). */
  duplicates = 0;
  #filter = "";
  /** Indexes into entries that match the filter; undefined = no filter. */
  #matches: number[] | undefined;

  /** The last seq held per execution ("" for a single execution's log). */
  readonly #lastSeqs = new Map<string, number>();

  get lastSeq(): number | undefined {
    return this.entries.at(-1)?.seq;
  }

  /** Appends what is new; returns how many were added. */
  add(batch: readonly Entry[]): number {
    let added = 0;
    for (const entry of batch) {
      const key = entry.executionId ?? "";
      const last = this.#lastSeqs.get(key);
      if (last !== undefined && entry.seq <= last) {
        this.duplicates++;
        continue;
      }
      this.#lastSeqs.set(key, entry.seq);
      this.entries.push(entry);
      if (this.#matches && entry.line.toLowerCase().includes(this.#filter)) {
        this.#matches.push(this.entries.length - 1);
      }
      added++;
    }
    return added;
  }

  clear(): void {
    this.entries.length = 0;
    this.#lastSeqs.clear();
    this.duplicates = 0;
    if (this.#matches) this.#matches = [];
  }

  setFilter(text: string): void {
    this.#filter = text.toLowerCase();
    if (this.#filter === "") {
      this.#matches = undefined;
      return;
    }
    const matches: number[] = [];
    this.entries.forEach((entry, i) => {
      if (entry.line.toLowerCase().includes(this.#filter)) matches.push(i);
    });
    this.#matches = matches;
  }

  /** Rows shown: all entries, or the filter's matches. */
  get visibleCount(): number {
    return this.#matches ? this.#matches.length : this.entries.length;
  }

  visible(row: number): Entry | undefined {
    return this.#matches ? this.entries[this.#matches[row]!] : this.entries[row];
  }

  /** The whole loaded log as text, one line per entry, for the download. */
  text(timestamps: boolean): string {
    let out = "";
    for (const e of this.entries) {
      const who = e.executionId === undefined ? "" : `[${e.computeNodeId}/${e.executionId}] `;
      out += timestamps
        ? `${who}${new Date(e.time).toISOString()} ${e.stream} ${e.line}\n`
        : `${who}${e.line}\n`;
    }
    return out;
  }
}
