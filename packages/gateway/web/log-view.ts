// Renders the model into the viewport with @tanstack/virtual-core: only the rows in view (plus
// overscan) exist in the DOM, so a million lines cost as much DOM as fifty. Rows have one fixed
// height, which keeps the virtualiser's arithmetic exact and scrolling smooth.

import {
  elementScroll,
  observeElementOffset,
  observeElementRect,
  Virtualizer,
} from "@tanstack/virtual-core";
import Anser from "anser";
import type { Entry, LogModel } from "./log-model.js";

export const ROW_HEIGHT = 18;

export class LogView {
  readonly #viewport: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #model: LogModel;
  readonly #virtualizer: Virtualizer<HTMLElement, HTMLElement>;
  #pending = false;
  #timestamps = false;
  #follow = true;
  readonly #onFollowChange: (follow: boolean) => void;

  /** `onFollowChange` hears when the user's scrolling pauses or resumes follow. */
  constructor(
    viewport: HTMLElement,
    spacer: HTMLElement,
    model: LogModel,
    onFollowChange: (follow: boolean) => void = () => {},
  ) {
    this.#viewport = viewport;
    this.#spacer = spacer;
    this.#model = model;
    this.#onFollowChange = onFollowChange;
    this.#virtualizer = new Virtualizer<HTMLElement, HTMLElement>({
      count: 0,
      getScrollElement: () => viewport,
      estimateSize: () => ROW_HEIGHT,
      overscan: 20,
      observeElementRect,
      observeElementOffset,
      scrollToFn: elementScroll,
      onChange: () => this.#render(),
    });
    this.#virtualizer._didMount();
    viewport.addEventListener("scroll", () => this.#onScroll(), { passive: true });
  }

  /** Schedules one render per frame, however many batches arrive. */
  update(): void {
    if (this.#pending) return;
    this.#pending = true;
    requestAnimationFrame(() => {
      this.#pending = false;
      this.#virtualizer.setOptions({
        ...this.#virtualizer.options,
        count: this.#model.visibleCount,
      });
      this.#virtualizer._willUpdate();
      this.#spacer.style.height = `${this.#virtualizer.getTotalSize()}px`;
      if (this.#follow) this.scrollToEnd();
      this.#render();
    });
  }

  /** Auto-scroll to the end as lines arrive (paused when the user scrolls up). */
  get follow(): boolean {
    return this.#follow;
  }

  /** Turns follow on or off (the next update scrolls to the end when on). */
  setFollow(follow: boolean): void {
    this.#follow = follow;
  }

  /** Shows or hides each line's timestamp (every row re-rendered). */
  setTimestamps(shown: boolean): void {
    this.#timestamps = shown;
    this.refresh();
  }

  scrollToEnd(): void {
    this.#viewport.scrollTop = this.#viewport.scrollHeight;
  }

  /**
   * Follow is where the view is: at the bottom (our own scroll to the end included) it follows,
   * anywhere else it is paused. No flag for "our own scroll": a scroll to where the view already
   * is fires no event, and such a flag would then swallow the user's next scroll.
   */
  #onScroll(): void {
    const atBottom =
      this.#viewport.scrollTop + this.#viewport.clientHeight >=
      this.#viewport.scrollHeight - ROW_HEIGHT;
    if (atBottom !== this.#follow) {
      this.#follow = atBottom;
      this.#onFollowChange(atBottom);
    }
  }

  /** Rows currently in the DOM (for the bounded-DOM check). */
  get domRows(): number {
    return this.#spacer.childElementCount;
  }

  #render(): void {
    const items = this.#virtualizer.getVirtualItems();
    const rows = this.#spacer.children;
    // Reuse row elements; add or drop only the difference.
    while (rows.length < items.length) this.#spacer.append(document.createElement("div"));
    while (rows.length > items.length) this.#spacer.lastElementChild!.remove();
    items.forEach((item, i) => {
      const row = rows[i] as HTMLElement;
      const entry = this.#model.visible(item.index);
      if (!entry) return;
      const key = `${entry.executionId ?? ""}:${entry.seq}:${this.#timestamps ? 1 : 0}`;
      row.style.transform = `translateY(${item.start}px)`;
      if (row.dataset.key === key) return;
      row.dataset.key = key;
      row.dataset.seq = String(entry.seq);
      if (entry.executionId === undefined) delete row.dataset.execution;
      else row.dataset.execution = entry.executionId;
      row.className = entry.removed
        ? "row removed"
        : entry.stream === "stderr"
          ? "row stderr"
          : "row";
      row.replaceChildren(...this.#cells(entry));
    });
  }

  #cells(entry: Entry): Node[] {
    const cells: Node[] = [];
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = String(entry.seq);
    cells.push(seq);
    if (entry.executionId !== undefined) {
      // A job's line: which execution (and, on hover, which compute node) it came from.
      const execution = document.createElement("span");
      execution.className = "execution";
      execution.textContent = entry.executionId;
      execution.title = `${entry.executionId} on ${entry.computeNodeId}`;
      cells.push(execution);
    }
    if (this.#timestamps && !entry.removed) {
      const ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = new Date(entry.time).toISOString();
      cells.push(ts);
    }
    // ANSI colours as spans with textContent and CSSOM colours: no HTML parsing, so a log line
    // can never inject markup, and the strict CSP (no inline styles in markup) holds.
    if (!entry.line.includes("\u001b")) {
      cells.push(document.createTextNode(entry.line));
      return cells;
    }
    for (const part of Anser.ansiToJson(entry.line, { remove_empty: true })) {
      const span = document.createElement("span");
      span.textContent = part.content;
      if (part.fg) span.style.color = `rgb(${part.fg})`;
      if (part.bg) span.style.backgroundColor = `rgb(${part.bg})`;
      for (const decoration of part.decorations ?? []) span.classList.add(`ansi-${decoration}`);
      cells.push(span);
    }
    return cells;
  }

  /** Re-renders every row (after the timestamps toggle or the filter changed). */
  refresh(): void {
    for (const row of Array.from(this.#spacer.children)) (row as HTMLElement).dataset.key = "";
    this.update();
  }
}
