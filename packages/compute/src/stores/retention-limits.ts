/**
 * The retention limits both stores take (per execution, per store, age of a completed
 * execution): their defaults and their validation, in one place.
 */

export interface RetentionOptions {
  /**
   * The most bytes one execution's log keeps; the oldest lines go first. Default 64 MiB (the
   * file store counts NDJSON bytes on disk, the memory store the line's characters plus 64).
   * `Infinity` = unbounded.
   */
  maxLogBytes?: number | undefined;
  /**
   * The most bytes the whole store keeps: past it, the oldest lines of the store go first
   * (completed executions' and sealed segments of running ones, never the newest lines of a
   * running execution). Default 1 GiB for files, 256 MiB in memory. `Infinity` = unbounded.
   */
  maxStoreBytes?: number | undefined;
  /**
   * A completed execution's log is removed this long after it completed. Default unbounded
   * (age is a policy; the byte limits are what keep a node safe).
   */
  maxLogAgeMs?: number | undefined;
}

export interface RetentionLimits {
  maxLogBytes: number;
  maxStoreBytes: number;
  maxLogAgeMs: number;
}

export const FILE_RETENTION_DEFAULTS: RetentionLimits = {
  maxLogBytes: 64 * 1024 * 1024,
  maxStoreBytes: 1024 * 1024 * 1024,
  maxLogAgeMs: Number.POSITIVE_INFINITY,
};

export const MEMORY_RETENTION_DEFAULTS: RetentionLimits = {
  maxLogBytes: 64 * 1024 * 1024,
  maxStoreBytes: 256 * 1024 * 1024,
  maxLogAgeMs: Number.POSITIVE_INFINITY,
};

/** The smallest per-execution cap: below it a segment would hold a handful of lines. */
export const MIN_LOG_BYTES = 4096;

export function retentionLimits(
  options: RetentionOptions,
  defaults: RetentionLimits,
  owner: string,
): RetentionLimits {
  const limit = (name: keyof RetentionLimits, min: number): number => {
    const value = options[name] ?? defaults[name];
    if (
      typeof value !== "number" ||
      Number.isNaN(value) ||
      value < min ||
      (value !== Number.POSITIVE_INFINITY && !Number.isSafeInteger(value))
    ) {
      throw new RangeError(`${owner}: ${name} must be an integer >= ${min} or Infinity`);
    }
    return value;
  };
  return {
    maxLogBytes: limit("maxLogBytes", MIN_LOG_BYTES),
    maxStoreBytes: limit("maxStoreBytes", MIN_LOG_BYTES),
    maxLogAgeMs: limit("maxLogAgeMs", 1),
  };
}

/**
 * The size at which a file log's active segment is sealed: a quarter of the cap. Removing a
 * segment frees about a quarter, and at least half of the cap (two sealed segments and the
 * active log) stays readable.
 */
export function segmentBytesFor(maxLogBytes: number): number {
  if (maxLogBytes === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  return Math.max(1024, Math.floor(maxLogBytes / 4));
}

/** What a store reports of its size. */
export interface StoreUsage {
  /** Bytes held by every execution together. */
  totalBytes: number;
  /** Bytes held per execution id. */
  executions: Record<string, number>;
  /** Whole executions removed by the store's budget or age limit since the store was created. */
  executionsRemoved: number;
}
