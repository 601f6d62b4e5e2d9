// Compute-mode scenarios of refusal: requests the node must reject (and with which code), ones it
// must drop without a reply (foreign inboxes, unparsable payloads), and the stream and rate limits.
import { type ErrorFrame, MessageType, newStreamId, subjects } from "@tailwire/protocol";
import { windowOf } from "../waiter.js";
import { ABSENCE_MS, type ComputeRun, REPLY_MS } from "./compute-run.js";
import type { PlayedRequester as Played, PlayedStream, RequestShape } from "./played-requester.js";

export async function rejections(run: ComputeRun): Promise<void> {
  const r = await run.requester();
  const basic = run.exec("basic");
  // Each refused with an Error of its code and no frame number: C-REJECT-<code>.
  const refused: [string, RequestShape, string][] = [
    ["unknown execution", { executionId: "conformance-missing" }, "EXECUTION_NOT_FOUND"],
    ["window 5", { executionId: basic, fields: { window: 5 } }, "BAD_REQUEST"],
    ["no follow field", { executionId: basic, omit: ["follow"] }, "BAD_REQUEST"],
    ["tail 1.5", { executionId: basic, fields: { tail: 1.5 } }, "BAD_REQUEST"],
    [
      "another requester's heartbeatSubject",
      { executionId: basic, fields: { heartbeatSubject: "_TW.somebody-else.hb" } },
      "BAD_REQUEST",
    ],
    [
      "another targetPeerId",
      { executionId: basic, fields: { targetPeerId: `${run.nodeId}-other` } },
      "BAD_REQUEST",
    ],
    [
      "type ExecutionLogs.Request/v2",
      { executionId: basic, fields: { type: "ExecutionLogs.Request/v2" } },
      "UNSUPPORTED_VERSION",
    ],
    [
      `tail ${run.limits.maxTailLines + 1}`,
      { executionId: basic, fields: { tail: run.limits.maxTailLines + 1 } },
      "TAIL_TOO_LARGE",
    ],
  ];
  for (const [label, shape, code] of refused) await run.rejection(r, label, shape, code);
  // A duplicate stream id while the first stream is open.
  const [open] = await run.stalled(r, 1);
  const before = open!.frames.length;
  r.publishRequest(
    new TextEncoder().encode(
      JSON.stringify(r.requestFor({ executionId: basic, streamId: open!.streamId })),
    ),
    subjects.streamInbox(r.id, open!.streamId),
  );
  await open!.until((x) => x.frames.length > before, REPLY_MS);
  const reply = open!.frames[before]?.frame as ErrorFrame | undefined;
  const dupOk =
    reply?.type === MessageType.Error && reply.n === undefined && reply.code === "DUPLICATE_STREAM";
  const goesOn = dupOk && (await run.framesAfter(open!, 64 * 1024, REPLY_MS)) > 0;
  run.recorder.check(
    "C-REJECT-DUPLICATE_STREAM",
    dupOk && goesOn,
    dupOk
      ? goesOn
        ? "Error DUPLICATE_STREAM; the open stream went on"
        : "Error DUPLICATE_STREAM, but the open stream stopped"
      : `expected Error DUPLICATE_STREAM, got ${reply ? JSON.stringify(reply).slice(0, 200) : "nothing"}`,
  );
  open!.cancel();
  // A request over the 16,384-byte bound.
  const big = r.open({ executionId: basic, fields: { pad: "x".repeat(17_000) } });
  await big.until((x) => x.frames.length > 0, ABSENCE_MS);
  const answer = big.frames[0]?.frame;
  const bigOk =
    answer === undefined ||
    (answer.type === MessageType.Error &&
      answer.code === "PAYLOAD_TOO_LARGE" &&
      answer.n === undefined);
  run.recorder.check(
    "C-LIMIT-REQUEST-BYTES",
    bigOk,
    bigOk
      ? `a 17 KB request: ${answer ? "Error PAYLOAD_TOO_LARGE" : "no reply"}`
      : `a 17 KB request got ${JSON.stringify(answer).slice(0, 200)}`,
  );
  if (answer?.type === MessageType.Accepted) big.cancel();
}

