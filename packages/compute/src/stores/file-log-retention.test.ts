// FileLogStore retention: bounded logs in sealed segments, removal notices for readers that ask
// for removed lines or fall behind, recovery after a restart, the store-wide budget and age.
import { existsSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogEntry } from "@tailwire/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LogReadOptions, RemovedLines } from "../log-source.js";
import { type ReadItem, readItems } from "../test-helpers/read-items.js";
import { FileLogStore, type FileLogStoreOptions } from "./file-log-store.js";

let root: string;
let dir: string;
const stores: FileLogStore[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "tailwire-retention-"));
  dir = join(root, "logs");
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

function newStore(options: Partial<FileLogStoreOptions> = {}): FileLogStore {
  const store = new FileLogStore({ dir, pollIntervalMs: 20, sweepIntervalMs: 0, ...options });
  stores.push(store);
  return store;
}

const opts = (options: Partial<LogReadOptions> = {}): LogReadOptions => ({
  follow: false,
  signal: new AbortController().signal,
  ...options,
});

type Item = ReadItem;

/** Every seq covered once, in order: notices' ranges and entries' seqs. */
function coverage(items: Item[]): number[] {
  const out: number[] = [];
  for (const item of items) {
    if ("kind" in item) for (let s = item.fromSeq; s <= item.toSeq; s++) out.push(s);
    else out.push(item.seq);
  }
  return out;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Appends `count` lines of `bytes` characters, in chunks (appends queue in call order). */
async function write(store: FileLogStore, id: string, first: number, count: number, bytes = 100) {
  const pad = "x".repeat(Math.max(0, bytes - 12));
  for (let i = 0; i < count; i += 4096) {
    const batch: Promise<LogEntry>[] = [];
    for (let j = i; j < Math.min(count, i + 4096); j++) {
      batch.push(store.append(id, "stdout", `${String(first + j).padStart(10, "0")} ${pad}`));
    }
    await Promise.all(batch);
  }
}

function diskBytes(id: string): number {
  let total = existsSync(join(dir, `${id}.log`)) ? statSync(join(dir, `${id}.log`)).size : 0;
  const segDir = join(dir, `${id}.seg`);
  if (existsSync(segDir)) {
    for (const name of readdirSync(segDir)) total += statSync(join(segDir, name)).size;
  }
  return total;
}

describe("FileLogStore retention: one execution", () => {
  it("keeps a 120 MB log within its 10 MB cap; a read gets the removal notice, then the newest lines contiguous to the last", async () => {
    const cap = 10 * 1024 * 1024;
    const store = newStore({ maxLogBytes: cap });
    const lineBytes = 1000;
    const count = 120_000; // ~121 MB of NDJSON
    await write(store, "big", 1, count, lineBytes);
    await store.complete("big", 0);
    const onDisk = diskBytes("big");
    // The stated overhead: the active log may pass its segment size by one write (<= 4096 lines).
    expect(onDisk).toBeLessThanOrEqual(cap + 4096 * (lineBytes + 80));
    expect(onDisk).toBeGreaterThan(cap / 2);

    const items = await readItems(await store.open("big", opts()));
    const first = items[0] as RemovedLines;
    expect(first).toMatchObject({ kind: "removed", reason: "retention", fromSeq: 1 });
    expect(coverage(items)).toEqual(range(1, count));
    expect(items.slice(1).every((i) => !("kind" in i))).toBe(true);
    expect((items.at(-1) as LogEntry).seq).toBe(count);
  }, 60_000);

  it("serves fromSeq, tail and since across segments, with a notice only for what was removed", async () => {
    const store = newStore({ maxLogBytes: 64 * 1024 });
    await write(store, "e", 1, 3000, 100); // ~330 KB: most of it removed
    const whole = await readItems(await store.open("e", opts()));
    const firstHeld = (whole[0] as RemovedLines).toSeq + 1;
    expect(firstHeld).toBeGreaterThan(1000);

    // A tail inside what is held spans segments, with no notice.
    expect(3000 - firstHeld).toBeGreaterThan(200);
    const tail = await readItems(await store.open("e", opts({ tail: 200 })));
    expect(coverage(tail)).toEqual(range(2801, 3000));
    expect(tail.some((i) => "kind" in i)).toBe(false);

    // A tail larger than what is held: the notice covers exactly the missing part of the tail.
    const bigTail = await readItems(await store.open("e", opts({ tail: 2500 })));
    expect(bigTail[0]).toEqual({
      kind: "removed",
      reason: "retention",
      fromSeq: 501,
      toSeq: firstHeld - 1,
    });
    expect(coverage(bigTail)).toEqual(range(501, 3000));

    // fromSeq in the removed part: the notice starts right after it.
    const reader = await store.open("e", opts({ fromSeq: 10 }));
    expect(reader.afterSeq).toBe(10);
    expect(reader.firstSeqAtOpen).toBe(firstHeld);
    const resumed = await readItems(reader);
    expect(resumed[0]).toMatchObject({ kind: "removed", fromSeq: 11, toSeq: firstHeld - 1 });
    expect(coverage(resumed)).toEqual(range(11, 3000));

    // fromSeq inside what is held (in a sealed segment): no notice.
    const inside = await readItems(await store.open("e", opts({ fromSeq: firstHeld + 10 })));
    expect(coverage(inside)).toEqual(range(firstHeld + 11, 3000));
    expect(inside.some((i) => "kind" in i)).toBe(false);
  });

  it("finds `since` across segments", async () => {
    const store = newStore({ maxLogBytes: 64 * 1024 });
    const batch: Promise<LogEntry>[] = [];
    for (let seq = 1; seq <= 3000; seq++) {
      batch.push(store.append("t", "stdout", `line ${seq} ${"y".repeat(80)}`, 1_000_000 + seq));
    }
    await Promise.all(batch);
    const firstHeld =
      ((await readItems(await store.open("t", opts())))[0] as RemovedLines).toSeq + 1;
    const since = 1_000_000 + firstHeld + 100;
    const items = await readItems(await store.open("t", opts({ since })));
    expect(coverage(items)).toEqual(range(firstHeld + 100, 3000));
    expect(items.some((i) => "kind" in i)).toBe(false);
    // Since older than everything held: the removed lines may have matched, so say so.
    const old = await readItems(await store.open("t", opts({ since: 1_000_000 })));
    expect(old[0]).toMatchObject({ kind: "removed", fromSeq: 1, toSeq: firstHeld - 1 });
  });

  it("keeps sequence numbers across a restart, even right after a rotation", async () => {
    const segment = 16 * 1024;
    let store = newStore({ maxLogBytes: segment * 4 });
    await write(store, "r", 1, 1000, 100);
    await store.close();
    // The newest lines may all be in sealed segments (empty active log): seqs still go on.
    store = newStore({ maxLogBytes: segment * 4 });
    const next = await store.append("r", "stderr", "after restart");
    expect(next.seq).toBe(1001);
    const items = await readItems(await store.open("r", opts()));
    expect(coverage(items)).toEqual(range(1, 1001));
  });

  it("a follow slower than retention gets a notice for exactly what it missed, then goes on", async () => {
    const store = newStore({ maxLogBytes: 32 * 1024 });
    await store.create("f");
    const controller = new AbortController();
    const reader = await store.open("f", opts({ follow: true, signal: controller.signal }));
    const items: Item[] = [];
    const total = 20_000;
    let written = 0;
    const writer = (async () => {
      while (written < total) {
        await write(store, "f", written + 1, 500, 100);
        written += 500;
      }
      await store.complete("f", 0);
    })();
    // The follower reads one batch, then waits until the writer is 2000 lines further: it falls
    // behind a log that keeps only ~300 lines, so retention removes lines it has not read.
    for await (const item of reader) {
      if (Array.isArray(item)) items.push(...item);
      else items.push(item);
      const target = Math.min(total, written + 2000);
      while (written < target) await new Promise((r) => setImmediate(r));
    }
    await writer;
    const notices = items.filter((i) => "kind" in i);
    expect(notices.length).toBeGreaterThan(1);
    expect(coverage(items)).toEqual(range(1, total));
    expect(reader.exitCode).toBe(0);
  }, 60_000);

  it("reports usage per execution and in total", async () => {
    const store = newStore({ maxLogBytes: 64 * 1024 });
    await write(store, "u1", 1, 100, 100);
    await write(store, "u2", 1, 2000, 100);
    const usage = await store.sweep();
    expect(usage.executions.u1).toBe(diskBytes("u1"));
    expect(usage.executions.u2).toBe(diskBytes("u2"));
    expect(usage.totalBytes).toBe(diskBytes("u1") + diskBytes("u2"));
    expect(store.usage()).toEqual(usage);
  });
});

describe("FileLogStore retention: the store", () => {
  it("keeps many executions within the store budget, oldest data first, never a running log's newest lines", async () => {
    const budget = 512 * 1024;
    const store = newStore({ maxLogBytes: 128 * 1024, maxStoreBytes: budget });
    const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    for (const id of ids) {
      await write(store, id, 1, 1200, 100); // ~130 KB each, capped at 128 KB
      if (id !== "job-9") await store.complete(id, 0);
    }
    const before = await readItems(await store.open("job-9", opts({ tail: 1 })));
    const usage = await store.sweep();
    expect(usage.totalBytes).toBeLessThanOrEqual(budget);
    // The oldest completed executions went; the running one keeps its newest line.
    expect(existsSync(join(dir, "job-0.log"))).toBe(false);
    expect(existsSync(join(dir, "job-0.exit"))).toBe(false);
    expect(existsSync(join(dir, "job-0.seg"))).toBe(false);
    const after = await readItems(await store.open("job-9", opts({ tail: 1 })));
    expect(after).toEqual(before);
    expect(usage.executionsRemoved).toBeGreaterThan(0);
  });

  it("removes completed executions past the age limit, never running ones", async () => {
    const store = newStore({ maxLogAgeMs: 60_000 });
    await write(store, "done-old", 1, 10);
    await store.complete("done-old", 0);
    await write(store, "done-new", 1, 10);
    await store.complete("done-new", 0);
    await write(store, "running-old", 1, 10);
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, "done-old.exit"), past, past);
    utimesSync(join(dir, "running-old.log"), past, past);
    const usage = await store.sweep();
    expect(Object.keys(usage.executions).sort()).toEqual(["done-new", "running-old"]);
    expect(existsSync(join(dir, "done-old.log"))).toBe(false);
    await expect(store.open("done-old", opts())).rejects.toMatchObject({
      code: "EXECUTION_NOT_FOUND",
    });
    expect(coverage(await readItems(await store.open("running-old", opts())))).toEqual(
      range(1, 10),
    );
  });

  it("finishes a removal that a crash left half done (a segment directory or exit marker without a log)", async () => {
    const store = newStore({ maxLogBytes: 16 * 1024 });
    await write(store, "gone", 1, 500, 100);
    await store.complete("gone", 0);
    rmSync(join(dir, "gone.log")); // the log goes first: the crash came after it
    expect(existsSync(join(dir, "gone.seg"))).toBe(true);
    await store.sweep();
    expect(readdirSync(dir).filter((n) => n.startsWith("gone"))).toEqual([]);
  });

  it("validates its limits", () => {
    expect(() => newStore({ maxLogBytes: 10 })).toThrow(RangeError);
    expect(() => newStore({ maxStoreBytes: -1 })).toThrow(RangeError);
    expect(() => newStore({ maxLogAgeMs: Number.NaN })).toThrow(RangeError);
    expect(newStore({ maxLogBytes: Number.POSITIVE_INFINITY }).limits.maxLogBytes).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});
