// The release flow of VERSIONING.md, run for real: the workspace's package.json files and
// .changeset/config.json are copied into a throwaway git repository, changesets are written there
// and `changeset version` is run, then the resulting versions are asserted. Nothing in the
// workspace is touched.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, readPackageJson, run } from "./workspace.js";

const CHANGESET = [process.execPath, join(ROOT, "node_modules", "@changesets", "cli", "bin.js")];
const FIXED = [
  "@tailwire/protocol",
  "@tailwire/compute",
  "@tailwire/requester",
  "@tailwire/cli",
  "@tailwire/conformance",
  "@tailwire/gateway",
];
type Bump = "patch" | "minor" | "major";

/** Every workspace package directory, from pnpm-workspace.yaml's `dir/*` and `dir` entries. */
function workspaceDirs(): string[] {
  const yaml = readFileSync(join(ROOT, "pnpm-workspace.yaml"), "utf8");
  const patterns = [...yaml.matchAll(/^\s+-\s+"?([^"\n]+)"?\s*$/gm)].map((m) => m[1]!.trim());
  return patterns.flatMap((pattern) => {
    const base = pattern.replace(/\/\*$/, "");
    const dirs = pattern.endsWith("/*")
      ? readdirSync(join(ROOT, base), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${base}/${d.name}`)
      : [base];
    return dirs.filter((d) => existsSync(join(ROOT, d, "package.json")));
  });
}

let repo: string;
let dirs: string[];
const git = (...args: string[]) =>
  run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", ...args], {
    cwd: repo,
    timeoutMs: 30_000,
  });

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), "tailwire-changesets-"));
  dirs = workspaceDirs();
  const files = [
    "package.json",
    "pnpm-workspace.yaml",
    ".changeset/config.json",
    ...dirs.map((d) => `${d}/package.json`),
  ];
  for (const file of files) {
    await mkdir(dirname(join(repo, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(repo, file));
  }
  await git("init", "-q", "-b", "main");
  await git("add", "-A");
  await git("commit", "-q", "-m", "workspace manifests");
}, 60_000);

afterAll(async () => {
  if (repo) await rm(repo, { recursive: true, force: true });
});

interface Outcome {
  /** name → version after `changeset version`, for every workspace package. */
  versions: Record<string, string>;
  /** Files that changed or appeared. */
  changed: string[];
}

/** Resets the repo, writes the changesets, runs `changeset version`. */
async function version(changesets: Record<string, Partial<Record<string, Bump>>>) {
  await git("checkout", "-q", "--", ".");
  await git("clean", "-fdq");
  for (const [id, releases] of Object.entries(changesets)) {
    const front = Object.entries(releases).map(([name, bump]) => `"${name}": ${bump}`);
    await writeFile(
      join(repo, ".changeset", `${id}.md`),
      `---\n${front.join("\n")}\n---\n\n${id}\n`,
    );
  }
  await run([...CHANGESET, "version"], { cwd: repo, timeoutMs: 60_000 });
  const versions: Record<string, string> = {};
  for (const dir of dirs) {
    const pkg = readPackageJson(join(repo, dir, "package.json"));
    versions[pkg.name] = pkg.version;
  }
  const { stdout } = await git("status", "--porcelain", "--untracked-files=all");
  const changed = stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(3))
    .sort()
    .filter((file) => !file.startsWith(".changeset/"));
  return { versions, changed } satisfies Outcome;
}

const before = (name: string): string => {
  const dir = dirs.find((d) => readPackageJson(join(ROOT, d, "package.json")).name === name)!;
  return readPackageJson(join(ROOT, dir, "package.json")).version;
};

function bumped(from: string, bump: Bump): string {
  const [major, minor, patch] = from.split(".").map(Number) as [number, number, number];
  if (bump === "major") return `${major + 1}.0.0`;
  if (bump === "minor") return `${major}.${minor + 1}.0`;
  return `${major}.${minor}.${patch + 1}`;
}

/** The fixed group moves as one: the highest bump, from the highest current version. */
const fixedVersion = (bump: Bump): string => {
  const highest = FIXED.map(before).sort((a, b) =>
    a.localeCompare(b, undefined, { numeric: true }),
  )[FIXED.length - 1]!;
  return bumped(highest, bump);
};

function expectPrivateUntouched(outcome: Outcome): void {
  for (const dir of dirs) {
    const pkg = readPackageJson(join(ROOT, dir, "package.json"));
    if (!pkg.private) continue;
    expect(outcome.versions[pkg.name], `${pkg.name} is private`).toBe(pkg.version);
    expect(outcome.changed).not.toContain(`${dir}/CHANGELOG.md`);
  }
}

describe("changeset version on a copy of the workspace", () => {
  it("a protocol minor releases protocol, compute and requester together (fixed); testkit stays", async () => {
    const outcome = await version({ "wire-change": { "@tailwire/protocol": "minor" } });
    for (const name of FIXED) expect(outcome.versions[name], name).toBe(fixedVersion("minor"));
    expect(outcome.versions["@tailwire/testkit"]).toBe(before("@tailwire/testkit"));
    expectPrivateUntouched(outcome);
    for (const pkg of ["protocol", "compute", "requester", "cli"]) {
      expect(outcome.changed).toContain(`packages/${pkg}/CHANGELOG.md`);
    }
    // Internal ranges stay workspace:^ in the repo; pnpm publish/pack writes the real version.
    const compute = readPackageJson(join(repo, "packages/compute/package.json"));
    expect(compute.dependencies?.["@tailwire/protocol"]).toBe("workspace:^");
    const changelog = await readFile(join(repo, "packages/compute/CHANGELOG.md"), "utf8");
    expect(changelog).toContain(`@tailwire/protocol@${fixedVersion("minor")}`);
  });

  it("a requester-only patch still releases the whole fixed group at one version", async () => {
    const outcome = await version({ "client-fix": { "@tailwire/requester": "patch" } });
    for (const name of FIXED) expect(outcome.versions[name], name).toBe(fixedVersion("patch"));
    expect(outcome.versions["@tailwire/testkit"]).toBe(before("@tailwire/testkit"));
    expectPrivateUntouched(outcome);
  });

  it("testkit is versioned on its own; the CLI that ships it follows at a patch", async () => {
    const outcome = await version({ fixtures: { "@tailwire/testkit": "minor" } });
    expect(outcome.versions["@tailwire/testkit"]).toBe(
      bumped(before("@tailwire/testkit"), "minor"),
    );
    // @tailwire/cli depends on testkit (`tailwire server` is its NatsServer): a 0.x minor leaves
    // the CLI's ^range, so the CLI is released at a patch, and the fixed group with it.
    for (const name of FIXED) expect(outcome.versions[name], name).toBe(fixedVersion("patch"));
    const cli = readPackageJson(join(repo, "packages/cli/package.json"));
    expect(cli.dependencies?.["@tailwire/testkit"]).toBe("workspace:^");
    const changelog = await readFile(join(repo, "packages/cli/CHANGELOG.md"), "utf8");
    expect(changelog).toContain(
      `@tailwire/testkit@${bumped(before("@tailwire/testkit"), "minor")}`,
    );
    expectPrivateUntouched(outcome);
  });

  it("the highest bump wins across changesets (major: dropping a wire version)", async () => {
    const outcome = await version({
      "drop-v1": { "@tailwire/compute": "major" },
      "doc-fix": { "@tailwire/protocol": "patch", "@tailwire/testkit": "patch" },
    });
    for (const name of FIXED) expect(outcome.versions[name], name).toBe(fixedVersion("major"));
    expect(outcome.versions["@tailwire/testkit"]).toBe(
      bumped(before("@tailwire/testkit"), "patch"),
    );
    expectPrivateUntouched(outcome);
  });

  it("the workspace's pending changesets keep the fixed group in step", async () => {
    await git("checkout", "-q", "--", ".");
    await git("clean", "-fdq");
    const pending = readdirSync(join(ROOT, ".changeset")).filter(
      (f) => f.endsWith(".md") && f !== "README.md",
    );
    for (const file of pending) {
      await copyFile(join(ROOT, ".changeset", file), join(repo, ".changeset", file));
    }
    const statusFile = join(repo, "status.json");
    await run([...CHANGESET, "status", `--output=${statusFile}`], { cwd: repo, timeoutMs: 60_000 });
    const status = JSON.parse(await readFile(statusFile, "utf8")) as {
      releases: { name: string; type: string; oldVersion: string; newVersion: string }[];
    };
    await rm(statusFile);
    await run([...CHANGESET, "version"], { cwd: repo, timeoutMs: 60_000 }); // rejects on failure
    const versions = Object.fromEntries(
      dirs.map((d) => {
        const pkg = readPackageJson(join(repo, d, "package.json"));
        return [pkg.name, pkg.version];
      }),
    );
    console.info(
      `pending changesets: ${pending.join(", ") || "none"}\n` +
        status.releases
          .map((r) => `  ${r.name}: ${r.oldVersion} → ${r.newVersion} (${r.type})`)
          .join("\n"),
    );
    const fixed = new Set(FIXED.map((name) => versions[name]));
    expect(fixed.size, JSON.stringify(versions)).toBe(1);
    for (const release of status.releases) {
      expect(versions[release.name]).toBe(release.newVersion);
    }
  });
});
