import {
  AcceptTimeoutError,
  BadRequestError,
  CancelledError,
  ComputeNodeLostError,
  ExecutionNotFoundError,
  GoingAwayError,
  InternalError,
  NodeUnreachableError,
  ResumeExhaustedError,
  SequenceGapError,
} from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import {
  backoffMs,
  RESUME_DEFAULTS,
  ResumeBudget,
  type ResumeDecision,
  type ResumePolicy,
} from "./resume-policy.js";

const POLICY: ResumePolicy = { ...RESUME_DEFAULTS, afterComputeLostMs: undefined };
const gap = () => new SequenceGapError("frame gap");
const ctx = (now: number, attempts = 2, silent = false) => ({ now, attempts, silent });
const resumed = (d: ResumeDecision) => (d.action === "resume" ? d.delayMs : "end");

describe("backoffMs", () => {
  it("is 0 for the first attempt, then doubles from initialBackoffMs up to maxBackoffMs, with equal jitter", () => {
    const low = () => 0;
    const high = () => 0.999_999;
    expect(backoffMs(POLICY, 1, high)).toBe(0);
    expect([2, 3, 4, 5, 6, 7, 8].map((a) => backoffMs(POLICY, a, high))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000,
    ]);
    expect([2, 3, 4, 5, 6, 7].map((a) => backoffMs(POLICY, a, low))).toEqual([
      50, 100, 200, 400, 800, 1000,
    ]);
    // Huge attempt numbers stay finite.
    expect(backoffMs(POLICY, 10_000, high)).toBe(2000);
  });

  it("spreads retries: random jitter lands inside [half, all] of the step", () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(POLICY, 4);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
});

