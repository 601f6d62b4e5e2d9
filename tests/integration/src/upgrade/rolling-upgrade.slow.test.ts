// The rolling upgrade, tested against the real previous release (VERSIONING.md, "How v2 lives
// next to v1"): the packages of the last commit before v2 are built, packed and installed by
// previous-release.ts, and run as separate processes next to today's. Every mix of an old and
// a new node (and two new ones, which speak v2) goes through a follow to the end, a cancel, the
// requester's death (SIGKILL) and the compute node's death (SIGKILL), on an open server and
// under each permission table of the upgrade's phases (SECURITY.md): v1, v1+v2, v2. Each follow
// also checks which version was spoken, from both sides' stats.
import { computeInboxPrefix, NatsServer, pollUntil } from "@tailwire/testkit";
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

type Release = "old" | "new";
interface Pair {
  compute: Release;
  requester: Release;
}
const OLD_NEW: Pair = { compute: "old", requester: "new" };
const NEW_OLD: Pair = { compute: "new", requester: "old" };
const NEW_NEW: Pair = { compute: "new", requester: "new" };
const label = (p: Pair) => `${p.compute} compute, ${p.requester} requester`;

interface Phase {
  mode: PermissionMode;
  /** Who can work together in this phase. */
  pairs: Pair[];
  /** The new requester's `protocol` (under the v1 table it must stay on v1: SECURITY.md). */
  protocol: "auto" | "v1";
  /**
   * The versions a new compute node serves: v1 only under the v1 table (it may not subscribe
   * to v2 lookups), v2 only under the v2 table (v1 is turned off before the switch).
   */
  versions?: string[];
}
const PHASES: readonly Phase[] = [
  { mode: "open", pairs: [OLD_NEW, NEW_OLD, NEW_NEW], protocol: "auto" },
  { mode: "table v1", pairs: [OLD_NEW, NEW_OLD], protocol: "v1", versions: ["v1"] },
  { mode: "table v1+v2", pairs: [OLD_NEW, NEW_OLD, NEW_NEW], protocol: "auto" },
  { mode: "table v2", pairs: [NEW_NEW], protocol: "auto", versions: ["v2"] },
];

/** The version a pair speaks: v2 only between two new nodes that may use it. */
const versionOf = (pair: Pair, phase: Phase): "v1" | "v2" =>
  pair.compute === "new" && pair.requester === "new" && phase.protocol === "auto" ? "v2" : "v1";

let previous: PreviousRelease;
beforeAll(async () => {
  previous = await previousRelease();
  console.info(
    `[upgrade] previous release ${previous.release.commit.slice(0, 7)}: ` +
      `${previous.release.built ? "built" : "from the cache"} (build took ${previous.release.buildMs} ms)`,
  );
}, 900_000);

describe.each(PHASES.map((phase) => [phase.mode, phase] as const))(
  "rolling upgrade [%s]",
  (_mode, phase) => {
    const mode = phase.mode;
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
            ...(phase.versions ? { versions: phase.versions } : {}),
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
            ...(pair.requester === "new" ? { protocol: phase.protocol } : {}),
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
      const refused = nats!
        .logTail(2000)
        .split("\n")
        .filter((line) => line.includes("Violation"));
      expect(refused).toEqual([]);
    }

    describe.each(phase.pairs.map((pair) => [label(pair), pair] as const))("%s", (_label, pair) => {
      it(`${label(pair)}: a follow runs to the execution's end, every line once`, async () => {
        const { compute, requester, computeId, requesterId } = await start(pair);
        compute.send("complete e1 7");
        const end = await requester.event<RequesterEndedEvent & { lastSeq: number }>("ended", "f");
        expect(end).toMatchObject({ outcome: "completed", exitCode: 7 });
        expect(end.entries).toBeGreaterThan(0);
        // A follow of the whole log from seq 1: every seq once, in order, none missing.
        expect(end.lastSeq).toBe(end.entries);
        noViolations();
        // Which version they spoke, as each new side reports it (VERSIONING.md).
        const version = versionOf(pair, phase);
        if (pair.compute === "new") {
          const { versions } = (await compute.computeStats()) as unknown as {
            versions: Record<string, { requests: number; recentRequesters: string[] }>;
          };
          expect(versions[version]?.recentRequesters).toEqual([requesterId]);
          expect(versions[version === "v1" ? "v2" : "v1"]?.requests).toBe(0);
        }
        if (pair.requester === "new") {
          const { stats } = await requester.requesterStats();
          const fellBack = pair.compute === "old" && phase.protocol === "auto";
          expect((stats as unknown as { computeNodesOnV1: string[] }).computeNodesOnV1).toEqual(
            fellBack ? [computeId] : [],
          );
        }
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

    if (mode === "table v2") {
      it("an old requester cannot take part any more: its v1 requests are refused by the server", async () => {
        const { computeId, requesterId } = ids();
        scene.add(
          await ChaosNode.compute(
            {
              url: nats!.url,
              dir: await scene.tempDir(),
              nodeId: computeId,
              executions: ["e1"],
              versions: ["v2"],
              ...login("computes", computeId),
            },
            fixtures("new"),
          ),
        );
        const old = scene.add(
          await ChaosNode.requester(
            { url: nats!.url, nodeId: requesterId, ...login("requesters", requesterId) },
            fixtures("old"),
          ),
        );
        old.send(`open f ${computeId} e1`);
        const user = USERS.requesters.find((u) => u.id === requesterId)!.user;
        await pollUntil(
          () =>
            nats!
              .logTail(2000)
              .includes(
                `Publish Violation - User "${user}", Subject "node.compute.${computeId}.ExecutionLogs/v1"`,
              )
              ? true
              : undefined,
          {
            timeoutMs: 10_000,
            intervalMs: 20,
            what: "the server refusing the old requester's request",
          },
        );
        expect(old.events("accepted", "f")).toEqual([]);
      });
    }
  },
);
