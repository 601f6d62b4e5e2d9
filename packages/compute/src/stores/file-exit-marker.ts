// An execution's exit marker, `<id>.exit`: read it (null while the execution runs) and write it
// durably and atomically.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isErrnoException, O_NOFOLLOW, syncDirectory } from "./file-system.js";

/** What `<id>.exit` holds: `{"exitCode":0}` (null when the process was killed by a signal). */
export interface ExitMarker {
  exitCode: number | null;
}

/** The execution's exit marker, or null when it has not completed. */
export async function readExitMarker(path: string): Promise<ExitMarker | null> {
  let text: string;
  try {
    const fh = await open(path, constants.O_RDONLY | O_NOFOLLOW);
    try {
      text = await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (error) {
    if (isErrnoException(error) && (error.code === "ENOENT" || error.code === "ENOTDIR")) {
      return null;
    }
    throw error;
  }
  // The marker is written atomically (rename), so it is never half written; a marker that is not
  // what we write still means "completed", with an unknown exit code.
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null) {
      const { exitCode } = value as Record<string, unknown>;
      if (exitCode === null || (typeof exitCode === "number" && Number.isSafeInteger(exitCode))) {
        return { exitCode };
      }
    }
  } catch {
    // fall through
  }
  return { exitCode: null };
}

/**
 * Writes `<dir>/<id>.exit` durably and atomically: a temporary file (a dot name, which can never
 * be an execution's file since execution ids start with a letter or digit) is written, fsynced
 * and renamed over the marker, then the directory is fsynced so the rename survives a crash.
 */
export async function writeExitMarker(
  dir: string,
  executionId: string,
  path: string,
  marker: ExitMarker,
): Promise<void> {
  const tmp = join(
    dir,
    `.${executionId}.exit.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW,
    0o644,
  );
  try {
    try {
      await fh.writeFile(JSON.stringify({ exitCode: marker.exitCode }) + "\n", "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await syncDirectory(dir);
}
