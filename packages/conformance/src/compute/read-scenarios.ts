// Compute-mode scenarios that read: every seed through every window and grant threshold to End
// (credit never stalls, never overruns), and the read options (tail, fromSeq, streams, since,
// follow of a completed execution) each delivering exactly the entries they select.
import type { LogEntry } from "@tailwire/protocol";
import { Recorder } from "../report.js";
import { readSeed, seedEntries } from "../seeds.js";
import { type ComputeRun, REPLY_MS, STALL_MS } from "./compute-run.js";
import type { PlayedStream } from "./played-requester.js";
import { checkStream, type Expectation } from "./stream-checks.js";

/** Every seed, every window, three grant thresholds up to half a window: each must reach End. */
export async function reads(run: ComputeRun): Promise<void> {
  for (const name of ["basic", "long-line", "credit"] as const) {
    const seed = { ...readSeed(name), executionId: run.exec(name) };
    const streams: PlayedStream[] = [];
    const probes: PlayedStream[] = [];
    for (const window of run.windows) {
      const requester = await run.requester();
      for (const threshold of new Set([1, Math.floor(window / 4), Math.floor(window / 2)])) {
        streams.push(
          requester.open(
            { executionId: seed.executionId, fields: { window } },
            { thresholdBytes: threshold },
          ),
        );
      }
      // A probe that grants nothing at first: whatever arrives beyond its window is certainly
      // over credit, whatever grants were in flight.
      if (name === "credit")
        probes.push(requester.open({ executionId: seed.executionId, fields: { window } }));
    }
    await Promise.all(
      probes.map(async (probe) => {
        // It has started sending, then stopped: at its window if it keeps to credit.
        await probe.until((x) => x.dataFrameCount > 0 || x.ended, REPLY_MS);
        await probe.quiet(300, REPLY_MS);
        run.recorder.check(
          "C-CREDIT-BOUND",
          probe.dataBytes <= probe.window,
          `${seed.executionId} window ${probe.window}, nothing granted: ${probe.dataBytes} data bytes received`,
        );
        probe.grantAs({ thresholdBytes: Math.floor(probe.window / 2) });
        if (probe.dataBytes > 0) probe.grant(probe.dataBytes);
      }),
    );
    streams.push(...probes);
    await Promise.all(streams.map((s) => s.until((x) => x.ended, STALL_MS)));
    for (const stream of streams) {
      const what = `${seed.executionId} window ${stream.window} grant at ${stream.policy?.thresholdBytes}`;
      if (!stream.ended) {
        run.recorder.fail(
          "C-CREDIT-NO-STALL",
          `${what}: no End after ${STALL_MS} ms: ${stream.dataFrameCount} data frames, ${stream.dataBytes} bytes received, window ${stream.window} + ${stream.granted} granted`,
        );
        stream.cancel();
      } else {
        run.recorder.pass("C-CREDIT-NO-STALL", `${what}: reached End`);
      }
      checkStream(run.recorder, stream, run.expect(name));
    }
  }
}

export async function readOptions(run: ComputeRun): Promise<void> {
  const seed = { ...readSeed("basic"), executionId: run.exec("basic") };
  const all = seedEntries(seed);
  const n = all.length;
  const requester = await run.requester();
  const since = all[6]!.time;
  const cases: {
    label: string;
    fields: Record<string, unknown>;
    pick: (e: LogEntry) => boolean;
    tail?: number;
    afterSeq?: number;
  }[] = [
    { label: "tail 3", fields: { tail: 3 }, pick: () => true, tail: 3, afterSeq: n - 3 },
    {
      label: "fromSeq 4 over tail 2",
      fields: { fromSeq: 4, tail: 2 },
      pick: (e) => e.seq > 4,
      afterSeq: 4,
    },
    {
      label: "streams [stderr]",
      fields: { streams: ["stderr"] },
      pick: (e) => e.stream === "stderr",
    },
    { label: `since ${since}`, fields: { since }, pick: (e) => e.time >= since },
    {
      label: "tail 2 of stderr",
      fields: { tail: 2, streams: ["stderr"] },
      pick: (e) => e.stream === "stderr",
      tail: 2,
    },
    { label: "tail 0", fields: { tail: 0 }, pick: () => false, afterSeq: n },
    // A follow of a completed execution: the history, then End at once.
    { label: "follow, completed", fields: { follow: true }, pick: () => true, afterSeq: 0 },
    {
      label: "tail 0 and follow, completed",
      fields: { tail: 0, follow: true },
      pick: () => false,
      afterSeq: n,
    },
  ];
  const opened = cases.map((c) => ({
    c,
    stream: requester.open({ executionId: seed.executionId, fields: c.fields }),
  }));
  await Promise.all(opened.map(({ stream }) => stream.until((x) => x.ended, REPLY_MS)));
  for (const { c, stream } of opened) {
    const matching = all.filter(c.pick);
    const entries =
      c.tail === undefined ? matching : matching.slice(Math.max(0, matching.length - c.tail));
    const expectation: Expectation = {
      entries,
      lastSeq: n,
      exitCode: seed.exitCode,
      matching: (e) => c.pick(e),
      all,
      maxPayload: run.maxPayload,
      ...(c.afterSeq === undefined ? {} : { afterSeq: c.afterSeq }),
    };
    const probe = new Recorder("compute");
    checkStream(probe, stream, expectation);
    const failures = probe
      .report(run.nodeId)
      .results.filter(
        (r) =>
          r.outcome === "FAIL" &&
          !r.detail.startsWith("not exercised") &&
          r.id !== "C-MAX-FRAME-HALF-WINDOW",
      );
    run.recorder.check(
      "C-READ-OPTIONS",
      failures.length === 0,
      failures.length === 0
        ? `${c.label}: ${entries.length} entries as expected`
        : `${c.label}: ${failures.map((f) => `${f.id}: ${f.detail}`).join("; ")}`,
    );
    // The frames' own rules are checked too (a filtered read is where the seq column shows).
    checkStream(run.recorder, stream, expectation);
  }
}
