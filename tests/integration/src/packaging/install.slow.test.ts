// The packages as people install them: each published package is packed with `pnpm pack` (what
// `pnpm publish` uploads: `files` only, workspace: ranges replaced by versions), then installed
// with plain npm into an empty project per role: compute (compute + protocol tarballs) and
// requester (requester + protocol tarballs), third-party dependencies from the npm registry, no
// workspace links. A compute process and a requester process, each running from its own project,
// stream an execution's log end to end through a testkit nats-server. This catches files missing
// from `files`, wrong `exports`, undeclared dependencies and imports of dev-only packages.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { NatsServer, NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  installedVersion,
  type PackageJson,
  type Published,
  pack,
  ROOT,
  readPackageJson,
  run,
} from "./workspace.js";

type Role = "compute" | "requester" | "conformance";

const ROLES: Record<Role, { packages: Published[]; script: string }> = {
  compute: { packages: ["protocol", "compute"], script: "compute-node.mjs" },
  requester: { packages: ["protocol", "requester"], script: "requester.mjs" },
  // An implementer of another language checking theirs: only the kit (and the protocol).
  conformance: { packages: ["protocol", "conformance"], script: "conformance.mjs" },
};

const CONSUMER_DIR = fileURLToPath(new URL("./consumer/", import.meta.url));
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

let work: string;
let server: NatsServer | undefined;
const projects = {} as Record<Role, string>;
const timings: Record<string, number> = {};

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings[what] = Math.round(performance.now() - started);
  }
}

/** An empty npm project with the role's tarballs and the NATS transport, installed by npm. */
async function makeProject(role: Role, tarballs: Record<Published, string>): Promise<string> {
  const dir = join(work, `${role}-app`);
  await mkdir(dir);
  const dependencies: Record<string, string> = {
    // The host owns the connection: it installs the transport, which brings @nats-io/nats-core
    // (the packages' peer dependency). Pinned to the workspace's version so the npm cache hits.
    "@nats-io/transport-node": installedVersion("@nats-io/transport-node"),
  };
  for (const pkg of ROLES[role].packages)
    dependencies[`@tailwire/${pkg}`] = `file:${tarballs[pkg]}`;
  const manifest = {
    name: `tailwire-${role}-consumer`,
    private: true,
    type: "module",
    dependencies,
  };
  await writeFile(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await copyFile(join(CONSUMER_DIR, ROLES[role].script), join(dir, ROLES[role].script));
  // A consumer's strict type-check of the very script that runs, against the installed
  // declarations (skipLibCheck off: the packages' .d.ts files are checked too).
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      allowJs: true,
      checkJs: true,
      noEmit: true,
      skipLibCheck: false,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
    },
    files: [ROLES[role].script],
  };
  await writeFile(join(dir, "tsconfig.json"), `${JSON.stringify(tsconfig, null, 2)}\n`);
  await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
    cwd: dir,
    timeoutMs: 180_000,
  });
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

const installed = (role: Role, name: string): PackageJson =>
  readPackageJson(join(projects[role], "node_modules", name, "package.json"));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tailwire-install-"));
  await timed("build (only when dist is missing)", () =>
    ensureBuilt(["protocol", "compute", "requester", "conformance"]),
  );
  const tarballs = await timed("pnpm pack ×4", () =>
    pack(["protocol", "compute", "requester", "conformance"], join(work, "tarballs")),
  );
  await timed("npm install ×3 (parallel)", async () => {
    const [compute, requester, conformance] = await Promise.all([
      makeProject("compute", tarballs),
      makeProject("requester", tarballs),
      makeProject("conformance", tarballs),
    ]);
    projects.compute = compute;
    projects.requester = requester;
    projects.conformance = conformance;
  });
  server = await NatsServer.start();
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  console.info("packaging timings (ms):", timings);
});

