import { describe, expect, it } from "vitest";
import { watchConnectionStatus } from "./connection-status.js";
import { integerOption } from "./integer-option.js";

describe("integerOption", () => {
  it("returns integers in range and names the option otherwise", () => {
    expect(integerOption("windowBytes", 4096, 1024, 8192)).toBe(4096);
    expect(integerOption("gatherMs", 0, 0)).toBe(0);
    expect(() => integerOption("windowBytes", 10, 1024, 8192)).toThrow(
      new RangeError("windowBytes must be an integer in [1024, 8192], got 10"),
    );
    expect(() => integerOption("maxStreams", 1.5, 1)).toThrow(
      new RangeError("maxStreams must be an integer >= 1, got 1.5"),
    );
    expect(() => integerOption("maxStreams", Number.NaN, 1)).toThrow(RangeError);
    expect(() => integerOption("maxStreams", 2 ** 53, 1)).toThrow(RangeError);
  });
});

/** A status iterator that hands out the events pushed into it, as nats.js's does. */
function statusSource() {
  const queued: { type: string }[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  const iterable = {
    stop: () => {
      stopped = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      while (!stopped) {
        const next = queued.shift();
        if (next) yield next;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  return {
    connection: { status: () => iterable },
    push(type: string) {
      queued.push({ type });
      wake?.();
    },
    get stopped() {
      return stopped;
    },
  };
}

describe("watchConnectionStatus", () => {
  it("hands each event to onEvent until stop(), which stops the iterator", async () => {
    const source = statusSource();
    const seen: string[] = [];
    let resolveSeen: () => void = () => {};
    const twoSeen = new Promise<void>((resolve) => (resolveSeen = resolve));
    const watch = watchConnectionStatus(source.connection, {
      stopped: () => false,
      onEvent: (event) => {
        seen.push(event.type);
        if (seen.length === 2) resolveSeen();
      },
      onError: (error) => {
        throw error;
      },
    });
    source.push("disconnect");
    source.push("reconnect");
    await twoSeen;
    expect(seen).toEqual(["disconnect", "reconnect"]);
    watch.stop();
    expect(source.stopped).toBe(true);
  });

  it("reports a failing iterator through onError, and watches nothing without status()", async () => {
    const failure = new Error("status broke");
    const error = await new Promise<unknown>((resolve) => {
      watchConnectionStatus(
        {
          status: () => ({
            // biome-ignore lint/correctness/useYield: it fails before its first event
            async *[Symbol.asyncIterator]() {
              throw failure;
            },
          }),
        },
        { stopped: () => false, onEvent: () => {}, onError: resolve },
      );
    });
    expect(error).toBe(failure);
    expect(() =>
      watchConnectionStatus({}, { stopped: () => false, onEvent() {}, onError() {} }).stop(),
    ).not.toThrow();
  });
});
