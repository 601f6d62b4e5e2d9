// Helpers for the packaging tests: where the workspace is, how to run pnpm, building when dist is
// missing, and packing the published packages the way `pnpm publish` would (workspace: ranges
// replaced by real versions).
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The monorepo root (this file is tests/integration/src/packaging/workspace.ts). */
export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** The packages that are published, by directory under packages/. */
export const PUBLISHED = [
  "protocol",
  "compute",
  "requester",
  "testkit",
  "cli",
  "conformance",
  "gateway",
] as const;
export type Published = (typeof PUBLISHED)[number];

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

export function readPackageJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, "utf8")) as PackageJson;
}

export const packageDir = (pkg: Published): string => join(ROOT, "packages", pkg);
export const packageJsonOf = (pkg: Published): PackageJson =>
  readPackageJson(join(packageDir(pkg), "package.json"));

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: readonly string[], options: RunOptions): Promise<RunResult> {
  const [file, ...args] = command;
  if (file === undefined) throw new TypeError("empty command");
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const ms = Math.round(performance.now() - started);
        if (error) {
          reject(
            new Error(
              `${command.join(" ")} (in ${options.cwd}) failed after ${ms} ms: ${error.message}\n` +
                `--- stdout\n${stdout}\n--- stderr\n${stderr}`,
            ),
          );
        } else {
          resolve({ stdout, stderr, ms });
        }
      },
    );
  });
}

let pnpmCommand: Promise<string[]> | undefined;

/** pnpm 10: the one on PATH when it is pnpm 10, else through npx (as scripts/bootstrap.sh does). */
export function pnpm(): Promise<string[]> {
  pnpmCommand ??= run(["pnpm", "--version"], { cwd: ROOT, timeoutMs: 30_000 }).then(
    ({ stdout }) => (stdout.trim().startsWith("10.") ? ["pnpm"] : ["npx", "-y", "pnpm@10"]),
    () => ["npx", "-y", "pnpm@10"],
  );
  return pnpmCommand;
}

/** The packages' dist is what gets packed: build (turbo, cached) when one is missing. */
export async function ensureBuilt(pkgs: readonly Published[]): Promise<void> {
  const missing = pkgs.filter((pkg) => !existsSync(join(packageDir(pkg), "dist", "index.js")));
  if (missing.length === 0) return;
  await run([...(await pnpm()), "run", "build"], { cwd: ROOT, timeoutMs: 300_000 });
}

/** The file name `pnpm pack` gives a package's tarball. */
export function tarballName(pkg: PackageJson): string {
  return `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`;
}

/** Packs the packages (in parallel) into `dest`; returns each tarball's absolute path. */
export async function pack(
  pkgs: readonly Published[],
  dest: string,
): Promise<Record<Published, string>> {
  await mkdir(dest, { recursive: true });
  const cmd = await pnpm();
  const entries = await Promise.all(
    pkgs.map(async (pkg) => {
      await run([...cmd, "pack", "--pack-destination", dest], {
        cwd: packageDir(pkg),
        timeoutMs: 120_000,
      });
      const tarball = join(dest, tarballName(packageJsonOf(pkg)));
      if (!existsSync(tarball)) throw new Error(`pnpm pack made no ${tarball}`);
      return [pkg, tarball] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Published, string>;
}

/** The exact version of a dependency installed in the workspace (pinned in the temp projects). */
export function installedVersion(name: string): string {
  // compute's devDependencies hold both NATS packages; resolved through its node_modules link.
  return readPackageJson(join(packageDir("compute"), "node_modules", name, "package.json")).version;
}
