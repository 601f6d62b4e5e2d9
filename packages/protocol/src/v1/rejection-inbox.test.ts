import { describe, expect, it } from "vitest";
import { newStreamId } from "../ids.js";
import { subjects } from "../subjects.js";
import { rejectionInbox } from "./rejection-inbox.js";

const sid = newStreamId();
const own = subjects.streamInbox("req-1", sid);
const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

describe("rejectionInbox: a request is answered only on the inbox it names itself", () => {
  it("answers an invalid request whose sourcePeerId and streamId give the reply subject", () => {
    const payload = bytes({ type: "x", sourcePeerId: "req-1", streamId: sid, follow: "yes" });
    expect(rejectionInbox(payload, own)).toEqual({ reply: own, streamId: sid });
  });

  it.each([
    ["not JSON", bytes("{not json"), own],
    ["a JSON array", bytes([1, 2]), own],
    ["a string", bytes('"req-1"'), own],
    ["no sourcePeerId", bytes({ streamId: sid }), own],
    ["an invalid sourcePeerId", bytes({ sourcePeerId: "req.1", streamId: sid }), own],
    ["an invalid streamId", bytes({ sourcePeerId: "req-1", streamId: "short" }), own],
    [
      "another requester's inbox",
      bytes({ sourcePeerId: "req-1", streamId: sid }),
      subjects.streamInbox("victim", sid),
    ],
    ["a reply elsewhere", bytes({ sourcePeerId: "req-1", streamId: sid }), `elsewhere.${sid}`],
    ["no reply", bytes({ sourcePeerId: "req-1", streamId: sid }), undefined],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), own],
    [
      "over the request bound",
      bytes({ sourcePeerId: "req-1", streamId: sid, pad: "p".repeat(17_000) }),
      own,
    ],
  ])("%s: no reply", (_what, payload, reply) => {
    expect(rejectionInbox(payload, reply)).toBeUndefined();
  });
});