describe("ResumeBudget", () => {
  it("resumes retryable failures up to maxAttempts in a row, then says exhausted", () => {
    const budget = new ResumeBudget(POLICY, () => 1);
    const delays = [];
    for (let i = 0; i < 5; i++) delays.push(resumed(budget.decide(gap(), ctx(i * 10))));
    expect(delays).toEqual([0, 100, 200, 400, 800]);
    const last = budget.decide(gap(), ctx(60));
    expect(last).toMatchObject({ action: "end", exhausted: true, attempts: 5, elapsedMs: 60 });
  });

  it("progress starts a fresh budget", () => {
    const budget = new ResumeBudget(POLICY, () => 1);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) expect(budget.decide(gap(), ctx(i)).action).toBe("resume");
      budget.progress();
    }
    expect(budget.inEpisode).toBe(false);
  });

  it("gives up once maxElapsedMs has passed since the break, and never sleeps past it", () => {
    const budget = new ResumeBudget({ ...POLICY, maxElapsedMs: 1000 }, () => 1);
    expect(resumed(budget.decide(gap(), ctx(0)))).toBe(0);
    expect(resumed(budget.decide(gap(), ctx(10)))).toBe(100);
    // 1600 would overshoot the deadline at 1000: the attempt starts just before it.
    expect(resumed(budget.decide(gap(), ctx(900)))).toBe(99);
    expect(budget.decide(gap(), ctx(1000))).toMatchObject({ action: "end", exhausted: true });
  });

  it("never resumes non-retryable errors, nor anything when resume is off", () => {
    const budget = new ResumeBudget(POLICY);
    for (const error of [
      new ExecutionNotFoundError("x"),
      new BadRequestError("x"),
      new CancelledError("x"),
      new GoingAwayError("x", { retryable: false }),
      new ResumeExhaustedError("x"),
    ]) {
      expect(budget.decide(error, ctx(0))).toMatchObject({
        action: "end",
        error,
        exhausted: false,
      });
    }
    const off = new ResumeBudget(undefined);
    const error = gap();
    expect(off.decide(error, ctx(0))).toMatchObject({ action: "end", error, exhausted: false });
  });

  it("a non-retryable error in the middle of resuming ends at once with that error", () => {
    const budget = new ResumeBudget(POLICY);
    expect(budget.decide(gap(), ctx(0)).action).toBe("resume");
    const notFound = new ExecutionNotFoundError("restarted without the logs");
    expect(budget.decide(notFound, ctx(5))).toMatchObject({ action: "end", error: notFound });
  });

  it("the original request fails fast when no compute node answers; a resume retries it", () => {
    const first = new ResumeBudget(POLICY);
    for (const error of [new NodeUnreachableError("x"), new AcceptTimeoutError("x")]) {
      expect(first.decide(error, ctx(0, 1))).toMatchObject({ action: "end", error });
    }
    const resuming = new ResumeBudget(POLICY);
    expect(resuming.decide(gap(), ctx(0, 1)).action).toBe("resume");
    expect(resuming.decide(new NodeUnreachableError("x"), ctx(5, 2)).action).toBe("resume");
    expect(resuming.decide(new AcceptTimeoutError("x"), ctx(10, 3)).action).toBe("resume");
  });

  it("a stream the node stopped listing resumes; a silent (maybe dead) node ends it by default", () => {
    const unlisted = new ResumeBudget(POLICY);
    expect(unlisted.decide(new ComputeNodeLostError("unlisted"), ctx(0)).action).toBe("resume");
    const silent = new ResumeBudget(POLICY);
    const lost = new ComputeNodeLostError("silent");
    expect(silent.decide(lost, ctx(0, 1, true))).toMatchObject({
      action: "end",
      error: lost,
      exhausted: false,
    });
    // Also in the middle of an episode.
    expect(silent.decide(gap(), ctx(0)).action).toBe("resume");
    expect(silent.decide(lost, ctx(1, 2, true))).toMatchObject({ action: "end", error: lost });
  });

  it("GOING_AWAY resumes once; no responders after it means the node is gone: ends with GoingAwayError", () => {
    const budget = new ResumeBudget(POLICY);
    const goingAway = new GoingAwayError("shutting down", { retryable: true });
    expect(resumed(budget.decide(goingAway, ctx(0, 1)))).toBe(0);
    expect(budget.decide(new NodeUnreachableError("x"), ctx(3, 2))).toMatchObject({
      action: "end",
      error: goingAway,
      exhausted: false,
    });
  });

  it("resumeAfterComputeLost: keeps trying for forMs after a loss, however many attempts", () => {
    const budget = new ResumeBudget({ ...POLICY, afterComputeLostMs: 20_000 }, () => 1);
    expect(resumed(budget.decide(new ComputeNodeLostError("silent"), ctx(1000, 1, true)))).toBe(0);
    let now = 1000;
    let attempts = 0;
    for (;;) {
      const decision = budget.decide(new NodeUnreachableError("down"), ctx(now, 2));
      if (decision.action === "end") {
        expect(decision.exhausted).toBe(true);
        break;
      }
      attempts++;
      now += Math.max(decision.delayMs, 1);
    }
    expect(now).toBeGreaterThanOrEqual(21_000);
    expect(now).toBeLessThan(21_000 + 2_000);
    expect(attempts).toBeGreaterThan(POLICY.maxAttempts);
  });

  it("resumeAfterComputeLost also covers a graceful shutdown (GOING_AWAY, then no responders)", () => {
    const budget = new ResumeBudget({ ...POLICY, afterComputeLostMs: 5_000 }, () => 1);
    expect(budget.decide(new GoingAwayError("bye", { retryable: true }), ctx(0, 1)).action).toBe(
      "resume",
    );
    for (let i = 0; i < 10; i++) {
      expect(budget.decide(new NodeUnreachableError("x"), ctx(i * 100, 2 + i)).action).toBe(
        "resume",
      );
    }
    expect(budget.decide(new InternalError("x"), ctx(5_000, 12))).toMatchObject({
      action: "end",
      exhausted: true,
    });
  });
});

describe("ResumeExhaustedError", () => {
  it("is the protocol's one RESUME_EXHAUSTED error, with lastSeq and attempts", async () => {
    const error = new ResumeExhaustedError("last sequence delivered: 41", {
      lastSeq: 41,
      attempts: 5,
      cause: gap(),
    });
    expect((await import("./index.js")).ResumeExhaustedError).toBe(ResumeExhaustedError);
    expect(error).toMatchObject({ code: "RESUME_EXHAUSTED", retryable: false, lastSeq: 41 });
    expect(error.attempts).toBe(5);
    expect(error.name).toBe("ResumeExhaustedError");
    expect(error.cause).toBeInstanceOf(SequenceGapError);
  });
});
