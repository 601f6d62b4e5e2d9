import { getEventListeners } from "node:events";
import {
  BadRequestError,
  ExecutionNotFoundError,
  type LogEntry,
  type LogStreamName,
} from "@tailwire/protocol";
import { describe, expect, it, vi } from "vitest";
import type { LogReader, LogReadOptions } from "../log-source.js";
import { MemoryLogStore } from "./memory-log-store.js";

const EXEC = "exec-1";

async function collect(reader: LogReader): Promise<LogEntry[][]> {
  const batches: LogEntry[][] = [];
  for await (const batch of reader) if (Array.isArray(batch)) batches.push(batch);
  return batches;
}

const seqs = (batches: LogEntry[][]): number[] => batches.flat().map((e) => e.seq);

function read(
  store: MemoryLogStore,
  options: Partial<LogReadOptions> = {},
  executionId = EXEC,
): Promise<LogReader> {
  return store.open(executionId, {
    follow: false,
    signal: new AbortController().signal,
    ...options,
  });
}

/** A read's seqs, with each removal notice as "removed a..b" where it came. */
async function items(reader: LogReader): Promise<(number | string)[]> {
  const out: (number | string)[] = [];
  for await (const item of reader) {
    if (Array.isArray(item)) out.push(...item.map((e) => e.seq));
    else out.push(`removed ${item.fromSeq}..${item.toSeq}`);
  }
  return out;
}

/** 10 lines: odd seqs on stdout, even on stderr, time = 1000 * seq. */
async function storeWithTen(): Promise<MemoryLogStore> {
  const store = new MemoryLogStore();
  await store.create(EXEC);
  for (let i = 1; i <= 10; i++)
    await store.append(EXEC, i % 2 ? "stdout" : "stderr", `line ${i}`, 1000 * i);
  return store;
}