describe("packed tarballs installed with npm into an empty project per role", () => {
  it.each(Object.keys(ROLES) as Role[])("the %s project holds only its role's packages", (role) => {
    const nodeModules = join(projects[role], "node_modules");
    const ours = readdirSync(join(nodeModules, "@tailwire")).sort();
    expect(ours).toEqual([...ROLES[role].packages].sort());
    // Nothing dev-only came along: no testkit, no pino (optional: any logger with its methods).
    expect(existsSync(join(nodeModules, "pino"))).toBe(false);
    // One nats-core, the host's (a peer dependency): error classes compare across the packages.
    expect(existsSync(join(nodeModules, "@nats-io", "nats-core"))).toBe(true);
    const nested = filesUnder(nodeModules).filter((f) =>
      /node_modules\/.+\/node_modules\/@nats-io\/nats-core\//.test(f),
    );
    expect(nested).toEqual([]);
    for (const pkg of ROLES[role].packages) {
      const manifest = installed(role, `@tailwire/${pkg}`);
      // pnpm pack replaced the workspace: ranges with the versions being published.
      expect(JSON.stringify(manifest)).not.toContain("workspace:");
      const protocolRange = manifest.dependencies?.["@tailwire/protocol"];
      if (pkg !== "protocol") {
        expect(protocolRange).toBe(`^${installed(role, "@tailwire/protocol").version}`);
        expect(manifest.peerDependencies?.["@nats-io/nats-core"]).toMatch(/^\^3\./);
      }
      // Only what users need: no tests, test helpers or fixtures; every source map's source is
      // shipped (the .d.ts.map files point editors at src/).
      const dir = join(nodeModules, "@tailwire", pkg);
      const files = filesUnder(dir).map((f) => relative(dir, f));
      expect(files.filter((f) => /\.test\.|test-helpers|test-fixtures/.test(f))).toEqual([]);
      expect(files).toContain("dist/index.js");
      expect(files).toContain("dist/index.d.ts");
      expect(files).toContain("README.md");
      // Every module in dist comes from a source in src: tsc never deletes the output of a
      // removed source, so a dist that was not built clean would publish stale modules.
      const stale = files.filter(
        (f) =>
          f.startsWith("dist/") &&
          !files.includes(f.replace(/^dist\//, "src/").replace(/(\.d)?\.(js|ts)(\.map)?$/, ".ts")),
      );
      expect(
        stale,
        `stale build output in @tailwire/${pkg}'s tarball: rebuild from a clean dist ` +
          "(rm -rf packages/*/dist && pnpm run build)",
      ).toEqual([]);
      for (const map of files.filter((f) => f.endsWith(".map"))) {
        const { sources } = JSON.parse(readFileSync(join(dir, map), "utf8")) as {
          sources: string[];
        };
        for (const source of sources) {
          expect(existsSync(join(dir, map, "..", source)), `${pkg}/${map} → ${source}`).toBe(true);
        }
      }
    }
  });

  it("each role's script type-checks against the installed declarations", async () => {
    // Concurrently: with skipLibCheck off each check reads all of @types/node (~10 s).
    await Promise.all(
      (Object.keys(ROLES) as Role[]).map((role) =>
        timed(`tsc ${role}`, () =>
          run([process.execPath, TSC, "-p", "tsconfig.json"], {
            cwd: projects[role],
            timeoutMs: 120_000,
          }),
        ),
      ),
    );
  }, 120_000);

  it("a compute process and a requester process stream an execution end to end", async () => {
    const url = server!.url;
    const compute = await NodeProcess.start({
      script: join(projects.compute, ROLES.compute.script),
      cwd: projects.compute,
      env: {
        NATS_URL: url,
        NODE_ID: "packed-compute-1",
        EXECUTION_ID: "exec-1",
        LOG_DIR: join(work, "logs"),
      },
      readyLine: "ready",
      readyTimeoutMs: 20_000,
    });
    try {
      const requester = (executionId: string) =>
        NodeProcess.start({
          script: join(projects.requester, ROLES.requester.script),
          cwd: projects.requester,
          env: {
            NATS_URL: url,
            NODE_ID: "packed-requester-1",
            COMPUTE_NODE_ID: "packed-compute-1",
            EXECUTION_ID: executionId,
          },
        });

      const ok = await requester("exec-1");
      expect(await ok.waitForExit(20_000), ok.output()).toEqual({ code: 0, signal: null });
      expect(ok.stdoutLines).toEqual([
        "protocol v1,v2, one copy: true",
        "1 stdout hello from a packed tarball",
        "2 stderr a line on stderr",
        '3 stdout ünïcödé ✓ and "quotes"',
        "exit code 3",
      ]);

      // Typed errors cross the wire and the package boundary: instanceof and code both hold.
      const missing = await requester("no-such-exec");
      expect(await missing.waitForExit(20_000), missing.output()).toEqual({
        code: 1,
        signal: null,
      });
      expect(missing.stdoutLines.at(-1)).toBe("failed: EXECUTION_NOT_FOUND (not found)");

      // The compute node shuts down cleanly on SIGTERM: nothing left holding the event loop.
      expect(await compute.kill("SIGTERM", 10_000), compute.output()).toEqual({
        code: 0,
        signal: null,
      });
      expect(compute.stdoutLines.at(-1)).toBe("closed after 1 completed stream(s)");
    } finally {
      if (compute.running) await compute.kill();
    }
  }, 60_000);

  it("the conformance kit runs from its installed package: API, seeds and the bin", async () => {
    const kit = await NodeProcess.start({
      script: join(projects.conformance, ROLES.conformance.script),
      cwd: projects.conformance,
      env: { NATS_URL: server!.url },
    });
    // Nothing reads from the node it plays: the report fails, so exit code 1.
    expect(await kit.waitForExit(20_000), kit.output()).toEqual({ code: 1, signal: null });
    expect(kit.stdoutLines.slice(0, 3)).toEqual([
      "conformance-basic: 11 lines, exit 3",
      "conformance-long-line: 3 lines, exit 0",
      "conformance-credit: 3000 lines, exit 0",
    ]);
    expect(kit.stdoutLines.at(-1)).toMatch(
      /^NOT CONFORMANT: 0 passed, 1 failed, \d+ not checkable/,
    );
    // The bin, as `npx tailwire-conformance` runs it.
    const bin = join(projects.conformance, "node_modules", ".bin", "tailwire-conformance");
    const seeds = await run([bin, "seeds"], { cwd: projects.conformance, timeoutMs: 20_000 });
    expect(seeds.stdout).toMatch(
      /^credit: conformance-credit \(3000 lines, exit code 0\) .*node_modules\/@tailwire\/conformance\/seeds\/credit\.json$/m,
    );
  }, 60_000);
});
