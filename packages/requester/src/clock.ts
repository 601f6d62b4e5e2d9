// Monotonic time for every timer and liveness judgement, and its conversion to epoch ms.
import { performance } from "node:perf_hooks";

/** Monotonic milliseconds: liveness must not jump with the wall clock (NTP, suspend). */
export const monotonicNow = (): number => performance.now();

/** A monotonic time as epoch milliseconds, for reports. */
export const toEpochMs = (monotonic: number): number =>
  Math.round(performance.timeOrigin + monotonic);
