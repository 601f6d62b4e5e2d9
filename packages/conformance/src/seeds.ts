// The kit's seed logs: data files (seeds/*.json) that an implementation under test must hold
// under the given execution ids, and a loader that fills any log store with them.
import { readFileSync } from "node:fs";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";

/** One seed file: an execution's whole log, seqs implied (1, 2, ... in file order). */
export interface Seed {
  executionId: string;
  description: string;
  /** The exit code the execution completed with (the seeds are all complete). */
  exitCode: number | null;
  entries: { stream: LogStreamName; time: number; line: string }[];
}

export const SEED_NAMES = ["basic", "long-line", "credit"] as const;
export type SeedName = (typeof SEED_NAMES)[number];

/** Where the seed files are (inside the installed package: `@tailwire/conformance/seeds/*`). */
export const seedUrl = (name: SeedName): URL => new URL(`../seeds/${name}.json`, import.meta.url);

const cache = new Map<SeedName, Seed>();

export function readSeed(name: SeedName): Seed {
  let seed = cache.get(name);
  if (!seed) {
    seed = JSON.parse(readFileSync(seedUrl(name), "utf8")) as Seed;
    cache.set(name, seed);
  }
  return seed;
}

export const readSeeds = (): Seed[] => SEED_NAMES.map(readSeed);

/** A seed's entries with their sequence numbers (1, 2, ...), as a reader must see them. */
export const seedEntries = (seed: Seed): LogEntry[] =>
  seed.entries.map((entry, i) => ({ seq: i + 1, ...entry }));

/** What `loadSeeds` needs of a store: the writing half of @tailwire/compute's LogStore. */
export interface WritableLogStore {
  create(executionId: string): Promise<void>;
  append(executionId: string, stream: LogStreamName, line: string, time?: number): Promise<unknown>;
  complete(executionId: string, exitCode: number | null): Promise<void>;
}

/**
 * Writes every seed into a store (a MemoryLogStore or FileLogStore of @tailwire/compute, or
 * anything with the same three methods), each under its execution id, with its times and exit
 * code. The store must be empty for those ids: seqs must come out 1, 2, ...
 */
export async function loadSeeds(
  store: WritableLogStore,
  seeds: Seed[] = readSeeds(),
): Promise<void> {
  for (const seed of seeds) {
    await store.create(seed.executionId);
    for (const entry of seed.entries) {
      await store.append(seed.executionId, entry.stream, entry.line, entry.time);
    }
    await store.complete(seed.executionId, seed.exitCode);
  }
}
