// Which executions a FileLogStore's directory holds and of which job, and when that changes:
// what the locate responder needs (execution-catalog.ts). Other processes write the directory
// (`tailwire exec`), so changes are watched on disk, not learnt from this process's writes.
import { type FSWatcher, watch } from "node:fs";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { isExecutionId, isJobId } from "@tailwire/protocol";
import type { CatalogChange } from "../execution-catalog.js";

/** How often the directory is listed again, for changes a file watcher missed (or without one). */
const RESCAN_MS = 2_000;

/** `<dir>/<id>.job`: the job an execution belongs to, written before its log exists. */
export const jobPath = (dir: string, executionId: string): string => `${dir}/${executionId}.job`;

/** Writes an execution's job file atomically (a reader sees it whole or not at all). */
export async function writeJobFile(dir: string, executionId: string, jobId: string): Promise<void> {
  const tmp = `${dir}/.${executionId}.job.tmp`;
  await writeFile(tmp, `${jobId}\n`);
  await rename(tmp, jobPath(dir, executionId));
}

/** The job of an execution, or undefined when it has none (or its file is not a job id). */
export async function readJobFile(dir: string, executionId: string): Promise<string | undefined> {
  try {
    const jobId = (await readFile(jobPath(dir, executionId), "utf8")).trim();
    return isJobId(jobId) ? jobId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lists the executions (`<id>.log` files) of a directory with their jobs, and reports the ones
 * created or removed: through a watcher on the directory while anyone listens, and a rescan
 * every 2 s for what a watcher misses (network file systems, inotify limits).
 */
export class FileExecutionCatalog {
  readonly #dir: string;
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  /** What the last scan found: execution id → job id. */
  #known = new Map<string, string | undefined>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async list(): Promise<{ executionId: string; jobId?: string }[]> {
    const found = await this.#scanDir();
    return [...found].map(([executionId, jobId]) =>
      jobId === undefined ? { executionId } : { executionId, jobId },
    );
  }

  watch(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  close(): void {
    this.#listeners.clear();
    this.#stop();
  }

  #start(): void {
    // The baseline: changes are what differs from it.
    this.#rescan();
    this.#timer = setInterval(() => this.#rescan(), RESCAN_MS);
    this.#timer.unref();
    // The directory may not exist yet (the first `tailwire exec` makes it): make it, so that the
    // watcher sees the first execution at once instead of at the next rescan.
    void mkdir(this.#dir, { recursive: true })
      .catch(() => {})
      .then(() => {
        if (this.#listeners.size === 0 || this.#watcher) return;
        try {
          this.#watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
            if (name === null || name.endsWith(".log") || name.endsWith(".job")) this.#rescan();
          });
          this.#watcher.on("error", () => this.#watcher?.close());
        } catch {
          this.#watcher = undefined; // no watcher here (inotify limits...): the rescan covers it
        }
        this.#rescan();
      });
  }

  #stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One scan at a time; a change during a scan asks for one more right after it. */
  #rescan(): void {
    if (this.#scanning) {
      this.#again = true;
      return;
    }
    this.#scanning = (async () => {
      do {
        this.#again = false;
        const found = await this.#scanDir();
        const before = this.#known;
        this.#known = found;
        for (const [executionId, jobId] of found) {
          if (!before.has(executionId)) this.#emit(change("created", executionId, jobId));
        }
        for (const [executionId, jobId] of before) {
          if (!found.has(executionId)) this.#emit(change("removed", executionId, jobId));
        }
      } while (this.#again && this.#listeners.size > 0);
    })().finally(() => {
      this.#scanning = undefined;
    });
  }

  async #scanDir(): Promise<Map<string, string | undefined>> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return new Map();
    }
    const found = new Map<string, string | undefined>();
    for (const name of names) {
      if (!name.endsWith(".log")) continue;
      const id = name.slice(0, -".log".length);
      if (!isExecutionId(id)) continue;
      // Known ones keep their job (it never changes): one read per new execution only.
      found.set(id, this.#known.has(id) ? this.#known.get(id) : await readJobFile(this.#dir, id));
    }
    return found;
  }

  #emit(c: CatalogChange): void {
    for (const listener of [...this.#listeners]) listener(c);
  }
}

function change(
  kind: "created" | "removed",
  executionId: string,
  jobId: string | undefined,
): CatalogChange {
  return jobId === undefined ? { kind, executionId } : { kind, executionId, jobId };
}
