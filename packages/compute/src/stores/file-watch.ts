// Wakes the file store's follows when an execution's files change: one directory watcher per
// store, fanned out to subscriptions by execution id.
import { type FSWatcher, watch } from "node:fs";

/**
 * A follower's interest in one execution. `dirty` is set by every change notification, so a
 * change that happens while the follower is busy reading is never lost: the follower clears it
 * before it reads and waits only when it is still clear after reading to the end of the file.
 */
export interface ChangeSubscription {
  readonly executionId: string;
  dirty: boolean;
  /** Set while the follower waits; called (once) on a change. */
  wake: (() => void) | null;
}

/**
 * One fs.watch on the store's directory, shared by every follower of every execution and open
 * only while at least one follower exists. Changes to `<id>.log` and `<id>.exit` wake the
 * followers of `<id>`. The store also notifies followers directly after its own writes, and each
 * follower polls slowly as well, so a watcher that cannot be created (missing directory, inotify
 * limits, network file systems) only costs latency.
 */
export class DirectoryWatcher {
  readonly #dir: string;
  readonly #subs = new Map<string, Set<ChangeSubscription>>();
  #count = 0;
  #watcher: FSWatcher | null = null;

  constructor(dir: string) {
    this.#dir = dir;
  }

  subscribe(executionId: string): ChangeSubscription {
    const sub: ChangeSubscription = { executionId, dirty: true, wake: null };
    let set = this.#subs.get(executionId);
    if (set === undefined) {
      set = new Set();
      this.#subs.set(executionId, set);
    }
    set.add(sub);
    this.#count++;
    if (this.#watcher === null) this.#start();
    return sub;
  }

  unsubscribe(sub: ChangeSubscription): void {
    const set = this.#subs.get(sub.executionId);
    if (set === undefined || !set.delete(sub)) return;
    if (set.size === 0) this.#subs.delete(sub.executionId);
    sub.wake = null;
    this.#count--;
    if (this.#count === 0) this.#stop();
  }

  /** Wakes the followers of one execution. */
  notify(executionId: string): void {
    const set = this.#subs.get(executionId);
    if (set === undefined) return;
    for (const sub of set) wakeSub(sub);
  }

  /** Closes the watcher and wakes every follower (they notice that they were closed). */
  close(): void {
    for (const set of this.#subs.values()) for (const sub of set) wakeSub(sub);
    this.#subs.clear();
    this.#count = 0;
    this.#stop();
  }

  #start(): void {
    try {
      const watcher = watch(this.#dir, { persistent: true }, (_event, filename) => {
        this.#onEvent(typeof filename === "string" ? filename : null);
      });
      watcher.on("error", () => {
        // The directory went away or the watch broke: fall back to polling.
        if (this.#watcher === watcher) this.#stop();
      });
      this.#watcher = watcher;
    } catch {
      // ENOENT, ENOSPC (inotify limits), unsupported file system: polling only.
      this.#watcher = null;
    }
  }

  #stop(): void {
    const watcher = this.#watcher;
    this.#watcher = null;
    watcher?.close();
  }

  #onEvent(filename: string | null): void {
    if (filename === null) {
      for (const set of this.#subs.values()) for (const sub of set) wakeSub(sub);
      return;
    }
    let id: string | null = null;
    if (filename.endsWith(".log")) id = filename.slice(0, -4);
    else if (filename.endsWith(".exit")) id = filename.slice(0, -5);
    if (id !== null) this.notify(id);
  }
}

function wakeSub(sub: ChangeSubscription): void {
  sub.dirty = true;
  const wake = sub.wake;
  sub.wake = null;
  wake?.();
}
