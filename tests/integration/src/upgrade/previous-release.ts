// The previous release for the rolling-upgrade tests: the packages of the last commit before
// ExecutionLogs/v2, packed once by the testkit's OldRelease and committed as fixtures/<commit>
// (a clean checkout may be shallow, without the commit, and building it costs a minute; delete
// the directory to have OldRelease build and pack the commit from git again), installed with npm into one project that also gets
// today's chaos fixture scripts. Those scripts are the harness, not the product: they drive
// whichever @tailwire packages sit next to them, so the same commands run the old and the new
// release as separate processes.
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { OldRelease } from "@tailwire/testkit";
import { installedVersion, pnpm, ROOT } from "../packaging/workspace.js";

/** The last commit before v2 (main when issue 22 started): speaks ExecutionLogs/v1 only. */
export const PREVIOUS_RELEASE_COMMIT = "e3d34bb";

const CHAOS_FIXTURES = new URL("../chaos/fixtures/", import.meta.url);
const SUPPORT = new URL("../support/", import.meta.url);

export interface PreviousRelease {
  release: OldRelease;
  /** Where ChaosNode finds the fixture scripts that run the previous release's packages. */
  fixtures: URL;
}

export async function previousRelease(): Promise<PreviousRelease> {
  const release = await OldRelease.prepare({
    repo: ROOT,
    commit: PREVIOUS_RELEASE_COMMIT,
    packages: ["protocol", "compute", "requester"],
    cacheDir: join(ROOT, ".cache", "old-releases"),
    prebuilt: fileURLToPath(new URL(`fixtures/${PREVIOUS_RELEASE_COMMIT}/`, import.meta.url)),
    pnpm: await pnpm(),
  });
  const project = await release.project({
    name: "nodes",
    packages: ["protocol", "compute", "requester"],
    dependencies: { "@nats-io/transport-node": installedVersion("@nats-io/transport-node") },
  });
  // The scripts import ../../support/json-lines.mjs: the same layout inside the project.
  const fixtures = join(project, "chaos", "fixtures");
  await mkdir(fixtures, { recursive: true });
  await mkdir(join(project, "support"), { recursive: true });
  for (const script of ["compute-node.mjs", "requester-node.mjs"]) {
    await copyFile(new URL(script, CHAOS_FIXTURES), join(fixtures, script));
  }
  await copyFile(new URL("json-lines.mjs", SUPPORT), join(project, "support", "json-lines.mjs"));
  return { release, fixtures: pathToFileURL(`${fixtures}/`) };
}
