/**
 * The store-wide retention of a FileLogStore directory: completed executions past the age limit
 * are removed, and while the directory holds more than the store's budget the oldest data goes
 * first (sealed segments of any execution, whole completed executions). The active log of a
 * running execution and its newest sealed segment are never removed: they hold its newest lines
 * and the seq its writer goes on from.
 *
 * It works from the directory alone (other processes write into it: a `tailwire exec` writes,
 * a compute node sweeps), and removes files with unlink only, which a reader holding them open
 * does not notice: it reads them to their end and then notices the gap (see FileLogReader).
 */
import { readdir, rmdir, stat } from "node:fs/promises";
import { isExecutionId } from "@tailwire/protocol";
import { listSegments, removeFile } from "./file-segments.js";

export interface SweepLimits {
  maxStoreBytes: number;
  maxLogAgeMs: number;
}

export interface SweepResult {
  /** Bytes per execution after the sweep. */
  executions: Record<string, number>;
  totalBytes: number;
  executionsRemoved: number;
  segmentsRemoved: number;
}

interface ExecutionFiles {
  id: string;
  activeBytes: number;
  /** Sealed segments oldest first, with size and last write time. */
  segments: { path: string; bytes: number; mtimeMs: number }[];
  /** When it completed (the exit marker's mtime); undefined while running. */
  completedAt: number | undefined;
}

async function sizeAndTime(
  path: string,
): Promise<{ size: number; mtimeMs: number; ino: number } | undefined> {
  try {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
  } catch {
    return undefined;
  }
}

async function scan(dir: string): Promise<ExecutionFiles[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const logs = new Set<string>();
  const others = new Set<string>();
  for (const name of names) {
    if (name.endsWith(".log")) logs.add(name.slice(0, -4));
    else if (name.endsWith(".exit")) others.add(name.slice(0, -5));
    else if (name.endsWith(".seg")) others.add(name.slice(0, -4));
  }
  const out: ExecutionFiles[] = [];
  for (const id of logs) {
    if (!isExecutionId(id)) continue;
    const active = await sizeAndTime(`${dir}/${id}.log`);
    if (active === undefined) continue;
    const exit = await sizeAndTime(`${dir}/${id}.exit`);
    const segments = [];
    for (const s of await listSegments(`${dir}/${id}.seg`)) {
      const st = await sizeAndTime(s.path);
      // A segment that is the active log itself is a rotation in progress: counted once.
      if (st !== undefined && st.ino !== active.ino)
        segments.push({ path: s.path, bytes: st.size, mtimeMs: st.mtimeMs });
    }
    out.push({ id, activeBytes: active.size, segments, completedAt: exit?.mtimeMs });
  }
  // Left over by a removal that crashed half way (the log goes first): finish it.
  for (const id of others) {
    if (!logs.has(id) && isExecutionId(id)) await removeRest(dir, id);
  }
  return out;
}

/** Removes an execution: the log first (it is the execution's existence), then the rest. */
async function removeExecution(dir: string, id: string): Promise<void> {
  await removeFile(`${dir}/${id}.log`);
  await removeRest(dir, id);
}

async function removeRest(dir: string, id: string): Promise<void> {
  const segDir = `${dir}/${id}.seg`;
  for (const s of await listSegments(segDir)) await removeFile(s.path);
  await removeFile(`${segDir}/.next-active.tmp`).catch(() => {});
  await rmdir(segDir).catch(() => {});
  await removeFile(`${dir}/${id}.exit`);
  await removeFile(`${dir}/${id}.job`);
}

const bytesOf = (e: ExecutionFiles): number =>
  e.activeBytes + e.segments.reduce((sum, s) => sum + s.bytes, 0);

export async function sweepStore(
  dir: string,
  limits: SweepLimits,
  now: number,
): Promise<SweepResult> {
  const executions = await scan(dir);
  let executionsRemoved = 0;
  let segmentsRemoved = 0;
  const kept: ExecutionFiles[] = [];
  for (const e of executions) {
    if (e.completedAt !== undefined && now - e.completedAt > limits.maxLogAgeMs) {
      await removeExecution(dir, e.id);
      executionsRemoved++;
    } else {
      kept.push(e);
    }
  }
  let total = kept.reduce((sum, e) => sum + bytesOf(e), 0);
  if (total > limits.maxStoreBytes) {
    // Everything that may go, oldest first: segments by their last write, a completed
    // execution's remaining log by its completion.
    type Candidate = { at: number; remove: () => Promise<number> };
    const candidates: Candidate[] = [];
    for (const e of kept) {
      const removable = e.completedAt === undefined ? e.segments.slice(0, -1) : e.segments;
      for (const s of removable) {
        candidates.push({
          at: s.mtimeMs,
          remove: async () => {
            if (!e.segments.includes(s)) return 0;
            if (await removeFile(s.path)) segmentsRemoved++;
            e.segments = e.segments.filter((x) => x !== s);
            return s.bytes;
          },
        });
      }
      if (e.completedAt !== undefined) {
        candidates.push({
          at: e.completedAt,
          remove: async () => {
            const bytes = bytesOf(e);
            await removeExecution(dir, e.id);
            executionsRemoved++;
            kept.splice(kept.indexOf(e), 1);
            return bytes;
          },
        });
      }
    }
    candidates.sort((a, b) => a.at - b.at);
    for (const c of candidates) {
      if (total <= limits.maxStoreBytes) break;
      total -= await c.remove();
    }
  }
  const perExecution: Record<string, number> = {};
  let totalBytes = 0;
  for (const e of kept) {
    const bytes = bytesOf(e);
    perExecution[e.id] = bytes;
    totalBytes += bytes;
  }
  return { executions: perExecution, totalBytes, executionsRemoved, segmentsRemoved };
}
