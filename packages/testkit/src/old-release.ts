/**
 * An "old release" fixture: the packages of an earlier commit of a pnpm workspace, built and
 * packed as `pnpm publish` would upload them, then installed with npm into a project of their
 * own, so a test can run that release's code as separate processes next to today's.
 *
 * Building costs tens of seconds, so everything is cached by commit under `cacheDir`
 * (`<cacheDir>/<full sha>/`): a machine pays once per commit, later runs reuse the tarballs and
 * the installed projects. The cache is safe to share between concurrent test processes: the
 * first one builds under a lock directory (atomic `mkdir`), the others wait for its manifest.
 *
 * Why `git archive` and not `git worktree add`: it exports the commit's tree without registering
 * a worktree in the repository (nothing to clean up in `.git` if the test process dies).
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "./deadline.js";

export interface OldReleaseOptions {
  /** A directory inside the git repository that holds the commit. */
  repo: string;
  /** Any commit-ish; the cache is keyed by the full sha it resolves to. */
  commit: string;
  /** Workspace package directories under `packages/` to build and pack, in dependency order. */
  packages: readonly string[];
  /** Where the tarballs and installed projects are kept (gitignore it). */
  cacheDir: string;
  /** The pnpm command (default: `pnpm`, else `npx -y pnpm@10`). */
  pnpm?: readonly string[];
  /** Deadline for the whole build when nothing is cached (default 10 minutes). */
  timeoutMs?: number;
  /**
   * A directory of the commit's tarballs packed earlier and committed as fixtures (one
   * `tailwire-<package>-*.tgz` per package). When it holds them all they are used as they are:
   * no git history is needed (a shallow clone has none) and nothing is built.
   */
  prebuilt?: string;
}

export interface OldReleaseProjectOptions {
  /** A name for the project directory (one per role: "compute", "requester"). */
  name: string;
  /** Which of the release's packages the project depends on (by directory name). */
  packages: readonly string[];
  /** Further dependencies from the registry, by name and exact version. */
  dependencies?: Readonly<Record<string, string>>;
}

interface Manifest {
  commit: string;
  tarballs: Record<string, string>;
  buildMs: number;
}

/** The packed packages of one commit; `project()` installs some of them into an npm project. */
export class OldRelease {
  /** The full sha of the release's commit. */
  readonly commit: string;
  /** Tarball path per package directory name. */
  readonly tarballs: Readonly<Record<string, string>>;
  /** How long building and packing took when it was done (cached runs report the first). */
  readonly buildMs: number;
  /** Whether this call built the release (false: it came from the cache). */
  readonly built: boolean;
  readonly #dir: string;

  private constructor(dir: string, manifest: Manifest, built: boolean) {
    this.#dir = dir;
    this.commit = manifest.commit;
    this.tarballs = manifest.tarballs;
    this.buildMs = manifest.buildMs;
    this.built = built;
  }

