// A real release, rehearsed: VERSIONING.md's flow (`changeset version`, then `changeset publish`,
// which publishes every package with pnpm) run on a copy of the workspace against a real npm
// registry (Verdaccio on 127.0.0.1, registry.ts), then the published packages installed the
// way people install them, in clean folders with npm and nothing global touched:
// - `npm i -g @tailwire/cli`: `tailwire --help`, and the installed binary runs a nats-server
//   (`server`), captures a job (`exec`), serves it (`compute`) and streams it (`logs`);
// - `npm init -y && npm i @tailwire/requester @nats-io/transport-node`: the requester README's
//   program runs (against that compute node), and the package loads from every module kind:
//   require() from CommonJS, import from ESM, and TypeScript .cts/.mts under NodeNext and
//   Bundler resolution (type-checked; the NodeNext output run).
// One publish, two installs: the whole file takes about 40 s, most of it the publish and npm.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readmeBlocks } from "./readme.js";
import { npmEnv, type Registry, startRegistry } from "./registry.js";
import { ensureBuilt, PUBLISHED, pnpm, ROOT, readPackageJson, run } from "./workspace.js";

const CHANGESET = [process.execPath, join(ROOT, "node_modules", "@changesets", "cli", "bin.js")];
const TSC = [process.execPath, join(ROOT, "node_modules", "typescript", "bin", "tsc")];

let work: string;
let registry: Registry | undefined;
let env: NodeJS.ProcessEnv;
/** The installed `tailwire server`'s URL: the NATS every installed program here talks to. */
let natsUrl: string;
let releaseRepo: string;
/** name → version, as `changeset version` left them. */
const released: Record<string, string> = {};
const timings: Record<string, number> = {};
const started: NodeProcess[] = [];

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await work();
  } finally {
    timings[what] = Math.round(performance.now() - t0);
  }
}

/** A throwaway git repository holding what a release needs: manifests, changesets, built packages. */
async function copyWorkspace(dest: string): Promise<void> {
  for (const file of ["package.json", "pnpm-workspace.yaml"]) {
    await cp(join(ROOT, file), join(dest, file));
  }
  await cp(join(ROOT, ".changeset"), join(dest, ".changeset"), { recursive: true });
  for (const pkg of PUBLISHED) {
    await cp(join(ROOT, "packages", pkg), join(dest, "packages", pkg), {
      recursive: true,
      filter: (source) => !/[/\\](node_modules|\.turbo)([/\\]|$)/.test(source),
    });
  }
  // What `pnpm install` links, for our own packages only: pnpm publish reads the version a
  // workspace: range stands for from node_modules/<dependency>/package.json (third-party
  // dependencies are not needed to pack).
  for (const pkg of PUBLISHED) {
    const manifest = readPackageJson(join(dest, "packages", pkg, "package.json"));
    const ours = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      (name) => name.startsWith("@tailwire/"),
    );
    for (const name of ours) {
      const link = join(dest, "packages", pkg, "node_modules", name);
      await mkdir(join(link, ".."), { recursive: true });
      await symlink(join("..", "..", "..", name.replace("@tailwire/", "")), link);
    }
  }
  const git = (...args: string[]) =>
    run(["git", "-c", "user.name=release", "-c", "user.email=release@example.com", ...args], {
      cwd: dest,
    });
  await git("init", "-q", "-b", "main");
  await git("add", "-A");
  await git("commit", "-q", "-m", "release candidate");
}

/** changesets runs `pnpm publish`: pnpm 10 must be on PATH (as scripts/bootstrap.sh arranges). */
async function pathWithPnpm(): Promise<string> {
  const cmd = await pnpm();
  if (cmd.length === 1) return process.env.PATH ?? "";
  const shimDir = join(work, "pnpm-shim");
  await mkdir(shimDir, { recursive: true });
  await writeFile(join(shimDir, "pnpm"), '#!/usr/bin/env bash\nexec npx -y pnpm@10 "$@"\n', {
    mode: 0o755,
  });
  return `${shimDir}:${process.env.PATH ?? ""}`;
}

const npmInstall = (cwd: string, ...args: string[]) =>
  run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=warn", ...args], {
    cwd,
    env,
    timeoutMs: 240_000,
  });

/** The @tailwire packages installed under a node_modules/@tailwire directory. */
async function installedOurs(scopeDir: string): Promise<string[]> {
  if (!existsSync(scopeDir)) return [];
  return (await readdir(scopeDir)).map((name) => join(scopeDir, name));
}

