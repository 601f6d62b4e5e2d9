// Where a read of one execution's file log starts and where its history ends: computed once, when
// the read opens, from the active log, the sealed segments and the read options (tail: a backward
// scan from the end, across segments; fromSeq and since: binary searches over byte offsets in the
// segment that holds the start); and the files a read moves on to later.
import type { FileHandle } from "node:fs/promises";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import { type LogReadOptions, type RemovedLines, removedLines } from "../log-source.js";
import {
  backwardLines,
  completeLinesEnd,
  firstEntry,
  lastEntry,
  parseLine,
  type ReadStats,
  searchFirst,
} from "./file-lines.js";
import { listSegments, openSegment, type Segment } from "./file-segments.js";

/** One file of the log a read may visit: a sealed segment (by path) or the active log. */
export interface LogFile {
  firstSeq: number;
  /** Undefined for the active log opened with the read. */
  path: string | undefined;
}

/** The active log as the read opened it, and how reads are counted. */
export interface OpenedLog {
  fh: FileHandle;
  /** The end of its last complete line at open (byte offset). */
  end: number;
  stats: ReadStats;
}

/** A position in the log: a file (index into the files) and a byte offset in it. */
export interface FilePosition {
  file: number;
  offset: number;
}

export interface ReadStart {
  /** The files the read may visit, oldest first; the last is the active log. */
  files: LogFile[];
  /** Where the read starts. */
  at: FilePosition;
  afterSeq: number;
  lastSeqAtOpen: number;
  firstSeqAtOpen: number;
  /** The range asked for that retention had removed before the read opened. */
  removedAtOpen: RemovedLines | null;
}

/** The sealed segments older than the active log (whose first seq is `activeFirst`). */
export async function segmentsBefore(
  segDir: string,
  activeFirst: number | undefined,
): Promise<Segment[]> {
  // A segment that starts where the active log does is the active log itself (a rotation in
  // progress, or one that happened after the store opened it): it is read as the active log.
  return (await listSegments(segDir)).filter(
    (s) => activeFirst === undefined || s.firstSeq < activeFirst,
  );
}

export async function findReadStart(
  log: OpenedLog,
  segDir: string,
  options: LogReadOptions,
  streams: ReadonlySet<LogStreamName> | null,
): Promise<ReadStart> {
  const { fh: active, end, stats } = log;
  const activeFirst = (await firstEntry(active, stats, end))?.seq;
  const segments = await segmentsBefore(segDir, activeFirst);
  const files: LogFile[] = segments.map((s) => ({ firstSeq: s.firstSeq, path: s.path }));
  let last = await lastEntry(active, stats, end);
  if (last === undefined && segments.length > 0) {
    last = await withFile(log, segments[segments.length - 1]!, (fh, e) => lastEntry(fh, stats, e));
  }
  const lastSeqAtOpen = last?.seq ?? 0;
  files.push({ firstSeq: activeFirst ?? lastSeqAtOpen + 1, path: undefined });
  const firstHeld = files[0]!.firstSeq;
  let afterSeq = 0;
  let removedAtOpen: RemovedLines | null = null;

  const { tail, fromSeq, since } = options;
  // Where the read starts: a file and an offset in it; the end of the active log by default.
  let at: FilePosition = { file: files.length - 1, offset: end };
  let removedFrom: number | undefined;
  if (fromSeq !== undefined) {
    afterSeq = fromSeq;
    if (fromSeq < lastSeqAtOpen) {
      if (fromSeq + 1 < firstHeld) {
        removedFrom = fromSeq + 1;
        at = { file: 0, offset: 0 };
      } else {
        const file = lastIndexWhere(files, (f) => f.firstSeq <= fromSeq + 1);
        at = { file, offset: await search(log, files[file]!, (e) => e.seq > fromSeq) };
      }
    }
    if (since !== undefined && at.file < files.length - 1) {
      const bySince = await searchSince(log, files, since);
      if (bySince.file > at.file || (bySince.file === at.file && bySince.offset > at.offset)) {
        at = bySince;
        removedFrom = undefined;
      }
    }
  } else if (tail === 0) {
    afterSeq = lastSeqAtOpen;
  } else if (tail !== undefined) {
    const found = await findTail(log, files, tail, since, streams);
    at = found.at;
    if (found.count < tail && !found.stoppedBySince && firstHeld > 1) {
      // Fewer lines than asked for: some of the removed ones would have been in the tail (all
      // of them may have been, with a filter: which of them matched is not known any more).
      removedFrom = streams === null ? Math.max(1, lastSeqAtOpen - tail + 1) : 1;
    }
    afterSeq = found.afterSeq;
  } else if (since !== undefined) {
    at = await searchSince(log, files, since);
    if (at.file === 0 && at.offset === 0) removedFrom = 1;
  } else {
    at = { file: 0, offset: 0 };
    removedFrom = 1;
  }
  if (removedFrom !== undefined && removedFrom < firstHeld) {
    removedAtOpen = removedLines(removedFrom, firstHeld - 1);
    if (tail !== undefined && fromSeq === undefined) afterSeq = removedFrom - 1;
  }
  return { files, at, afterSeq, lastSeqAtOpen, firstSeqAtOpen: firstHeld, removedAtOpen };
}

