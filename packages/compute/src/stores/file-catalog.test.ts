// A FileLogStore as a catalog of executions: what it lists, describes and reports as created or
// removed, whichever process wrote the directory.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CatalogChange } from "../execution-catalog.js";
import { FileLogStore } from "./file-log-store.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function store(): Promise<{ writer: FileLogStore; reader: FileLogStore }> {
  const dir = await mkdtemp(join(tmpdir(), "tailwire-catalog-"));
  dirs.push(dir);
  // Two stores on one directory: a writer (tailwire exec) and the compute node's reader.
  return { writer: new FileLogStore({ dir }), reader: new FileLogStore({ dir }) };
}

describe("FileLogStore as an ExecutionCatalog", () => {
  it("lists executions with their jobs, describes them, and reports another writer's new ones", async () => {
    const { writer, reader } = await store();
    await writer.create("e1", { jobId: "job-1" });
    await writer.append("e1", "stdout", "one");
    await writer.append("e1", "stdout", "two");
    await writer.create("plain");
    expect(
      (await reader.listExecutions()).sort((a, b) => a.executionId.localeCompare(b.executionId)),
    ).toEqual([{ executionId: "e1", jobId: "job-1" }, { executionId: "plain" }]);
    expect(await reader.describeExecution("e1")).toEqual({
      executionId: "e1",
      jobId: "job-1",
      lastSeq: 2,
      completed: false,
    });
    await writer.complete("e1", 0);
    expect(await reader.describeExecution("e1")).toMatchObject({ completed: true, lastSeq: 2 });
    expect(await reader.describeExecution("nope")).toBeUndefined();

    const changes: CatalogChange[] = [];
    const stop = reader.watchExecutions((c) => changes.push(c));
    await writer.create("e2", { jobId: "job-1" });
    await vi.waitFor(() =>
      expect(changes).toContainEqual({ kind: "created", executionId: "e2", jobId: "job-1" }),
    );
    // What existed already may be reported once more as created (listeners ignore what they
    // know: nothing created in between can be missed that way), never as removed.
    expect(changes.filter((c) => c.executionId === "e1" && c.kind === "removed")).toEqual([]);
    stop();
    await expect(writer.create("bad", { jobId: "a/b" })).rejects.toThrow(/invalid job id/);
    await writer.close();
    await reader.close();
  });
});
