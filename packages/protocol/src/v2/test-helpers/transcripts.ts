// The v2 conformance transcripts (conformance/v2/*.json): v1's exchanges carried over to v2 by
// rule, since v2 changes only subjects and identity fields (PROTOCOL.md, "ExecutionLogs/v2").
// Each step's subjects move to v2's, each payload is re-encoded by the v2 encoder without the
// identities v1 carried in it (data frames only change their type name, so frame sizes and the
// credit arithmetic stay exactly v1's), and garbage stays garbage. Exchanges that test a v1-only
// field (heartbeatSubject, targetPeerId) have no v2 counterpart; "another version" becomes a v1
// request on the v2 subject; "a request whose reply is not its derived inbox" is v2's own.

import { decodeMessage } from "../../v1/codec.js";
import { MessageType } from "../../v1/schemas.js";
import type { Step, Transcript } from "../../v1/test-helpers/transcript-builder.js";
import { transcripts } from "../../v1/test-helpers/transcripts.js";
import { encodeV2 } from "../codec.js";
import { MessageTypeV2, type MessageV2 } from "../schemas.js";

const R = "{requesterNodeId}";
const C = "{computeNodeId}";
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** v1 subject templates (and literal requester ids such as "victim") to v2's. */
function subjectV2(subject: string): string {
  return subject
    .replace(`node.compute.${C}.ExecutionLogs/v1`, `node.compute.${C}.ExecutionLogs/v2.${R}`)
    .replace(
      `node.compute.${C}.ExecutionLogsControl/v1`,
      `node.compute.${C}.ExecutionLogsControl/v2.${R}`,
    )
    .replace(/^_TW\.([^.]+)\.s\.([^.]+)$/, `_TW.$1.v2.${C}.s.$2`)
    .replace(/^_TW\.([^.]+)\.hb$/, `_TW.$1.v2.${C}.hb`);
}

const V2_TYPE: Record<string, string> = Object.fromEntries(
  Object.entries(MessageType).map(([kind, type]) => [
    type,
    MessageTypeV2[kind as keyof typeof MessageTypeV2],
  ]),
);
const IDENTITY = ["sourcePeerId", "targetPeerId", "computeNodeId", "requesterNodeId"];

/** A v1 payload as v2 bytes; anything that is not a valid v1 message is kept as it is. */
function payloadV2(payload: string): string {
  let message: Record<string, unknown>;
  try {
    message = decodeMessage(new TextEncoder().encode(payload)) as unknown as Record<
      string,
      unknown
    >;
  } catch {
    return payload;
  }
  const type = message.type as string;
  // A data frame's bytes are v1's under the v2 name (the two names have one length).
  if (type === MessageType.Data) return payload.replace(MessageType.Data, MessageTypeV2.Data);
  const v2: Record<string, unknown> = { type: V2_TYPE[type] };
  for (const [field, value] of Object.entries(message)) {
    if (field === "type" || IDENTITY.includes(field)) continue;
    if (field === "heartbeatSubject" || field === "notices" || field === "compression") continue;
    v2[field] = value;
  }
  if (type === MessageType.Accepted && v2.firstSeq === undefined) {
    v2.firstSeq = (v2.afterSeq as number) + 1;
  }
  return text(encodeV2(v2 as unknown as MessageV2));
}

const noteV2 = (note: string): string =>
  note
    .replaceAll(
      "_TW.<sourcePeerId>.s.<streamId>",
      "_TW.<requester>.v2.<computeNodeId>.s.<streamId>",
    )
    .replaceAll("sourcePeerId", "the subject's requester id");

function stepV2(step: Step): Step {
  const out: Step = { ...step, subject: subjectV2(step.subject) };
  if (step.reply !== undefined) out.reply = subjectV2(step.reply);
  if (step.payload !== undefined) {
    out.payload = payloadV2(step.payload);
    out.bytes = Buffer.byteLength(out.payload);
  }
  if (step.note !== undefined) out.note = noteV2(step.note);
  return out;
}

/** v1-only rules: these fields do not exist in v2. */
const V1_ONLY = new Set(["heartbeatSubject not the requester's", "targetPeerId not this node"]);

function rejectionsV2(t: Transcript): Transcript["exchanges"] {
  const exchanges = t.exchanges
    .filter((e) => !V1_ONLY.has(e.title))
    .map((e) => {
      if (e.title !== "another version") return { ...e, steps: e.steps.map(stepV2) };
      // A v1 request sent on the v2 subject: the node says so on the derived inbox.
      const [ask, answer] = e.steps as [Step, Step];
      const v1Request = (ask.payload ?? "").replace(MessageTypeV2.Request, MessageType.Request);
      return {
        title: "another version: a v1 request on the v2 subject",
        steps: [
          { ...stepV2(ask), payload: v1Request, bytes: Buffer.byteLength(v1Request) },
          stepV2(answer),
        ],
      };
    });
  const [first] = t.exchanges[0]?.steps ?? [];
  if (first?.payload === undefined) throw new Error("the rejections transcript has no request");
  const ask = stepV2(first);
  exchanges.push({
    title: "a reply subject that is not the derived inbox",
    steps: [
      {
        ...ask,
        reply: `_TW.${R}.v2.${C}.s.Zm9sbG93LXN0cmVhbS1pZDI`,
        note: "the payload's streamId is {streamId}: the derived inbox is another subject",
      },
      {
        from: "compute→requester",
        subject: `_TW.${R}.v2.${C}.s.Zm9sbG93LXN0cmVhbS1pZDI`,
        expect: "nothing",
        withinMs: 400,
        section: "ExecutionLogs/v2",
        note: "dropped without a reply: a v2 node answers only on the inbox it derives itself",
      },
    ],
  });
  return exchanges;
}

export function transcriptsV2(): Transcript[] {
  return transcripts().map((t) => ({
    ...t,
    description: `${t.description} (v2: the v1 exchange with v2's subjects and messages.)`,
    exchanges:
      t.name === "rejections"
        ? rejectionsV2(t)
        : t.exchanges.map((e) => ({ ...e, steps: e.steps.map(stepV2) })),
  }));
}
