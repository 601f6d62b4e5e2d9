// Crash safety of the store-wide retention: the process sweeping a FileLogStore directory (a
// compute node) is SIGKILLed in the middle of its removals, at a different removal each round.
// Afterwards every execution is either whole and readable (contiguous up to its last line, its
// exit code intact) or gone (EXECUTION_NOT_FOUND), never half readable; the running execution
// keeps its newest lines; and the next sweep finishes what the killed one left.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogEntry } from "@tailwire/protocol";
import { NodeProcess } from "@tailwire/testkit";
import { afterEach, describe, expect, it } from "vitest";
import type { RemovedLines } from "../log-source.js";
import { readHistory } from "../test-helpers/read-items.js";
import { FileLogStore } from "./file-log-store.js";

const SWEEPER = fileURLToPath(new URL("../test-helpers/sweeping-node.mjs", import.meta.url));
const EXECUTIONS = 12;
const LINES = 300; // ~40 KB each, capped at 16 KB: three segments and the active log
const BUDGET = 64 * 1024;

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) for (const n of readdirSync(path)) total += statSync(join(path, n)).size;
    else if (name.endsWith(".log")) total += st.size;
  }
  return total;
}

describe("FileLogStore: SIGKILL of the sweeping process mid-removal", () => {
  it.each([1, 2, 3, 5, 8, 13])(
    "killed before removal %i: each execution whole or gone; the next sweep finishes",
    async (dieAt) => {
      root = await mkdtemp(join(tmpdir(), "tailwire-sweep-crash-"));
      const dir = join(root, "logs");
      const writer = new FileLogStore({ dir, maxLogBytes: 16 * 1024, sweepIntervalMs: 0 });
      const ids = Array.from({ length: EXECUTIONS }, (_, i) => `job-${String(i).padStart(2, "0")}`);
      for (const id of ids) {
        const batch: Promise<LogEntry>[] = [];
        for (let i = 1; i <= LINES; i++)
          batch.push(writer.append(id, "stdout", `${id} ${i} ${"s".repeat(100)}`));
        await Promise.all(batch);
        if (id !== "job-11") await writer.complete(id, 7);
      }
      await writer.close();

      const sweeper = await NodeProcess.start({
        script: SWEEPER,
        args: [dir, String(BUDGET), String(dieAt)],
      });
      const status = await sweeper.waitForExit(20_000);
      expect(status.signal).toBe("SIGKILL");

      const store = new FileLogStore({ dir, sweepIntervalMs: 0, maxStoreBytes: BUDGET });
      try {
        let present = 0;
        for (const id of ids) {
          if (!existsSync(join(dir, `${id}.log`))) {
            await expect(readHistory(store, id)).rejects.toMatchObject({
              code: "EXECUTION_NOT_FOUND",
            });
            continue;
          }
          present++;
          const items = await readHistory(store, id);
          const entries = items.filter((i): i is LogEntry => !("kind" in i));
          const notice = items.find((i): i is RemovedLines => "kind" in i);
          const start = notice === undefined ? 1 : notice.toSeq + 1;
          expect(entries.map((e) => e.seq)).toEqual(
            Array.from({ length: LINES - start + 1 }, (_, i) => start + i),
          );
          const reader = await store.open(id, {
            follow: false,
            signal: new AbortController().signal,
          });
          expect(reader.exitCode).toBe(id === "job-11" ? null : 7);
          await reader.close();
        }
        expect(present).toBeGreaterThan(0);
        // The running execution always keeps its newest lines.
        expect((await readHistory(store, "job-11")).at(-1)).toMatchObject({ seq: LINES });

        const usage = await store.sweep();
        expect(usage.totalBytes).toBeLessThanOrEqual(BUDGET);
        expect(dirBytes(dir)).toBe(usage.totalBytes);
        // Nothing is left of a removed execution: no segment directory, no exit marker.
        for (const name of readdirSync(dir)) {
          const id = name.replace(/\.(log|exit|seg)$/, "");
          expect(existsSync(join(dir, `${id}.log`))).toBe(true);
        }
      } finally {
        await store.close();
      }
    },
    60_000,
  );
});
