// The rolling upgrade, tested against the real previous release (VERSIONING.md, "How v2 lives
// next to v1"): the packages of the last commit before v2 are built, packed and installed by
// previous-release.ts, and run as separate processes next to today's. Every mix of an old and
// a new node goes through a follow to the end, a cancel, the requester's death (SIGKILL) and the
// compute node's death (SIGKILL), on an open server and under each permission table a fleet
// runs during the upgrade.
import { computeInboxPrefix, NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChaosNode,
  COMPUTE_LOST_WINDOW_MS,
  type NatsLogin,
  openFollows,
  REQUESTER_LOST_WINDOW_MS,
  type RequesterEndedEvent,
  Scene,
  SLACK_MS,
  type StreamEndedEvent,
  TIMING,
} from "../chaos/harness.js";
import { type PreviousRelease, previousRelease } from "./previous-release.js";
import { type PermissionMode, serverConfig, USERS } from "./tables.js";

/** The fleets an old release can be part of: no users at all, and the v1 permission table. */
const PERMISSION_MODES: readonly PermissionMode[] = ["open", "table v1"];

type Release = "old" | "new";
interface Pair {
  compute: Release;
  requester: Release;
}
const PAIRS: readonly Pair[] = [
  { compute: "old", requester: "new" },
  { compute: "new", requester: "old" },
];
const label = (p: Pair) => `${p.compute} compute, ${p.requester} requester`;

let previous: PreviousRelease;
beforeAll(async () => {
  previous = await previousRelease();
  console.info(
    `[upgrade] previous release ${previous.release.commit.slice(0, 7)}: ` +
      `${previous.release.built ? "built" : "from the cache"} (build took ${previous.release.buildMs} ms)`,
  );
}, 900_000);

describe.each(PERMISSION_MODES)("rolling upgrade [%s]", (mode: PermissionMode) => {
  let nats: NatsServer | undefined;
  const scene = new Scene();
  let next = 0;

  beforeAll(async () => {
    const config = serverConfig(mode);
    nats = await NatsServer.start(config ? { config } : {});
  });
  afterAll(async () => {
    await scene.dispose();
    await nats?.stop();
  });

  /** A fresh pair of node ids (each has its NATS user under a table). */
  function ids(): { computeId: string; requesterId: string } {
    const i = next++;
    const computeId = USERS.computes[i]?.id;
    const requesterId = USERS.requesters[i]?.id;
    if (!computeId || !requesterId) throw new Error("rolling-upgrade: out of NATS users");
    return { computeId, requesterId };
  }

  function login(role: "computes" | "requesters", id: string): NatsLogin {
    if (mode === "open") return {};
    const user = USERS[role].find((u) => u.id === id);
    if (!user) throw new Error(`no user for ${id}`);
    return {
      user: user.user,
      pass: user.password,
      ...(role === "computes" ? { inboxPrefix: computeInboxPrefix(id) } : {}),
    };
  }

  const fixtures = (release: Release): URL | undefined =>
    release === "old" ? previous.fixtures : undefined;

  async function start(pair: Pair) {
    const url = nats!.url;
    const { computeId, requesterId } = ids();
    const compute = scene.add(
      await ChaosNode.compute(
        {
          url,
          dir: await scene.tempDir(),
          nodeId: computeId,
          executions: ["e1"],
          maxMissed: TIMING.maxMissed,
          ...login("computes", computeId),
        },
        fixtures(pair.compute),
      ),
    );
    const requester = scene.add(
      await ChaosNode.requester(
        {
          url,
          nodeId: requesterId,
          heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
          heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
          computeLostAfterMissed: TIMING.computeLostAfterMissed,
          ...login("requesters", requesterId),
        },
        fixtures(pair.requester),
      ),
    );
    const streams = await openFollows(requester, computeId, { f: "e1" });
    return { computeId, requesterId, compute, requester, streamId: streams.f as string };
  }

  /** Nothing the server refused: a node that speaks a version its user may not is a bug. */
  function noViolations(): void {
    expect(nats!.logTail(2000)).not.toMatch(/Violation/);
  }

  describe.each(PAIRS)("%s", (pair) => {
    it(`${label(pair)}: a follow runs to the execution's end, every line once`, async () => {
      const { compute, requester } = await start(pair);
      compute.send("complete e1 7");
      const end = await requester.event<RequesterEndedEvent & { lastSeq: number }>("ended", "f");
      expect(end).toMatchObject({ outcome: "completed", exitCode: 7 });
      expect(end.entries).toBeGreaterThan(0);
      // A follow of the whole log from seq 1: every seq once, in order, none missing.
      expect(end.lastSeq).toBe(end.entries);
      noViolations();
    });

    it(`${label(pair)}: a cancel ends the stream on both sides`, async () => {
      const { compute, requester, streamId } = await start(pair);
      requester.send("cancel f");
      const end = await requester.event<RequesterEndedEvent>("ended", "f");
      expect(end.outcome).toBe("cancelled");
      const served = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(served.cause).toBe("cancelled");
      noViolations();
    });

    it(`${label(pair)}: the requester's death releases its streams within the window`, async () => {
      const { compute, requester, requesterId, streamId } = await start(pair);
      const killedAt = Date.now();
      await requester.proc.kill("SIGKILL");
      const lost = await compute.event<StreamEndedEvent & { t: number }>(
        "requester-lost",
        requesterId,
      );
      expect(lost.t - killedAt).toBeLessThanOrEqual(REQUESTER_LOST_WINDOW_MS + SLACK_MS);
      const served = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(served.cause).toBe("requester_lost");
    });

    it(`${label(pair)}: the compute node's death ends the follow within the window`, async () => {
      const { compute, requester } = await start(pair);
      const killedAt = Date.now();
      await compute.proc.kill("SIGKILL");
      const end = await requester.event<RequesterEndedEvent>("ended", "f");
      expect(end).toMatchObject({ outcome: "error", code: "COMPUTE_NODE_LOST" });
      expect(end.t - killedAt).toBeLessThanOrEqual(COMPUTE_LOST_WINDOW_MS + SLACK_MS);
      noViolations();
    });
  });
});
