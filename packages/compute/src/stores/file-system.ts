// The file-system helpers the file store's modules share: symlink-refusing opens, errno checks
// and directory fsync.
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Refuses to open a symbolic link (where the platform supports it). */
export const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string";
}

/** fsyncs a directory so a rename or a new file in it is durable; a no-op where unsupported. */
export async function syncDirectory(dir: string): Promise<void> {
  try {
    const fh = await open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows cannot open or fsync a directory; nothing more can be done there.
  }
}