export async function silentDrops(run: ComputeRun): Promise<void> {
  const r = await run.requester();
  const victim = await run.requester();
  const basic = run.exec("basic");
  // A valid request of r whose reply is the victim's inbox, or r's inbox of another stream id.
  const foreign = r.open({
    executionId: basic,
    reply: subjects.streamInbox(victim.id, newStreamId()),
  });
  const otherId = newStreamId();
  r.open({ executionId: basic, reply: subjects.streamInbox(r.id, otherId) });
  // And one without any reply subject.
  r.publishRequest(
    new TextEncoder().encode(JSON.stringify(r.requestFor({ executionId: basic }))),
    undefined,
  );
  await run.sentinel(victim);
  const strays = victim.strays.length + r.strays.length + foreign.frames.length;
  run.recorder.check(
    "C-SILENT-FOREIGN-INBOX",
    strays === 0,
    strays === 0
      ? "requests naming a foreign inbox or another stream's inbox got no reply"
      : `${strays} replies on inboxes the requests did not own`,
  );
  // Unparsable payloads with a reply shaped like the victim's stream inbox.
  const payloads = [
    "{not json",
    "[1,2,3]",
    '"a string"',
    "null",
    JSON.stringify({
      type: "ExecutionLogs.Request/v1",
      sourcePeerId: "not a token!",
      streamId: newStreamId(),
    }),
  ];
  for (const payload of payloads)
    victim.publishRequest(
      new TextEncoder().encode(payload),
      subjects.streamInbox(victim.id, newStreamId()),
    );
  await run.sentinel(victim);
  run.recorder.check(
    "C-SILENT-UNPARSABLE",
    victim.strays.length === 0,
    victim.strays.length === 0
      ? `${payloads.length} unparsable requests got no reply`
      : `${victim.strays.length} of ${payloads.length} unparsable requests were answered on the inbox they named (${new TextDecoder().decode(victim.strays[0]!.raw).slice(0, 120)})`,
  );
}

export async function streamLimits(run: ComputeRun): Promise<void> {
  const perRequester = run.limits.maxStreamsPerRequester;
  const k1 = await run.requester();
  const k2 = await run.requester();
  const k3 = await run.requester();
  const first = await run.stalled(k1, perRequester);
  const credit = run.exec("credit");
  await run.rejection(
    k1,
    `stream ${perRequester + 1} of one requester`,
    { executionId: credit, fields: { window: 1024 } },
    "TOO_MANY_REQUESTER_STREAMS",
  );
  const rest = run.limits.maxStreams - perRequester;
  const second: PlayedStream[] = [];
  for (let left = rest, who = k2; left > 0; left -= perRequester, who = await run.requester()) {
    second.push(...(await run.stalled(who, Math.min(perRequester, left))));
  }
  await run.rejection(
    k3,
    `stream ${run.limits.maxStreams + 1} of the node`,
    { executionId: credit, fields: { window: 1024 } },
    "TOO_MANY_STREAMS",
  );
  // The cancels and the next request travel on one connection, so the node takes them in order.
  for (const s of first) s.cancel();
  const again = k3.open({ executionId: credit, fields: { window: 1024 } });
  await again.until((x) => x.frames.length > 0, REPLY_MS);
  const ok = again.frames[0]?.frame?.type === MessageType.Accepted;
  run.recorder.check(
    "C-CANCEL-RELEASES",
    ok,
    ok
      ? `after cancelling ${first.length} streams a new stream was accepted`
      : `after cancelling ${first.length} streams a new request got ${JSON.stringify(again.frames[0]?.frame ?? null).slice(0, 160)}`,
  );
  for (const s of [...second, again]) s.cancel();
}

export async function rateLimits(run: ComputeRun): Promise<void> {
  const limit = run.limits.maxRequestsPerSecondPerRequester;
  const r = await run.requester();
  const burst = limit * 2;
  const streams = Array.from({ length: burst }, () =>
    r.open({ executionId: "conformance-missing" }),
  );
  await r.changes.until(() => streams.every((s) => s.frames.length > 0), REPLY_MS);
  const codes = streams.map((s) => (s.frames[0]?.frame as ErrorFrame | undefined)?.code);
  const limited = codes.filter((c) => c === "RATE_LIMITED").length;
  const unanswered = codes.filter((c) => c === undefined).length;
  run.recorder.check(
    "C-REJECT-RATE_LIMITED",
    limited > 0 && unanswered === 0,
    `${burst} requests at once (limit ${limit}/s): ${limited} RATE_LIMITED, ${unanswered} unanswered`,
  );
  // Node-wide: many requester ids, each under its own limit, together over the node's. A node
  // may allow bursts of up to twice its rate (PROTOCOL.md, "Message bounds"): send four times.
  await windowOf(1100); // let every token bucket refill
  const nodeLimit = run.limits.maxRequestsPerSecond;
  const ids = Math.ceil((nodeLimit * 4) / Math.max(1, Math.floor(limit / 2)));
  const each = Math.ceil((nodeLimit * 4) / ids);
  const many: PlayedStream[] = [];
  const requesters: Played[] = [];
  for (let i = 0; i < ids; i++) requesters.push(await run.requester());
  for (const requester of requesters)
    for (let i = 0; i < each; i++)
      many.push(requester.open({ executionId: "conformance-missing" }));
  await Promise.all(
    requesters.map((q) =>
      q.changes.until(() => [...q.streams.values()].every((s) => s.frames.length > 0), REPLY_MS),
    ),
  );
  const manyLimited = many.filter(
    (s) => (s.frames[0]?.frame as ErrorFrame | undefined)?.code === "RATE_LIMITED",
  ).length;
  run.recorder.check(
    "C-REJECT-RATE_LIMITED-NODE",
    manyLimited > 0,
    `${many.length} requests from ${ids} requester ids (${each} each, node limit ${nodeLimit}/s): ${manyLimited} RATE_LIMITED`,
  );
}