  /** Builds and packs the commit's packages, or finds them in the cache. */
  static async prepare(options: OldReleaseOptions): Promise<OldRelease> {
    const prebuilt = options.prebuilt === undefined ? undefined : await packed(options);
    if (prebuilt) {
      const dir = join(options.cacheDir, `prebuilt-${options.commit}`);
      await mkdir(dir, { recursive: true });
      return new OldRelease(dir, { commit: options.commit, tarballs: prebuilt, buildMs: 0 }, false);
    }
    const commit = (
      await run(["git", "rev-parse", "--verify", `${options.commit}^{commit}`], options.repo)
    ).trim();
    const dir = join(options.cacheDir, commit);
    const manifestPath = join(dir, "manifest.json");
    const cached = readManifest(manifestPath, options.packages);
    if (cached) return new OldRelease(dir, cached, false);
    await mkdir(dir, { recursive: true });
    const lock = join(dir, ".lock");
    const timeoutMs = options.timeoutMs ?? 600_000;
    try {
      await mkdir(lock);
    } catch {
      // Another process builds it: wait for its manifest (or for its lock to go away).
      const manifest = await pollUntil(
        () => readManifest(manifestPath, options.packages) ?? (existsSync(lock) ? undefined : null),
        { timeoutMs, intervalMs: 500, what: `the build of ${commit} by another process` },
      );
      if (manifest) return new OldRelease(dir, manifest, false);
      return OldRelease.prepare(options);
    }
    try {
      const manifest = await build(commit, dir, options);
      await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
      return new OldRelease(dir, manifest, true);
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }

  /**
   * An npm project (its directory) with some of the release's tarballs installed by plain npm,
   * as a user of that release has them. Cached next to the tarballs: installed once.
   */
  async project(options: OldReleaseProjectOptions): Promise<string> {
    const dir = join(this.#dir, `${options.name}-app`);
    const dependencies: Record<string, string> = { ...options.dependencies };
    for (const pkg of options.packages) {
      const tarball = this.tarballs[pkg];
      if (tarball === undefined) throw new TypeError(`the release has no package ${pkg}`);
      dependencies[`@tailwire/${pkg}`] = `file:${tarball}`;
    }
    const manifest = { name: `old-${options.name}`, private: true, type: "module", dependencies };
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    const done = join(dir, ".installed");
    if (existsSync(done) && readFileSync(done, "utf8") === text) return dir;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "package.json"), text);
    await run(
      ["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
      dir,
      300_000,
    );
    await writeFile(done, text);
    return dir;
  }
}

/** The prebuilt tarball of every package, or undefined when one is missing. */
async function packed(options: OldReleaseOptions): Promise<Record<string, string> | undefined> {
  const dir = options.prebuilt as string;
  if (!existsSync(dir)) return undefined;
  const files = await readdir(dir);
  const tarballs: Record<string, string> = {};
  for (const pkg of options.packages) {
    const file = files.find((f) => f.startsWith(`tailwire-${pkg}-`) && f.endsWith(".tgz"));
    if (file === undefined) return undefined;
    tarballs[pkg] = join(dir, file);
  }
  return tarballs;
}

function readManifest(path: string, packages: readonly string[]): Manifest | undefined {
  if (!existsSync(path)) return undefined;
  const manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  const complete = packages.every((pkg) => {
    const tarball = manifest.tarballs[pkg];
    return tarball !== undefined && existsSync(tarball);
  });
  return complete ? manifest : undefined;
}

async function build(commit: string, dir: string, options: OldReleaseOptions): Promise<Manifest> {
  const started = performance.now();
  const src = await mkdtemp(join(tmpdir(), `tailwire-release-${commit.slice(0, 8)}-`));
  try {
    const top = (await run(["git", "rev-parse", "--show-toplevel"], options.repo)).trim();
    await run(["sh", "-c", `git archive ${commit} | tar -x -C "${src}"`], top);
    const pnpm = options.pnpm ?? (await pnpmCommand(options.repo));
    await run([...pnpm, "install", "--frozen-lockfile", "--prefer-offline"], src, 300_000);
    const tarballs: Record<string, string> = {};
    const out = join(dir, "tarballs");
    await mkdir(out, { recursive: true });
    // Dependency order: each package's build sees the declarations of those before it.
    for (const pkg of options.packages) {
      const pkgDir = join(src, "packages", pkg);
      await run([...pnpm, "run", "build"], pkgDir, 300_000);
      const before = new Set(await readdir(out));
      await run([...pnpm, "pack", "--pack-destination", out], pkgDir, 120_000);
      const made = (await readdir(out)).filter((f) => !before.has(f) && f.endsWith(".tgz"));
      if (made.length !== 1) throw new Error(`pnpm pack of ${pkg} made ${made.join(", ")}`);
      tarballs[pkg] = join(out, made[0] as string);
    }
    return { commit, tarballs, buildMs: Math.round(performance.now() - started) };
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

async function pnpmCommand(cwd: string): Promise<string[]> {
  try {
    const version = await run(["pnpm", "--version"], cwd, 30_000);
    if (version.trim().startsWith("10.")) return ["pnpm"];
  } catch {
    // not on PATH: fall through
  }
  return ["npx", "-y", "pnpm@10"];
}

function run(command: readonly string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  const [file, ...args] = command;
  if (file === undefined) throw new TypeError("empty command");
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command.join(" ")} (in ${cwd}) failed: ${error.message}\n${stderr}`));
        } else resolve(stdout);
      },
    );
  });
}