describe("MemoryLogStore", () => {
  it("numbers entries per execution from 1", async () => {
    const store = new MemoryLogStore();
    expect((await store.append("a", "stdout", "x", 5)).seq).toBe(1);
    expect((await store.append("a", "stderr", "y", 6)).seq).toBe(2);
    expect(await store.append("b", "stdout", "z", 7)).toEqual({
      seq: 1,
      stream: "stdout",
      time: 7,
      line: "z",
    });
  });

  it("rejects an entry with a time, stream or line the wire cannot carry, without using a seq", async () => {
    const store = new MemoryLogStore();
    for (const time of [1.5, -1, Number.NaN, 2 ** 53]) {
      await expect(store.append("a", "stdout", "x", time)).rejects.toBeInstanceOf(BadRequestError);
    }
    await expect(store.append("a", "stdin" as LogStreamName, "x", 1)).rejects.toBeInstanceOf(
      BadRequestError,
    );
    await expect(store.append("a", "stdout", 7 as unknown as string, 1)).rejects.toBeInstanceOf(
      BadRequestError,
    );
    expect((await store.append("a", "stdout", "x", 1)).seq).toBe(1);
  });

  it("rejects unknown and invalid executions", async () => {
    const store = new MemoryLogStore();
    await expect(read(store)).rejects.toBeInstanceOf(ExecutionNotFoundError);
    await expect(
      store.open("../etc", { follow: false, signal: new AbortController().signal }),
    ).rejects.toBeInstanceOf(BadRequestError);
  });

  it("finds an empty log once created", async () => {
    const store = new MemoryLogStore();
    await store.create(EXEC);
    const reader = await read(store);
    expect(await collect(reader)).toEqual([]);
    expect(reader.position).toBe(0);
    expect(reader.lastSeqAtOpen).toBe(0);
  });

  it("reads the whole history by default", async () => {
    const reader = await read(await storeWithTen());
    expect(seqs(await collect(reader))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(reader.afterSeq).toBe(0);
    expect(reader.position).toBe(10);
    expect(reader.exitCode).toBeNull();
  });

  it("tail N gives the last N lines", async () => {
    const reader = await read(await storeWithTen(), { tail: 3 });
    expect(reader.afterSeq).toBe(7);
    expect(seqs(await collect(reader))).toEqual([8, 9, 10]);
  });

  it("tail N counts matching lines only", async () => {
    const reader = await read(await storeWithTen(), { tail: 2, streams: ["stdout"] });
    expect(seqs(await collect(reader))).toEqual([7, 9]);
    // Position covers the filtered stderr line 10 too.
    expect(reader.position).toBe(10);
  });

  it("tail larger than the log gives everything", async () => {
    expect(seqs(await collect(await read(await storeWithTen(), { tail: 100 })))).toHaveLength(10);
  });

  it("tail 0 without follow gives nothing and covers everything", async () => {
    const reader = await read(await storeWithTen(), { tail: 0 });
    expect(await collect(reader)).toEqual([]);
    expect(reader.afterSeq).toBe(10);
    expect(reader.position).toBe(10);
  });

  it("fromSeq wins over tail", async () => {
    const reader = await read(await storeWithTen(), { fromSeq: 4, tail: 1 });
    expect(reader.afterSeq).toBe(4);
    expect(seqs(await collect(reader))).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it("since keeps entries with time >= since, and combines with tail", async () => {
    const store = await storeWithTen();
    expect(seqs(await collect(await read(store, { since: 8000 })))).toEqual([8, 9, 10]);
    expect(seqs(await collect(await read(store, { since: 3000, tail: 2 })))).toEqual([9, 10]);
    expect(
      seqs(await collect(await read(store, { since: 3000, tail: 20, streams: ["stderr"] }))),
    ).toEqual([4, 6, 8, 10]);
  });

  it("filters by stream", async () => {
    const store = await storeWithTen();
    expect(seqs(await collect(await read(store, { streams: ["stderr"] })))).toEqual([
      2, 4, 6, 8, 10,
    ]);
    expect(seqs(await collect(await read(store, { streams: ["stdout", "stderr"] })))).toHaveLength(
      10,
    );
  });

  it("a non-follow read ends at what existed when it was opened", async () => {
    const store = await storeWithTen();
    const reader = await read(store);
    await store.append(EXEC, "stdout", "late");
    expect(seqs(await collect(reader))).toHaveLength(10);
    expect(reader.position).toBe(10);
  });

  it("yields everything available in one batch, up to the cap", async () => {
    const store = new MemoryLogStore({ maxBatchEntries: 4096 });
    for (let i = 0; i < 10_000; i++) await store.append(EXEC, "stdout", `l${i}`);
    const batches = await collect(await read(store));
    expect(batches.map((b) => b.length)).toEqual([4096, 4096, 1808]);
  });

  it("follow waits for appends and ends at completion with the exit code", async () => {
    const store = await storeWithTen();
    const reader = await read(store, { follow: true, tail: 1 });
    const iterator = reader[Symbol.asyncIterator]();
    expect(seqs([(await iterator.next()).value as LogEntry[]])).toEqual([10]);
    const next = iterator.next();
    await vi.waitFor(() => expect(store.waitingReads(EXEC)).toBe(1));
    await store.append(EXEC, "stdout", "eleven");
    expect(seqs([(await next).value as LogEntry[]])).toEqual([11]);
    const last = iterator.next();
    await store.complete(EXEC, 3);
    expect((await last).done).toBe(true);
    expect(reader.exitCode).toBe(3);
    expect(reader.position).toBe(11);
    expect(store.waitingReads(EXEC)).toBe(0);
  });

  it("follow of a completed execution reads the history and ends", async () => {
    const store = await storeWithTen();
    await store.complete(EXEC, 0);
    const reader = await read(store, { follow: true });
    expect(seqs(await collect(reader))).toHaveLength(10);
    expect(reader.exitCode).toBe(0);
  });

  it("tail 0 + follow gives only new lines", async () => {
    const store = await storeWithTen();
    const reader = await read(store, { follow: true, tail: 0 });
    const done = collect(reader);
    await store.append(EXEC, "stderr", "new");
    await store.complete(EXEC, null);
    expect(seqs(await done)).toEqual([11]);
  });

  it("aborting ends a waiting follow at once and leaves no listener", async () => {
    const store = await storeWithTen();
    const controller = new AbortController();
    const reader = await store.open(EXEC, { follow: true, tail: 0, signal: controller.signal });
    const done = collect(reader);
    await vi.waitFor(() => expect(store.waitingReads(EXEC)).toBe(1));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    expect(await done).toEqual([]);
    expect(store.waitingReads(EXEC)).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("close() ends a waiting follow", async () => {
    const store = await storeWithTen();
    const reader = await read(store, { follow: true, tail: 0 });
    const done = collect(reader);
    await vi.waitFor(() => expect(store.waitingReads(EXEC)).toBe(1));
    await reader.close();
    await reader.close();
    expect(await done).toEqual([]);
    expect(store.waitingReads(EXEC)).toBe(0);
  });

  it("many appends while a follow waits do not pile up listeners", async () => {
    const store = new MemoryLogStore();
    const signal = new AbortController().signal;
    await store.create(EXEC);
    const reader = await store.open(EXEC, { follow: true, signal });
    const done = collect(reader);
    for (let i = 0; i < 1000; i++) await store.append(EXEC, "stdout", `${i}`);
    await store.complete(EXEC, 0);
    expect(seqs(await done)).toHaveLength(1000);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("refuses lines after completion", async () => {
    const store = await storeWithTen();
    await store.complete(EXEC, 1);
    await store.complete(EXEC, 2); // a second completion changes nothing
    await expect(store.append(EXEC, "stdout", "x")).rejects.toThrow(/complete/);
    expect((await read(store)).exitCode).toBe(1);
  });

  describe("bounded", () => {
    async function bounded(): Promise<MemoryLogStore> {
      const store = new MemoryLogStore({ maxEntriesPerExecution: 5 });
      for (let i = 1; i <= 12; i++)
        await store.append(EXEC, i % 2 ? "stdout" : "stderr", `l${i}`, i);
      return store;
    }

    it("drops the oldest entries while seqs keep counting, and says so to a read", async () => {
      const reader = await read(await bounded());
      expect(await items(reader)).toEqual(["removed 1..7", 8, 9, 10, 11, 12]);
      expect(reader.afterSeq).toBe(0);
      expect(reader.firstSeqAtOpen).toBe(8);
      expect(reader.lastSeqAtOpen).toBe(12);
    });

    it("a read whose start was dropped gets a notice for it, then the oldest retained entry", async () => {
      const store = await bounded();
      expect(await items(await read(store, { fromSeq: 2 }))).toEqual([
        "removed 3..7",
        8,
        9,
        10,
        11,
        12,
      ]);
      expect(await items(await read(store, { tail: 100, streams: ["stdout"] }))).toEqual([
        "removed 1..7",
        9,
        11,
      ]);
      expect(await items(await read(store, { tail: 7 }))).toEqual([
        "removed 6..7",
        8,
        9,
        10,
        11,
        12,
      ]);
      expect(await items(await read(store, { fromSeq: 10 }))).toEqual([11, 12]);
      // A since newer than everything dropped asks for none of it.
      expect(await items(await read(store, { since: 9 }))).toEqual([9, 10, 11, 12]);
    });

    it("a follow that lags behind gets a notice for exactly what was dropped, then goes on", async () => {
      const store = await bounded();
      const reader = await read(store, { follow: true });
      const iterator = reader[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toEqual({
        kind: "removed",
        reason: "retention",
        fromSeq: 1,
        toSeq: 7,
      });
      expect(seqs([(await iterator.next()).value as LogEntry[]])).toEqual([8, 9, 10, 11, 12]);
      for (let i = 0; i < 20; i++) await store.append(EXEC, "stdout", "more");
      expect((await iterator.next()).value).toMatchObject({ fromSeq: 13, toSeq: 27 });
      expect(seqs([(await iterator.next()).value as LogEntry[]])).toEqual([28, 29, 30, 31, 32]);
      expect(reader.position).toBe(32);
      await reader.close();
    });

    it("bounds bytes per execution and per store, completed executions first", async () => {
      const store = new MemoryLogStore({ maxLogBytes: 10_000, maxStoreBytes: 25_000 });
      const line = "z".repeat(936); // 1000 counted bytes
      for (let i = 0; i < 30; i++) await store.append("a", "stdout", line);
      expect(store.usage().executions.a).toBe(10_000);
      await store.complete("a", 0);
      for (let i = 0; i < 10; i++) await store.append("b", "stdout", line);
      for (let i = 0; i < 10; i++) await store.append("c", "stdout", line);
      // 30,000 > 25,000: the completed "a" goes first, whole.
      expect(Object.keys(store.usage().executions).sort()).toEqual(["b", "c"]);
      for (let i = 0; i < 10; i++) await store.append("d", "stdout", line);
      const usage = store.usage();
      expect(usage.totalBytes).toBeLessThanOrEqual(25_000);
      expect(usage.executionsRemoved).toBe(1);
      // Running executions lose their oldest lines, never their newest.
      for (const id of ["b", "c", "d"]) {
        const last = (await items(await read(store, {}, id))).at(-1);
        expect(last).toBe(10);
      }
    });

    it("removes completed executions past the age limit, never running ones", async () => {
      const store = new MemoryLogStore({ maxLogAgeMs: 60_000 });
      await store.append("done", "stdout", "x");
      await store.complete("done", 0);
      await store.append("running", "stdout", "x");
      expect(Object.keys(store.sweep(Date.now() + 30_000).executions).sort()).toEqual([
        "done",
        "running",
      ]);
      expect(Object.keys(store.sweep(Date.now() + 120_000).executions)).toEqual(["running"]);
      await expect(read(store, {}, "done")).rejects.toBeInstanceOf(ExecutionNotFoundError);
    });

    it("stays bounded in memory over many appends", async () => {
      const store = new MemoryLogStore({ maxEntriesPerExecution: 100 });
      for (let i = 0; i < 50_000; i++) await store.append(EXEC, "stdout", "x");
      const reader = await read(store);
      expect(seqs(await collect(reader))).toEqual(
        Array.from({ length: 100 }, (_, i) => 49_901 + i),
      );
    });
  });
});