/** The `npm warn EBADENGINE` lines' package names. */
const badEngines = (stderr: string): string[] => [
  ...new Set(
    [...stderr.matchAll(/EBADENGINE.*?package: '([^']+)'/gs)].map((m) =>
      m[1]!.replace(/@[^@]+$/, ""),
    ),
  ),
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tailwire-release-"));
  await timed("build (only when dist is missing)", () => ensureBuilt(PUBLISHED));
  registry = await timed("verdaccio start", () => startRegistry(join(work, "registry")));
  env = await npmEnv(join(work, "npm"), registry);
  releaseRepo = join(work, "release");
  await timed("copy workspace", () => copyWorkspace(releaseRepo));
  await timed("changeset version", () =>
    run([...CHANGESET, "version"], { cwd: releaseRepo, env, timeoutMs: 60_000 }),
  );
  // As a release does: the version bump is committed, then published from a clean tree.
  await run(
    [
      "git",
      "-c",
      "user.name=release",
      "-c",
      "user.email=release@example.com",
      "commit",
      "-qam",
      "version packages",
    ],
    { cwd: releaseRepo },
  );
  for (const pkg of PUBLISHED) {
    const manifest = readPackageJson(join(releaseRepo, "packages", pkg, "package.json"));
    released[manifest.name] = manifest.version;
  }
  const PATH = await pathWithPnpm();
  await timed("changeset publish", () =>
    run([...CHANGESET, "publish"], { cwd: releaseRepo, env: { ...env, PATH }, timeoutMs: 240_000 }),
  );
}, 600_000);

afterAll(async () => {
  await Promise.allSettled(started.filter((p) => p.running).map((p) => p.kill("SIGTERM", 5000)));
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  console.info("release timings (ms):", timings);
});

describe("a release published to a real registry", () => {
  it("publishes every package at the version changeset gave it, with no workspace: range", async () => {
    expect(Object.keys(released).sort()).toEqual(PUBLISHED.map((p) => `@tailwire/${p}`).sort());
    // The fixed group moved as one.
    const fixed = ["protocol", "compute", "requester", "cli"].map(
      (p) => released[`@tailwire/${p}`],
    );
    expect(new Set(fixed).size).toBe(1);
    for (const [name, version] of Object.entries(released)) {
      const response = await fetch(`${registry!.url}${name.replace("/", "%2f")}`);
      expect(response.status, name).toBe(200);
      const packument = (await response.json()) as {
        "dist-tags": Record<string, string>;
        versions: Record<string, Record<string, unknown>>;
      };
      expect(packument["dist-tags"].latest, name).toBe(version);
      const manifest = packument.versions[version]!;
      expect(JSON.stringify(manifest), name).not.toContain("workspace:");
      for (const [dep, range] of Object.entries(
        (manifest.dependencies ?? {}) as Record<string, string>,
      )) {
        if (dep.startsWith("@tailwire/"))
          expect(range, `${name} → ${dep}`).toBe(`^${released[dep]}`);
      }
      expect(manifest.license).toBe("Apache-2.0");
      expect(manifest.repository).toMatchObject({ type: "git" });
    }
  });
});

