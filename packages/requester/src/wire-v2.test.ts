// A v2 message turned into its v1 shape is exactly the v1 fixture of the same message (with the
// identity the v2 subject carried), and the other way round: the wire-exact fixtures of both
// versions hold the same messages.
import { readFileSync } from "node:fs";
import {
  decodeFrame,
  decodeFrameV2,
  decodeHeartbeat,
  decodeHeartbeatV2,
  decodeRequest,
  decodeRequestV2,
} from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import {
  controlV2,
  frameFromV2,
  heartbeatAnswerV2,
  heartbeatFromV2,
  requestV2,
} from "./wire-v2.js";

const wire = (version: string, name: string): Buffer =>
  readFileSync(new URL(`../../protocol/fixtures/${version}/wire/${name}.wire`, import.meta.url));
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

describe("v2 messages in their v1 shape", () => {
  it.each([
    "data-body-first-seq",
    "data-body-seq-column",
    "data-line-form",
    "data-partial",
    "end",
    "end-unknown-exit",
    "error-going-away",
    "error-rejection",
    "notice-removed",
  ])("the frame %s", (name) => {
    expect(frameFromV2(decodeFrameV2(wire("v2", name)), "node-3")).toStrictEqual(
      decodeFrame(wire("v1", name)),
    );
  });

  it("an Accepted gets its subject's compute id and the notices v2 always has", () => {
    expect(
      frameFromV2(decodeFrameV2(wire("v2", "accepted-after-removal")), "node-3"),
    ).toStrictEqual(decodeFrame(wire("v1", "accepted-retention")));
  });

  it("a heartbeat gets its subject's compute id", () => {
    for (const name of ["heartbeat", "heartbeat-credit-wait"]) {
      expect(heartbeatFromV2(decodeHeartbeatV2(wire("v2", name)), "node-3")).toStrictEqual(
        decodeHeartbeat(wire("v1", name)),
      );
    }
  });

  it("requests, controls and heartbeat answers leave as the v2 fixtures' bytes", () => {
    for (const name of [
      "request-resume",
      "request-tail-follow-filtered",
      "request-whole-history",
    ]) {
      const v1 = decodeRequest(wire("v1", name));
      expect(requestV2(v1)).toStrictEqual(decodeRequestV2(wire("v2", name)));
    }
    expect(
      text(
        controlV2(
          ["Zm9sbG93LXN0cmVhbS1pZDI"],
          [{ streamId: "b3JhbmdlLXN0cmVhbS1pZA", bytes: 16384 }],
        ),
      ),
    ).toBe(text(wire("v2", "control-cancel-and-credit")));
    expect(text(heartbeatAnswerV2(["Zm9sbG93LXN0cmVhbS1pZDI"]))).toBe(
      text(wire("v2", "heartbeat-response")),
    );
  });
});
