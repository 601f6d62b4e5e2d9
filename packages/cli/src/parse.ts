// Parsers of command-line values (commander argParsers): integers, durations, --since, --tail and
// --stream; a bad value is a usage error that names what was accepted.
import { InvalidArgumentError } from "commander";

/** A commander argParser for a non-negative integer (commander reports the error: exit 2). */
export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value.trim()))
    throw new InvalidArgumentError("expected a non-negative integer");
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("too large");
  return n;
}

/** A commander argParser for an integer >= 1. */
export function positiveInteger(value: string): number {
  const n = nonNegativeInteger(value);
  if (n < 1) throw new InvalidArgumentError("expected an integer >= 1");
  return n;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** "90s", "10m", "1h30m", "500ms", "2d" → milliseconds; undefined when it is not a duration. */
export function parseDuration(value: string): number | undefined {
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? 0);
  }
  return Math.round(total);
}

/**
 * `--since` / `--until`: a duration back from now ("10m", "1h30m", "45s"), an RFC 3339 timestamp
 * ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00") or a unix timestamp in seconds
 * ("1714564800", "1714564800.250", as docker takes them). Returns ms since the epoch.
 */
export function parseSince(value: string, now: number = Date.now()): number {
  const duration = parseDuration(value);
  if (duration !== undefined) return Math.max(0, now - duration);
  if (/^\d+(\.\d+)?$/.test(value.trim())) {
    const ms = Math.round(Number(value.trim()) * 1000);
    if (Number.isSafeInteger(ms)) return ms;
  }
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;
  if (rfc3339.test(value.trim())) {
    const time = Date.parse(value.trim().replace(" ", "T"));
    if (!Number.isNaN(time) && time >= 0) return time;
  }
  throw new InvalidArgumentError(
    'expected a duration back from now ("10m", "1h30m", "45s"), an RFC 3339 time ("2024-05-01T12:00:00Z") or a unix timestamp in seconds ("1714564800")',
  );
}

/** A commander argParser for `--since`. */
export function sinceArgument(value: string): number {
  return parseSince(value);
}

/** What `tailArgument` returns for every line (commander keeps the raw text for undefined). */
export const TAIL_ALL = -1;

/**
 * `--tail` / `-n`: a number of lines, or every line: "all" or "-1" (kubectl's and docker's
 * spellings), returned as TAIL_ALL: the same as no --tail.
 */
export function tailArgument(value: string): number {
  const text = value.trim().toLowerCase();
  if (text === "all" || text === "-1") return TAIL_ALL;
  try {
    return nonNegativeInteger(text);
  } catch {
    throw new InvalidArgumentError('expected a number of lines, or "all" (or -1) for every line');
  }
}

export const STREAM_NAMES = ["stdout", "stderr"] as const;

/**
 * `--stream`, repeatable and comma-separated: `--stream stdout --stream stderr`,
 * `--stream stdout,stderr`. Accumulates into a list without duplicates.
 */
export function streamsArgument(
  value: string,
  previous: (typeof STREAM_NAMES)[number][] | undefined,
): (typeof STREAM_NAMES)[number][] {
  const streams = [...(previous ?? [])];
  for (const name of value.split(",").map((s) => s.trim())) {
    if (!(STREAM_NAMES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(
        `expected ${STREAM_NAMES.join(" or ")}, got ${JSON.stringify(name)}`,
      );
    }
    const stream = name as (typeof STREAM_NAMES)[number];
    if (!streams.includes(stream)) streams.push(stream);
  }
  return streams;
}

/** A duration option ("30s", "2m", "500ms"; "0" for none): milliseconds. */
export function durationArgument(value: string): number {
  if (value.trim() === "0") return 0;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new InvalidArgumentError('expected a duration ("30s", "2m", "500ms") or 0');
  return ms;
}
