// Finding the nats-server executable: NATS_SERVER_BIN, then PATH, then fallbacks (/usr/sbin).
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { NatsServerNotFoundError } from "./errors.js";

export interface FindNatsServerOptions {
  /** Environment to read NATS_SERVER_BIN and PATH from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Last-resort locations, tried after PATH (default: /usr/sbin/nats-server). */
  fallbackPaths?: readonly string[];
}

const DEFAULT_FALLBACKS = ["/usr/sbin/nats-server"] as const;

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Locates nats-server: NATS_SERVER_BIN, then `nats-server` on PATH, then the fallbacks.
 * An explicit NATS_SERVER_BIN that is not executable is an error rather than a reason to
 * fall through: silently testing against a different binary than the one asked for would
 * be worse than failing.
 */
export function findNatsServerBinary(options: FindNatsServerOptions = {}): string {
  const env = options.env ?? process.env;
  const explicit = env["NATS_SERVER_BIN"];
  if (explicit !== undefined && explicit !== "") {
    if (isExecutableFile(explicit)) return explicit;
    throw new NatsServerNotFoundError(
      [explicit],
      `NATS_SERVER_BIN=${explicit} is not an executable file`,
    );
  }

  const searched: string[] = [];
  for (const dir of (env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "nats-server");
    searched.push(candidate);
    if (isExecutableFile(candidate)) return candidate;
  }
  for (const candidate of options.fallbackPaths ?? DEFAULT_FALLBACKS) {
    searched.push(candidate);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new NatsServerNotFoundError(searched);
}
