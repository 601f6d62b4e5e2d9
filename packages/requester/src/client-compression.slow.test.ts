// The requester's side of compressed frames against a scripted compute node: what it offers,
// a node that knows nothing of compression, a codec it did not offer, and a decompression bomb,
// which ends only its own stream with PAYLOAD_TOO_LARGE.
import { brotliCompressSync, constants } from "node:zlib";
import { COMPRESSED_FRAME_TYPE, encodeDataFrame } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { collect, Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

const lines = Array.from(
  { length: 300 },
  (_, i) =>
    `2026-11-28T15:30:00.${String(i).padStart(3, "0")}Z INFO  [worker-${i % 4}] task ${i} done elapsed_ms=${(i * 7919) % 10_000}`,
);
const entries = lines.map((line, i) => ({ seq: i + 1, line }));

describe("LogStreamClient: compressed frames", () => {
  it("offers what it has, reads compressed frames and plain ones of the same stream", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-1" });
    const remote = await compute.nextRequest();
    expect(remote.request.compression).toEqual(["zstd", "brotli"]);
    remote.accept({ compression: "zstd", lastSeq: 301 });
    const wire = remote.compressedData(entries.slice(0, 200), "zstd");
    expect(wire * 3).toBeLessThan(
      encodeDataFrame(
        remote.streamId,
        1,
        entries.slice(0, 200).map((e) => ({ ...e, stream: "stdout", time: 0 })),
        false,
      ).byteLength,
    );
    remote.data(entries.slice(200));
    remote.data([{ seq: 301, line: "last" }]);
    remote.end(301, 0);
    const { entries: got, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(got.map((e) => e.line)).toEqual([...lines, "last"]);
    expect((await stream.accepted).compression).toBe("zstd");
  });

  it("offers nothing with compression: false, and reads a node that names no codec as before", async () => {
    const { client } = await rig.client({ compression: false });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-1" });
    const remote = await compute.nextRequest();
    expect("compression" in remote.request).toBe(false);
    remote.accept();
    remote.data(entries.slice(0, 10));
    remote.end(10);
    const { entries: got, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(got).toHaveLength(10);
    expect((await stream.accepted).compression).toBeUndefined();
  });

  it("ends the stream with PROTOCOL_ERROR for a compressed frame when Accepted named no codec", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-1" });
    const remote = await compute.nextRequest();
    remote.accept(); // an older node: no codec
    remote.compressedData(entries, "brotli");
    const { error } = await collect(stream);
    expect(error).toMatchObject({ code: "PROTOCOL_ERROR" });
  });

  it("ends the stream with PROTOCOL_ERROR when the node chose a codec it was not offered", async () => {
    const { client } = await rig.client({ compression: ["brotli"] });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-1" });
    const remote = await compute.nextRequest();
    remote.accept({ compression: "zstd" });
    const { error } = await collect(stream);
    expect(error).toMatchObject({ code: "PROTOCOL_ERROR" });
    expect(String(error)).toContain("did not offer");
  });

  it("a decompression bomb ends only its stream, with PAYLOAD_TOO_LARGE; another stream goes on", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const bombed = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-bomb" });
    const healthy = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-ok" });
    const first = await compute.nextRequest();
    const second = await compute.nextRequest();
    const [bomb, ok] =
      first.request.executionId === "exec-bomb" ? [first, second] : [second, first];
    bomb.accept({ compression: "brotli" });
    ok.accept({ compression: "brotli" });
    ok.compressedData(entries.slice(0, 100), "brotli");
    // 32 MiB of one repeated line in a few KiB, claiming to be 4 KiB.
    const header = {
      type: COMPRESSED_FRAME_TYPE,
      streamId: bomb.streamId,
      n: bomb.n++,
      codec: "brotli",
      size: 4096,
    };
    const body = brotliCompressSync(Buffer.alloc(32 * 1024 * 1024, "y\n"), {
      params: { [constants.BROTLI_PARAM_QUALITY]: 1 },
    });
    bomb.raw(Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]));
    const bombResult = await collect(bombed);
    expect(bombResult.error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", retryable: false });
    // Not resumed (a retry would get the same bomb): only the two requests were ever sent.
    ok.compressedData(entries.slice(100), "brotli");
    ok.end(300, 0);
    const okResult = await collect(healthy);
    expect(okResult.error).toBeUndefined();
    expect(okResult.entries.map((e) => e.line)).toEqual(lines);
    expect(compute.requests).toHaveLength(2);
  });
});
