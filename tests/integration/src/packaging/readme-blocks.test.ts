// Every TypeScript / JavaScript code block of every package README is type-checked, so the
// READMEs cannot drift from the API. Each block becomes its own ES module (.mts / .mjs: the
// examples use top-level await, as the READMEs say), type-checked by tsc with the workspace's
// strict options against the packages' sources. A fragment that needs names from around it
// states them in an HTML comment just before its fence, invisible on the rendered page:
//   <!-- readme-check prelude: import type { LogStream } from "@tailwire/requester"; declare const stream: LogStream; -->
// Blocks fenced `text`, `sh` or `console` (API synopses, shell sessions) are not programs.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReadmeBlock, readmeBlocks } from "./readme.js";
import { ROOT, run } from "./workspace.js";

const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const READMES = readdirSync(join(ROOT, "packages"), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => `packages/${d.name}/README.md`)
  .filter((path) => {
    try {
      readFileSync(join(ROOT, path));
      return true;
    } catch {
      return false;
    }
  });

let work: string;
beforeAll(async () => {
  // Under tests/integration/node_modules: module resolution finds the workspace's dependencies
  // (@nats-io/transport-node, vitest) the way a consumer's project would, and git ignores it.
  const cache = join(ROOT, "tests", "integration", "node_modules", ".cache");
  await mkdir(cache, { recursive: true });
  work = await mkdtemp(join(cache, "readme-blocks-"));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Type-checks the blocks in one tsc run; returns tsc's diagnostics ("" when they all pass). */
async function typeCheck(dir: string, blocks: readonly ReadmeBlock[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const block of blocks) await writeFile(join(dir, block.file), block.source);
  const src = (pkg: string) => [join(ROOT, "packages", pkg, "src", "index.ts")];
  const tsconfig = {
    extends: join(ROOT, "tsconfig.base.json"),
    compilerOptions: {
      noEmit: true,
      allowJs: true,
      checkJs: true,
      // A README block shows a use; a value it computes and does not print is fine.
      noUnusedLocals: false,
      noUnusedParameters: false,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
      paths: Object.fromEntries(
        ["protocol", "compute", "requester", "testkit", "cli", "conformance", "gateway"].map(
          (p) => [`@tailwire/${p}`, src(p)],
        ),
      ),
    },
    files: blocks.map((b) => b.file),
  };
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  try {
    await run([process.execPath, TSC, "-p", "tsconfig.json"], { cwd: dir, timeoutMs: 120_000 });
    return "";
  } catch (error) {
    return (error as Error).message;
  }
}

describe("README code blocks", () => {
  const blocks = READMES.flatMap((path) =>
    readmeBlocks(readFileSync(join(ROOT, path), "utf8"), path),
  );

  it("finds the examples of every library package", () => {
    for (const pkg of ["protocol", "compute", "requester", "testkit"]) {
      expect(
        blocks.some((b) => b.where.startsWith(`packages/${pkg}/`)),
        pkg,
      ).toBe(true);
    }
  });

  it("every TypeScript/JavaScript block type-checks against the packages", async () => {
    const diagnostics = await typeCheck(join(work, "all"), blocks);
    // Name the README lines: tsc reports the generated file names.
    const named = blocks.reduce((text, b) => text.replaceAll(b.file, b.where), diagnostics);
    expect(named).toBe("");
  }, 120_000);

  it("a block that does not compile is reported (the check can fail)", async () => {
    const broken = readmeBlocks(
      [
        "```ts",
        'import { encode, MessageType } from "@tailwire/protocol";',
        'encode({ type: MessageType.Data, streamId: "s", n: 1, entries: [] });',
        "```",
      ].join("\n"),
      "broken.md",
    );
    const diagnostics = await typeCheck(join(work, "broken"), broken);
    expect(diagnostics).toMatch(/broken-md-1\.mts.*error TS/);
  }, 120_000);
});
