// What a log store tells the locate responder: which executions it holds, of which job, and
// when that changes (PROTOCOL.md, "Locating executions").

/** What a new execution may be created with. */
export interface CreateOptions {
  /** The job the execution belongs to (retries and fan-out of one job share it). */
  jobId?: string;
}

/** One execution as a lookup describes it. */
export interface ExecutionInfo {
  executionId: string;
  /** The job the execution belongs to, when it was captured with one. */
  jobId?: string;
  /** The last sequence number now (0 = no lines yet). */
  lastSeq: number;
  completed: boolean;
}

/** A change of the executions a store holds. */
export type CatalogChange =
  | { kind: "created"; executionId: string; jobId?: string }
  | { kind: "removed"; executionId: string; jobId?: string };

/**
 * Implemented by stores whose executions can be located without naming their compute node
 * (MemoryLogStore, FileLogStore). The responder subscribes to one subject per execution and job
 * it holds, so it needs the list once and every change after.
 */
export interface ExecutionCatalog {
  /** Every execution held now, with its job. */
  listExecutions(): Promise<{ executionId: string; jobId?: string }[]>;
  /** One execution as it is now, or undefined when the store does not hold it. */
  describeExecution(executionId: string): Promise<ExecutionInfo | undefined>;
  /**
   * Calls `listener` for every execution created or removed from now on; returns a stop. The
   * first reports may repeat executions that already existed (a listener ignores what it
   * knows): that way none created between listing and watching is missed.
   */
  watchExecutions(listener: (change: CatalogChange) => void): () => void;
}

/** Whether a log source can also be located through (duck-typed: stores are pluggable). */
export function isExecutionCatalog(value: unknown): value is ExecutionCatalog {
  const v = value as Partial<ExecutionCatalog> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.listExecutions === "function" &&
    typeof v.describeExecution === "function" &&
    typeof v.watchExecutions === "function"
  );
}

/**
 * The job of each execution and the listeners of changes: the part of a catalog every store
 * shares (a store keeps its own logs and calls `created` / `removed`).
 */
export class ExecutionDirectory {
  readonly #jobs = new Map<string, string | undefined>();
  readonly #listeners = new Set<(change: CatalogChange) => void>();

  has(executionId: string): boolean {
    return this.#jobs.has(executionId);
  }

  jobOf(executionId: string): string | undefined {
    return this.#jobs.get(executionId);
  }

  list(): { executionId: string; jobId?: string }[] {
    return [...this.#jobs].map(([executionId, jobId]) =>
      jobId === undefined ? { executionId } : { executionId, jobId },
    );
  }

  /** Records an execution (a no-op when known; the first job given wins) and tells the listeners. */
  created(executionId: string, jobId: string | undefined): void {
    if (this.#jobs.has(executionId)) return;
    this.#jobs.set(executionId, jobId);
    this.#emit(
      jobId === undefined
        ? { kind: "created", executionId }
        : { kind: "created", executionId, jobId },
    );
  }

  removed(executionId: string): void {
    if (!this.#jobs.has(executionId)) return;
    const jobId = this.#jobs.get(executionId);
    this.#jobs.delete(executionId);
    this.#emit(
      jobId === undefined
        ? { kind: "removed", executionId }
        : { kind: "removed", executionId, jobId },
    );
  }

  watch(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: CatalogChange): void {
    for (const listener of [...this.#listeners]) listener(change);
  }
}
