/**
 * The sealed segments of a FileLogStore execution: where they live, how they are listed and how
 * the active log becomes one (rotation). Nothing here knows about readers or retention policy.
 *
 * Layout: `<dir>/<id>.log` is always the active segment (the newest lines, the one being
 * written); older lines live in `<dir>/<id>.seg/<firstSeq>.log`, the first seq zero-padded to 16
 * digits so that names sort like seqs. A name says where its lines start; a segment ends where the
 * next one (or the active log) starts. Execution files end in `.log` or `.exit`, so `<id>.seg`
 * never collides with another execution's file, whatever dots the ids hold.
 */
import { constants } from "node:fs";
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
} from "node:fs/promises";
import { isErrnoException, O_NOFOLLOW } from "./file-system.js";

export interface Segment {
  /** Seq of the segment's first line. */
  firstSeq: number;
  path: string;
}

const SEGMENT_NAME = /^(\d{16})\.log$/;
/** Where the next active log is prepared before it replaces `<id>.log`. */
const NEXT_ACTIVE = ".next-active.tmp";

/** The segment directory of an execution, from its log path (`<dir>/<id>.log`). */
export function segmentDirOf(logPath: string): string {
  return `${logPath.slice(0, -".log".length)}.seg`;
}

export function segmentPath(segDir: string, firstSeq: number): string {
  return `${segDir}/${String(firstSeq).padStart(16, "0")}.log`;
}

/** The sealed segments, oldest first; none when the directory does not exist. */
export async function listSegments(segDir: string): Promise<Segment[]> {
  let names: string[];
  try {
    names = await readdir(segDir);
  } catch (error) {
    if (isErrnoException(error) && (error.code === "ENOENT" || error.code === "ENOTDIR")) return [];
    throw error;
  }
  const out: Segment[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m !== null) out.push({ firstSeq: Number(m[1]), path: `${segDir}/${name}` });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Opens a segment for reading; null when retention removed it meanwhile. */
export async function openSegment(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, constants.O_RDONLY | O_NOFOLLOW);
  } catch (error) {
    if (isErrnoException(error) && error.code === "ENOENT") return null;
    throw error;
  }
}

/** Removes a file; false when it was already gone. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isErrnoException(error) && error.code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Seals the active log as segment `firstSeq` and puts a new, empty active log in its place;
 * returns the new log's handle (O_APPEND). `<id>.log` exists at every instant: the old inode is
 * first linked under its segment name, then an empty file is renamed over `<id>.log` (atomic).
 * A crash between the two leaves both names on one inode: `undoHalfRotation` repairs it.
 * Readers holding the old inode keep reading it; it is final once renamed away. Nothing is
 * fsynced (appends are not either, only completion is): a process crash loses nothing the page
 * cache holds, and after a power loss the rotation is found done or half done, both repaired.
 */
export async function rotate(
  logPath: string,
  segDir: string,
  firstSeq: number,
): Promise<FileHandle> {
  await mkdir(segDir, { recursive: true });
  const sealed = segmentPath(segDir, firstSeq);
  await link(logPath, sealed);
  const nextPath = `${segDir}/${NEXT_ACTIVE}`;
  const fh = await open(
    nextPath,
    constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_TRUNC | O_NOFOLLOW,
    0o644,
  );
  try {
    await rename(nextPath, logPath);
  } catch (error) {
    await fh.close();
    throw error;
  }
  return fh;
}

/**
 * Repairs what a crash in the middle of `rotate` left: a newest segment that is the active log
 * itself (linked, not yet replaced) loses its segment name, and a prepared next log is removed.
 * Returns the segments that remain.
 */
export async function undoHalfRotation(
  logPath: string,
  segDir: string,
  segments: Segment[],
): Promise<Segment[]> {
  await removeFile(`${segDir}/${NEXT_ACTIVE}`).catch(() => {});
  const newest = segments[segments.length - 1];
  if (newest === undefined) return segments;
  const [a, b] = await Promise.all([stat(logPath), stat(newest.path)]);
  if (a.ino === b.ino && a.dev === b.dev) {
    await removeFile(newest.path);
    return segments.slice(0, -1);
  }
  return segments;
}