describe("npm i -g @tailwire/cli on a clean machine", () => {
  let bin: string;
  let installLog: string;
  beforeAll(async () => {
    const { stderr } = await timed("npm i -g @tailwire/cli", () =>
      npmInstall(work, "--global", "@tailwire/cli"),
    );
    installLog = stderr;
    bin = join(env.npm_config_prefix!, "bin", "tailwire");
    // The installed CLI's own embedded nats-server (a nats-server binary must be on PATH).
    const server = await NodeProcess.start({
      script: bin,
      args: ["server"],
      env,
      readyLine: "nats-server ready at",
      readyTimeoutMs: 20_000,
    });
    started.push(server);
    natsUrl = /nats:\/\/127\.0\.0\.1:\d+/.exec(server.stdoutLines.join("\n"))![0];
  }, 300_000);

  it("gives a working tailwire: --help and --version", async () => {
    const help = await run([bin, "--help"], { cwd: work, env });
    expect(help.stdout).toMatch(/^Usage: tailwire/m);
    for (const command of ["server", "compute", "exec", "logs"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    const version = await run([bin, "--version"], { cwd: work, env });
    expect(version.stdout.trim()).toBe(released["@tailwire/cli"]);
  });

  it("the only engine warnings are @nats-io/nuid's and cookie's (they declare node >= 22; they run on 20)", () => {
    // Ours declare >=20.19; this suite runs on that Node. nuid 3.0.0 is pinned by nats-core;
    // cookie 2 comes with Fastify's light-my-request ^6 (VERSIONING.md).
    console.info(
      `EBADENGINE on Node ${process.version}: ${badEngines(installLog).join(", ") || "none"}`,
    );
    const known = new Set(["@nats-io/nuid", "cookie"]);
    expect(badEngines(installLog).filter((name) => !known.has(name))).toEqual([]);
  });

  it("every installed @tailwire package has its LICENSE, and its README's relative links resolve", async () => {
    const cliDir = join(env.npm_config_prefix!, "lib", "node_modules", "@tailwire", "cli");
    const dirs = [cliDir, ...(await installedOurs(join(cliDir, "node_modules", "@tailwire")))];
    expect(dirs.length).toBe(PUBLISHED.length);
    const license = await readFile(join(ROOT, "LICENSE"), "utf8");
    for (const dir of dirs) {
      expect(await readFile(join(dir, "LICENSE"), "utf8"), dir).toBe(license);
      const readme = await readFile(join(dir, "README.md"), "utf8");
      for (const [, target] of readme.matchAll(/\]\((?!https?:|#|mailto:)([^)\s#]+)[^)]*\)/g)) {
        expect(existsSync(join(dir, target!)), `${dir}/README.md → ${target}`).toBe(true);
      }
    }
  });

  it("the installed binary runs a nats-server, captures a job, serves it and streams it", async () => {
    const dataDir = join(work, "compute-data");
    const job = await run(
      [
        bin,
        "exec",
        "--data-dir",
        dataDir,
        "--execution-id",
        "job-42",
        "--",
        process.execPath,
        "-e",
        'console.log("hello from job-42"); console.error("a warning"); process.exitCode = 3',
      ],
      { cwd: work, env },
    ).catch((error: Error) => error);
    // exec exits with the job's code (3): run() reports that as a failure.
    expect(String(job)).toContain("exit code 3");
    const compute = await NodeProcess.start({
      script: bin,
      args: ["compute", "--node-id", "compute-1", "--data-dir", dataDir, "--nats", natsUrl],
      env,
      readyLine: "compute node compute-1 ready",
      readyTimeoutMs: 20_000,
    });
    started.push(compute);
    const logs = await NodeProcess.start({
      script: bin,
      args: ["logs", "job-42", "--node", "compute-1", "--nats", natsUrl],
      env: { ...env, NO_COLOR: "1" },
    });
    const status = await logs.waitForExit(20_000);
    expect(status, logs.output()).toEqual({ code: 0, signal: null });
    expect(logs.stdoutLines).toEqual(["hello from job-42"]);
    expect(logs.stderrLines).toEqual([
      "a warning",
      "tailwire logs: execution job-42 exited with code 3",
    ]);
  }, 60_000);

  it("the installed binary takes the kubectl/docker spellings and reports the job's exit code", async () => {
    const logs = async (...more: string[]) => {
      const proc = await NodeProcess.start({
        script: bin,
        args: ["logs", "job-42", "--node", "compute-1", "--nats", natsUrl, ...more],
        env: { ...env, NO_COLOR: "1" },
      });
      return { ...(await proc.waitForExit(20_000)), out: proc.stdoutLines, err: proc.stderrLines };
    };
    const json = await logs("-n", "all", "--stream", "stdout", "--stream", "stderr", "--json");
    const records = json.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r["line"] ?? r["type"])).toEqual([
      "hello from job-42",
      "a warning",
      "end",
    ]);
    expect(records.at(-1)).toMatchObject({ executionId: "job-42", exitCode: 3 });
    const first = records[0] as { time: number };
    const exitCode = await logs("--exit-code", "-t", "--since", String(first.time / 1000));
    expect(exitCode.code).toBe(3);
    expect(exitCode.out).toEqual([`${new Date(first.time).toISOString()} hello from job-42`]);
    // Nothing before the first line; the stream stops at the first line after --until.
    const before = await logs("--until", new Date(first.time - 1).toISOString(), "--json");
    expect(before).toMatchObject({ code: 0, out: [] });
  }, 60_000);
});

describe("npm init -y && npm i @tailwire/requester @nats-io/transport-node", () => {
  let project: string;
  beforeAll(async () => {
    project = join(work, "requester-app");
    await mkdir(project);
    await run(["npm", "init", "-y"], { cwd: project, env });
    await timed("npm i @tailwire/requester @nats-io/transport-node", () =>
      npmInstall(project, "@tailwire/requester", "@nats-io/transport-node"),
    );
  }, 300_000);

  it("npm init -y made a CommonJS project", async () => {
    const manifest = JSON.parse(await readFile(join(project, "package.json"), "utf8"));
    expect(manifest.type ?? "commonjs").toBe("commonjs");
  });

  it("the requester README's program runs as written (saved as .mjs)", async () => {
    const readme = await readFile(
      join(project, "node_modules", "@tailwire", "requester", "README.md"),
      "utf8",
    );
    const program = readmeBlocks(readme, "README.md")[0]!.source;
    expect(program).toContain('computeNodeId: "compute-1"');
    expect(program).toContain('executionId: "job-42"');
    // The README connects to the default local server; this test's server has its own port.
    const script = join(project, "readme.mjs");
    await writeFile(script, program.replace("nats://127.0.0.1:4222", natsUrl));
    const proc = await NodeProcess.start({ script, cwd: project, env });
    const status = await proc.waitForExit(20_000);
    expect(status, proc.output()).toEqual({ code: 0, signal: null });
    expect(proc.stdoutLines).toEqual([
      expect.stringMatching(/^1 stdout \d{4}-\d\d-\d\dT\S+Z hello from job-42$/),
      expect.stringMatching(/^2 stderr \S+ a warning$/),
      "complete, exit code 3",
    ]);
  }, 30_000);

  it("require() from CommonJS and import from ESM load one and the same package", async () => {
    await writeFile(
      join(project, "index.js"),
      [
        'const { LogStreamClient, TailwireError } = require("@tailwire/requester");',
        'console.log(typeof LogStreamClient, typeof TailwireError, require("@tailwire/requester/package.json").name);',
      ].join("\n"),
    );
    await writeFile(
      join(project, "esm.mjs"),
      [
        'import { LogStreamClient } from "@tailwire/requester";',
        'import { createRequire } from "node:module";',
        "const required = createRequire(import.meta.url)('@tailwire/requester');",
        "console.log(typeof LogStreamClient, LogStreamClient === required.LogStreamClient);",
      ].join("\n"),
    );
    const cjs = await run([process.execPath, "index.js"], { cwd: project, env });
    expect(cjs.stdout.trim()).toBe("function function @tailwire/requester");
    expect(cjs.stderr).toBe(""); // no ExperimentalWarning either
    const esm = await run([process.execPath, "esm.mjs"], { cwd: project, env });
    expect(esm.stdout.trim()).toBe("function true");
  });

  it("TypeScript: .cts and .mts type-check under NodeNext and Bundler, and the NodeNext output runs", async () => {
    await writeFile(
      join(project, "consumer.cts"),
      [
        'import requester = require("@tailwire/requester");',
        "const Client: typeof requester.LogStreamClient = requester.LogStreamClient;",
        'const code: string = new requester.ComputeNodeLostError("x").code;',
        "console.log(typeof Client, code);",
        "export {};",
      ].join("\n"),
    );
    await writeFile(
      join(project, "consumer.mts"),
      [
        'import { type LogEntry, LogStreamClient, TailwireError } from "@tailwire/requester";',
        'const entry: LogEntry = { seq: 1, stream: "stdout", time: 0, line: "x" };',
        "console.log(typeof LogStreamClient, TailwireError.name, entry.seq);",
      ].join("\n"),
    );
    const base = {
      strict: true,
      target: "ES2022",
      skipLibCheck: false,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
    };
    const configs = {
      "tsconfig.nodenext.json": {
        compilerOptions: {
          ...base,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          outDir: "out",
        },
        files: ["consumer.cts", "consumer.mts"],
      },
      "tsconfig.bundler.json": {
        compilerOptions: { ...base, module: "Preserve", moduleResolution: "Bundler", noEmit: true },
        files: ["consumer.cts", "consumer.mts"],
      },
    };
    for (const [file, config] of Object.entries(configs)) {
      await writeFile(join(project, file), JSON.stringify(config, null, 2));
    }
    await timed("tsc NodeNext + Bundler", () =>
      Promise.all(
        Object.keys(configs).map((file) =>
          run([...TSC, "-p", file], { cwd: project, env, timeoutMs: 120_000 }),
        ),
      ),
    );
    const cjs = await run([process.execPath, "out/consumer.cjs"], { cwd: project, env });
    expect(cjs.stdout.trim()).toBe("function COMPUTE_NODE_LOST");
    const esm = await run([process.execPath, "out/consumer.mjs"], { cwd: project, env });
    expect(esm.stdout.trim()).toBe("function TailwireError 1");
  }, 120_000);
});
