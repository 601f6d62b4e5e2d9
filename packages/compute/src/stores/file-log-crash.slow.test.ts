// Crash safety of rotation: a writer process SIGKILLed again and again while it rotates a small
// log (a rotation every few dozen lines, each a datasync, a link, a rename and two directory
// fsyncs, so kills land inside them). After every kill the store reopens cleanly: what remains is
// contiguous up to the last line written, nothing acknowledged is lost beyond what the cap
// removes, the next writer goes on with the next seq, and no half rotation is left behind.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogEntry } from "@tailwire/protocol";
import { NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RemovedLines } from "../log-source.js";
import { readHistory } from "../test-helpers/read-items.js";
import { FileLogStore } from "./file-log-store.js";

const WRITER = fileURLToPath(new URL("../test-helpers/rotating-writer.mjs", import.meta.url));
const DIST = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
const CAP = 16 * 1024;
/** Where each round's writer dies: at a chosen step of a rotation, or wherever a SIGKILL finds it. */
const CRASHES = [
  "after-link",
  "before-rename",
  "after-rename",
  "before-unlink",
  "anywhere",
  "after-link",
  "before-rename",
  "after-rename",
  "before-unlink",
  "anywhere",
  "anywhere",
  "anywhere",
] as const;
const ROUNDS = CRASHES.length;

let dir: string;
beforeAll(async () => {
  dir = join(await mkdtemp(join(tmpdir(), "tailwire-crash-")), "logs");
});
afterAll(async () => {
  await rm(join(dir, ".."), { recursive: true, force: true });
});

/** A crash inside rotate(): the new active log prepared, or the old one linked but not replaced. */
function halfRotated(id: string): boolean {
  const segDir = join(dir, `${id}.seg`);
  if (!existsSync(segDir)) return false;
  const names = readdirSync(segDir).sort();
  if (names.includes(".next-active.tmp")) return true;
  const newest = names.filter((n) => n.endsWith(".log")).at(-1);
  return (
    newest !== undefined &&
    statSync(join(segDir, newest)).ino === statSync(join(dir, `${id}.log`)).ino
  );
}

describe("FileLogStore: SIGKILL of the writer during rotation", () => {
  it(`survives ${ROUNDS} kills mid-write and mid-rotation: contiguous, nothing acknowledged lost, seqs go on`, async () => {
    expect(existsSync(DIST)).toBe(true); // the writer runs the built package
    const id = "crashy";
    let lastOnDisk = 0;
    let halfStates = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const crash = CRASHES[round]!;
      const writer = await NodeProcess.start({
        script: WRITER,
        args: [dir, id, String(CAP), crash],
        readyLine: /^first \d+$/,
      });
      const first = Number(writer.stdoutLines[0]!.split(" ")[1]);
      expect(first).toBe(lastOnDisk + 1); // seqs never start again, never skip
      if (crash === "anywhere") {
        // Let it run through a few rotations, then kill it wherever it is.
        const upTo = Math.ceil((first + 300) / 50) * 50;
        await writer.waitForLine(new RegExp(`^written ${upTo}$`), 20_000);
        await writer.kill("SIGKILL");
      } else {
        expect((await writer.waitForExit(20_000)).signal).toBe("SIGKILL");
      }
      const acknowledged = Math.max(
        first,
        ...writer.stdoutLines
          .filter((l) => l.startsWith("written "))
          .map((l) => Number(l.slice(8))),
      );
      const half = halfRotated(id);
      if (crash === "after-link" || crash === "before-rename") expect(half).toBe(true);
      if (crash === "after-rename" || crash === "before-unlink") expect(half).toBe(false);
      if (half) halfStates++;

      const store = new FileLogStore({ dir, sweepIntervalMs: 0, maxLogBytes: CAP });
      try {
        const items = await readHistory(store, id);
        const entries = items.filter((i): i is LogEntry => !("kind" in i));
        const notices = items.filter((i): i is RemovedLines => "kind" in i);
        // One notice at most, for 1..(first held - 1); then contiguous to the last line.
        expect(notices.length).toBeLessThanOrEqual(1);
        const start = notices[0] === undefined ? 1 : notices[0].toSeq + 1;
        if (notices[0] !== undefined) expect(notices[0].fromSeq).toBe(1);
        expect(entries[0]?.seq).toBe(start);
        expect(entries.every((e, i) => e.seq === start + i)).toBe(true);
        lastOnDisk = entries.at(-1)!.seq;
        expect(lastOnDisk).toBeGreaterThanOrEqual(acknowledged);
      } finally {
        await store.close();
      }
    }
    // A writer in this process reopens cleanly too: no half rotation left, seqs go on.
    const store = new FileLogStore({ dir, sweepIntervalMs: 0, maxLogBytes: CAP });
    try {
      expect((await store.append(id, "stderr", "after the crashes")).seq).toBe(lastOnDisk + 1);
      expect(halfRotated(id)).toBe(false);
      let bytes = statSync(join(dir, `${id}.log`)).size;
      for (const name of readdirSync(join(dir, `${id}.seg`))) {
        bytes += statSync(join(dir, `${id}.seg`, name)).size;
      }
      expect(bytes).toBeLessThanOrEqual(CAP + 4 * 200);
    } finally {
      await store.close();
    }
    expect(halfStates).toBeGreaterThanOrEqual(4);
    console.log(`${ROUNDS} kills, ${halfStates} of them left a half rotation behind`);
  }, 120_000);
});
