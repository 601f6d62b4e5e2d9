// Compute-mode scenarios that stop streams: cancels (from the owner, from a stranger, in an
// oversized control message), heartbeats while streams are open and only then, a heartbeat
// answered "unknown", and a requester that stops answering heartbeats.
import { subjects } from "@tailwire/protocol";
import { windowOf } from "../waiter.js";
import { ABSENCE_MS, type ComputeRun, REPLY_MS } from "./compute-run.js";

export async function cancels(run: ComputeRun): Promise<void> {
  const requester = await run.requester();
  const stranger = await run.requester();
  const [foreign, padded, cancelled] = await run.stalled(requester, 3);
  // A cancel from another requester id is ignored.
  stranger.control({ cancel: [foreign!.streamId] });
  const more = await run.framesAfter(foreign!, 64 * 1024, REPLY_MS);
  run.recorder.check(
    "C-CANCEL-FOREIGN",
    more > 0,
    more > 0
      ? "the stream went on after another requester's cancel"
      : "the stream stopped after another requester's cancel",
  );
  // A control message over 256 KiB is ignored (its cancel must not take effect).
  requester.control({ cancel: [padded!.streamId], pad: "x".repeat(300 * 1024) });
  requester.keep(padded!.streamId);
  const after = await run.framesAfter(padded!, 64 * 1024, REPLY_MS);
  run.recorder.check(
    "C-LIMIT-CONTROL-BYTES",
    after > 0,
    after > 0
      ? "a cancel in a 300 KiB control message was ignored"
      : "a cancel in a 300 KiB control message was honoured",
  );
  // A cancel stops the stream, even when credit is granted after it.
  cancelled!.cancel();
  const late = await run.framesAfterStop(cancelled!);
  run.recorder.check(
    "C-CANCEL",
    late === 0,
    late === 0
      ? `nothing within ${ABSENCE_MS} ms of cancel and a grant`
      : `${late} frames after cancel`,
  );
  for (const s of [foreign!, padded!]) s.cancel();
}

export async function heartbeats(run: ComputeRun): Promise<void> {
  // Long enough that a loaded machine answers every heartbeat within its timeout.
  const interval = 500;
  const requester = await run.requester();
  const fields = { heartbeatIntervalMs: interval, heartbeatTimeoutMs: 450 };
  const [a, b] = await run.stalled(requester, 2, fields);
  const ids = new Set([a!.streamId, b!.streamId]);
  const listsBoth = () =>
    requester.heartbeats.some(
      (h) =>
        h.heartbeat &&
        h.heartbeat.streamIds.length === 2 &&
        h.heartbeat.streamIds.every((id) => ids.has(id)),
    );
  const got = await requester.changes.until(listsBoth, interval * 4);
  // Every interval while streams are open: three beats, none more than two intervals apart
  // (lenient: the spec's jitter is 0.9 to 1 interval, and a loaded machine adds some).
  await requester.changes.until(() => requester.heartbeats.length >= 3, interval * 6);
  const times = requester.heartbeats.map((h) => h.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const widest = Math.max(0, ...gaps);
  run.recorder.check(
    "C-HEARTBEAT",
    times.length >= 3 && widest <= interval * 2,
    `${times.length} heartbeats at interval ${interval} ms, widest gap ${widest} ms`,
  );
  const hb = requester.heartbeats.find((h) => h.heartbeat)?.heartbeat;
  const bad = requester.heartbeats.find(
    (h) =>
      !h.heartbeat ||
      h.subject !== subjects.heartbeat(requester.id) ||
      h.heartbeat.computeNodeId !== run.nodeId,
  );
  run.recorder.check(
    "C-HEARTBEAT",
    got && !bad,
    !got
      ? `no heartbeat listing both open streams within ${interval * 4} ms (${requester.heartbeats.length} heartbeats)`
      : bad
        ? `bad heartbeat: ${bad.error ?? `subject ${bad.subject}, computeNodeId ${bad.heartbeat?.computeNodeId}`}`
        : `heartbeat lists ${hb?.streamIds.length} streams`,
  );
  const waiting = requester.heartbeats.filter((h) => h.heartbeat).at(-1)?.heartbeat as
    | { creditWait?: unknown }
    | undefined;
  const creditWait = Array.isArray(waiting?.creditWait) ? (waiting.creditWait as string[]) : [];
  run.recorder.check(
    "C-HEARTBEAT-CREDIT-WAIT",
    creditWait.length === 2 && creditWait.every((id) => ids.has(id)),
    `both streams wait for credit; heartbeat creditWait = ${JSON.stringify(waiting?.creditWait ?? null)}`,
  );
  // Answer a as unknown: it must stop, b must go on. A later heartbeat that no longer lists a
  // shows the node has taken the answer in (a grant racing the answer may legitimately still
  // be spent); after that, a grant must bring nothing on a.
  requester.answerWith((h) =>
    h.streamIds.filter((id) => id === a!.streamId || requester.dropped.has(id)),
  );
  const beats = requester.heartbeats.length;
  const unlisted = await requester.changes.until(
    () =>
      requester.heartbeats
        .slice(beats + 1)
        .some((h) => h.heartbeat && !h.heartbeat.streamIds.includes(a!.streamId)),
    interval * 5,
  );
  const aMore = await run.framesAfterStop(a!);
  const bMore = await run.framesAfter(b!, 64 * 1024, REPLY_MS);
  run.recorder.check(
    "C-HEARTBEAT-UNKNOWN",
    unlisted && aMore === 0 && bMore > 0,
    `stream answered unknown: ${unlisted ? "no longer listed" : "still listed"}, ${aMore} frames after a grant; the other stream: ${bMore > 0 ? "went on" : "stopped"}`,
  );
  b!.cancel();
  // Let a beat already under way arrive, then no more may come.
  await windowOf(interval);
  const after = requester.heartbeats.length;
  await windowOf(interval * 3);
  run.recorder.check(
    "C-HEARTBEAT-ONLY-OPEN",
    requester.heartbeats.length === after,
    `${requester.heartbeats.length - after} heartbeats in ${interval * 3} ms after the last stream closed`,
  );
}

export async function requesterLost(run: ComputeRun): Promise<void> {
  const interval = 100;
  const requester = await run.requester();
  requester.answerWith(() => undefined); // never answer: the requester is "dead"
  const [stream] = await run.stalled(requester, 1, {
    heartbeatIntervalMs: interval,
    heartbeatTimeoutMs: 50,
  });
  const missed = run.limits.maxMissedHeartbeats;
  const enough = await requester.changes.until(
    () => requester.heartbeats.length >= missed,
    interval * (missed + 3),
  );
  // Heartbeats stop once the node gave the requester up; quiet for 4 intervals.
  const stopped =
    enough &&
    (await requester.changes.quiet(() => requester.heartbeats.length, interval * 4, interval * 20));
  const late = await run.framesAfterStop(stream!);
  run.recorder.check(
    "C-REQUESTER-LOST",
    enough && stopped && late === 0,
    !enough
      ? `only ${requester.heartbeats.length} heartbeats`
      : !stopped
        ? `heartbeats went on: ${requester.heartbeats.length}`
        : late > 0
          ? `${late} frames after the requester was given up`
          : `given up after ${requester.heartbeats.length} unanswered heartbeats (maxMissed ${missed}), nothing sent after`,
  );
  requester.drop(stream!.streamId);
}