/**
 * The files of the log as they are now, the active log last (`active`, just opened): where a
 * read moves on to after the file it read was sealed or removed. An empty active log (just
 * rotated) starts after the newest segment's last line, or at `fallbackFirst` without segments.
 */
export async function logFilesNow(
  active: OpenedLog,
  segDir: string,
  fallbackFirst: number,
): Promise<LogFile[]> {
  const { stats } = active;
  const activeFirst = (await firstEntry(active.fh, stats, active.end))?.seq;
  const segments = await segmentsBefore(segDir, activeFirst);
  const files: LogFile[] = segments.map((s) => ({ firstSeq: s.firstSeq, path: s.path }));
  let activeStart = activeFirst;
  const newest = segments[segments.length - 1];
  if (activeStart === undefined && newest !== undefined) {
    const last = await withFile(active, newest, (fh, end) => lastEntry(fh, stats, end));
    activeStart = last === undefined ? newest.firstSeq : last.seq + 1;
  }
  files.push({ firstSeq: activeStart ?? fallbackFirst, path: undefined });
  return files;
}

/** Opens a sealed segment for one look (the active log is the opened one); undefined when it is gone. */
export async function withFile<T>(
  log: OpenedLog,
  segment: Segment | LogFile,
  use: (fh: FileHandle, end: number) => Promise<T>,
): Promise<T | undefined> {
  if (segment.path === undefined) return use(log.fh, log.end);
  const fh = await openSegment(segment.path);
  if (fh === null) return undefined;
  try {
    const end = await completeLinesEnd(fh, log.stats, (await fh.stat()).size);
    return await use(fh, end);
  } finally {
    await fh.close();
  }
}

/** The start of the first line satisfying `pred` in a file (its end when none does). */
async function search(
  log: OpenedLog,
  file: LogFile,
  pred: (e: LogEntry) => boolean,
): Promise<number> {
  return (await withFile(log, file, (fh, end) => searchFirst(fh, log.stats, end, pred))) ?? 0;
}

/** Where the first line with time >= since is: times never decrease across files either. */
async function searchSince(log: OpenedLog, files: LogFile[], since: number): Promise<FilePosition> {
  for (let i = files.length - 1; i >= 0; i--) {
    const first = await withFile(log, files[i]!, (fh, end) => firstEntry(fh, log.stats, end));
    if (first !== undefined && first.time < since) {
      return { file: i, offset: await search(log, files[i]!, (e) => e.time >= since) };
    }
  }
  return { file: 0, offset: 0 };
}

/**
 * Scans backwards from the end for the last `tail` matching lines, from the active log into
 * older segments. With `since`, the scan stops at the first line older than `since`.
 */
async function findTail(
  log: OpenedLog,
  files: LogFile[],
  tail: number,
  since: number | undefined,
  streams: ReadonlySet<LogStreamName> | null,
): Promise<{ at: FilePosition; count: number; afterSeq: number; stoppedBySince: boolean }> {
  let count = 0;
  let first: { file: number; start: number; seq: number } | null = null;
  let stoppedBySince = false;
  for (let i = files.length - 1; i >= 0 && count < tail && !stoppedBySince; i--) {
    await withFile(log, files[i]!, async (fh, end) => {
      scan: for await (const lines of backwardLines(fh, log.stats, end)) {
        for (const raw of lines) {
          const entry = parseLine(raw.text);
          if (entry === undefined) continue;
          if (since !== undefined && entry.time < since) {
            stoppedBySince = true;
            break scan;
          }
          if (streams !== null && !streams.has(entry.stream)) continue;
          count++;
          first = { file: i, start: raw.start, seq: entry.seq };
          if (count >= tail) break scan;
        }
      }
    });
  }
  const found = first as { file: number; start: number; seq: number } | null;
  return {
    at:
      found === null
        ? { file: files.length - 1, offset: log.end }
        : { file: found.file, offset: found.start },
    count,
    // With fewer matching lines than asked for, the read covers the whole (filtered) history.
    afterSeq: found !== null && count >= tail ? found.seq - 1 : 0,
    stoppedBySince,
  };
}

/** The last index whose element satisfies `pred` (elements sorted so that it holds for a prefix). */
export function lastIndexWhere<T>(items: readonly T[], pred: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return i;
  return -1;
}
