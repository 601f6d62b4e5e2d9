/**
 * Command-line sizes and retention durations: `--max-log-bytes 10MB`, `--max-store-bytes 1GiB`,
 * `--max-log-age 7d`. Units follow SI and IEC: kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
 * powers of 1024, and docker's bare k/m/g (as in `--log-opt max-size=10m`) are 1024-based too.
 * "unlimited" (or "none") turns a limit off.
 */
import { InvalidArgumentError } from "commander";
import { parseDuration } from "./parse.js";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

const UNLIMITED = new Set(["unlimited", "none", "inf", "infinity"]);

/** "10MB" → 10000000, "1GiB" → 1073741824, "512k" → 524288, "4096" → 4096, "unlimited" → Infinity. */
export function parseSize(value: string): number {
  const text = value.trim().toLowerCase();
  if (UNLIMITED.has(text)) return Number.POSITIVE_INFINITY;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text);
  const unit = match === null ? undefined : SIZE_UNITS[match[2]!];
  if (match === null || unit === undefined) {
    throw new InvalidArgumentError(
      'expected a size such as "10MB", "64MiB", "1GiB", "512k" or a number of bytes, or "unlimited"',
    );
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError("too large");
  return bytes;
}

/** "7d", "12h", "1h30m", "90s" → milliseconds; "unlimited" → Infinity. */
export function parseRetentionAge(value: string): number {
  const text = value.trim().toLowerCase();
  if (UNLIMITED.has(text)) return Number.POSITIVE_INFINITY;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1) {
    throw new InvalidArgumentError(
      'expected a duration such as "7d", "12h", "1h30m", or "unlimited"',
    );
  }
  return ms;
}

/** "10MB (10000000 bytes)" for messages; "unlimited" for Infinity. */
export function describeSize(bytes: number): string {
  return bytes === Number.POSITIVE_INFINITY ? "unlimited" : `${bytes} bytes`;
}
