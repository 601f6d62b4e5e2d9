// Resume policy: whether a broken stream is resumed, after what backoff, and when it gives up.
import type { TailwireError } from "@tailwire/protocol";

/** How a broken stream is resumed; `resume` option of LogStreamClient. */
export interface ResumeOptions {
  /** Resume attempts in a row without progress before giving up (default 5). */
  maxAttempts?: number;
  /** Time since the stream broke (without progress since) after which no attempt starts (default 30 s). */
  maxElapsedMs?: number;
  /** Backoff before the second attempt; it doubles per attempt (default 100 ms; the first attempt is immediate). */
  initialBackoffMs?: number;
  /** Ceiling of the backoff (default 2 s). */
  maxBackoffMs?: number;
}

/** Opt-in: keep resuming for a while after the compute node itself was lost (died, restarted). */
export interface ResumeAfterComputeLostOptions {
  /** How long after the loss attempts go on, whatever their number (no responders included). */
  forMs: number;
}

export interface ResumePolicy {
  maxAttempts: number;
  maxElapsedMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Set when resumeAfterComputeLost is on. */
  afterComputeLostMs: number | undefined;
}

export const RESUME_DEFAULTS = {
  maxAttempts: 5,
  maxElapsedMs: 30_000,
  initialBackoffMs: 100,
  maxBackoffMs: 2_000,
} as const;

/**
 * The wait before resume attempt `attempt` (1 = the first after the break): the first is
 * immediate (a lost frame or a reconnect is usually over by the time it is noticed), then
 * `initialBackoffMs × 2^(attempt-2)` capped at `maxBackoffMs`, with "equal jitter" (a random
 * value in [half, all] of it) so requesters that broke together do not retry together.
 */
export function backoffMs(
  policy: Pick<ResumePolicy, "initialBackoffMs" | "maxBackoffMs">,
  attempt: number,
  random: () => number = Math.random,
): number {
  if (attempt <= 1) return 0;
  const exponent = Math.min(attempt - 2, 30);
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** exponent);
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Why a stream broke, beyond its error: what the policy needs to know. */
export interface BreakContext {
  /** Monotonic ms. */
  now: number;
  /** Requests sent for this stream so far (1 = only the original request). */
  attempts: number;
  /** The compute node went silent (heartbeat sweep): it may be dead. */
  silent: boolean;
}

export type ResumeDecision =
  | { action: "resume"; delayMs: number; attempt: number }
  /** `exhausted`: the budget ran out (wrap the error in ResumeExhaustedError); otherwise end with `error` as is. */
  | {
      action: "end";
      error: TailwireError;
      exhausted: boolean;
      attempts: number;
      elapsedMs: number;
    };

/** One run of failures without progress in between. */
interface Episode {
  startedAt: number;
  /** Resume attempts decided in this episode. */
  attempts: number;
  /** The error that started it. */
  first: TailwireError;
  /** Deadline of a compute-lost episode (opt-in): attempts are then bounded by time only. */
  lostUntil: number | undefined;
}

/**
 * Decides, for one stream, whether a failure is resumed and after what delay. Consecutive
 * failures form an episode with a budget (attempts and time); progress (new entries, the compute
 * node listing the stream in a heartbeat, End) closes the episode, so a long follow survives any
 * number of separate outages.
 */
export class ResumeBudget {
  readonly #policy: ResumePolicy | undefined;
  readonly #random: () => number;
  #episode: Episode | undefined;

  constructor(policy: ResumePolicy | undefined, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** The stream is healthy again: the next failure starts a fresh budget. */
  progress(): void {
    this.#episode = undefined;
  }

  get inEpisode(): boolean {
    return this.#episode !== undefined;
  }

  decide(error: TailwireError, context: BreakContext): ResumeDecision {
    const policy = this.#policy;
    const end = (e: TailwireError, exhausted: boolean): ResumeDecision => ({
      action: "end",
      error: e,
      exhausted,
      attempts: this.#episode?.attempts ?? 0,
      elapsedMs: this.#episode ? context.now - this.#episode.startedAt : 0,
    });
    // Not found, bad request, cancelled, ...: asking again gives the same answer.
    if (!policy || !error.retryable) return end(error, false);
    const lostOptIn = policy.afterComputeLostMs;
    const nodeGone = error.code === "COMPUTE_NODE_LOST" && context.silent;
    const unreachable = error.code === "NODE_UNREACHABLE" || error.code === "ACCEPT_TIMEOUT";
    let episode = this.#episode;
    if (!episode) {
      // The original request found no compute node: fail fast, there is nothing to resume.
      if (unreachable && context.attempts <= 1) return end(error, false);
      // A silent node may be dead: by default that ends the stream (opt-in keeps trying).
      if (nodeGone && lostOptIn === undefined) return end(error, false);
      episode = { startedAt: context.now, attempts: 0, first: error, lostUntil: undefined };
      this.#episode = episode;
    }
    if (lostOptIn !== undefined && episode.lostUntil === undefined) {
      // Node lost, going away, or unreachable: from now on only the opt-in's time bounds us.
      if (nodeGone || unreachable || error.code === "GOING_AWAY") {
        episode.lostUntil = context.now + lostOptIn;
      }
    }
    if (episode.lostUntil === undefined) {
      if (nodeGone) return end(error, false);
      // It announced it is going away and now nobody answers: it is gone, say so at once.
      if (error.code === "NODE_UNREACHABLE" && episode.first.code === "GOING_AWAY") {
        return end(episode.first, false);
      }
      if (
        episode.attempts >= policy.maxAttempts ||
        context.now - episode.startedAt >= policy.maxElapsedMs
      ) {
        return end(error, true);
      }
    } else if (context.now >= episode.lostUntil) {
      return end(error, true);
    }
    episode.attempts++;
    let delayMs = backoffMs(policy, episode.attempts, this.#random);
    const deadline = episode.lostUntil ?? episode.startedAt + policy.maxElapsedMs;
    // Never sleep past the deadline: the last attempt starts just before it.
    delayMs = Math.max(0, Math.min(delayMs, Math.floor(deadline - context.now) - 1));
    return { action: "resume", delayMs, attempt: episode.attempts };
  }
}
