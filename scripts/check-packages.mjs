#!/usr/bin/env node
// `pnpm run check:packages` (or `npm run check:packages`, or `node scripts/check-packages.mjs`):
// builds every published package (packages/*, not private) from a clean dist, then runs publint
// (strict) and attw on each. It needs nothing on PATH but node and npm: the build runs each
// package's own `build` script through npm in dependency order, and both linters pack with npm,
// so it works from a plain shell without pnpm or turbo (turbo looks pnpm up on PATH).
//
// attw profile node16 with cjs-resolves-to-esm ignored: attw models CommonJS as it was before
// Node 20.19, where require() of an ES module was an error. Our engines say >=20.19, where it
// is not; that require() works is tested for real (tests/integration/src/packaging/
// module-kinds.slow.test.ts). Every other rule, CommonJS resolution included, still applies.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(join(ROOT, "package.json"));
const { publint } = await import(require.resolve("publint"));
const { formatMessage } = await import(require.resolve("publint/utils"));
// attw's exports map hides its bin: find it from the package.json it does export.
const attwManifest = require.resolve("@arethetypeswrong/cli/package.json");
const ATTW = join(attwManifest, "..", JSON.parse(readFileSync(attwManifest, "utf8")).bin.attw);

/** name → { dir, manifest } of every published package. */
const packages = new Map();
for (const entry of readdirSync(join(ROOT, "packages"), { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  const dir = join(ROOT, "packages", entry.name);
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  } catch {
    continue;
  }
  if (!manifest.private) packages.set(manifest.name, { dir, manifest });
}

/** Dependencies first, so each build finds the declarations of the packages it imports. */
function buildOrder() {
  const order = [];
  const visiting = new Set();
  const visit = (name) => {
    if (order.includes(name) || visiting.has(name)) return;
    visiting.add(name);
    const { manifest } = packages.get(name);
    const deps = { ...manifest.dependencies, ...manifest.devDependencies };
    for (const dep of Object.keys(deps)) if (packages.has(dep)) visit(dep);
    order.push(name);
  };
  for (const name of [...packages.keys()].sort()) visit(name);
  return order;
}

let failed = 0;
for (const name of buildOrder()) {
  const { dir } = packages.get(name);
  process.stdout.write(`build ${name}\n`);
  execFileSync("npm", ["run", "--silent", "build"], { cwd: dir, stdio: "inherit" });
}
for (const name of buildOrder()) {
  const { dir, manifest } = packages.get(name);
  process.stdout.write(`\n== ${name}: publint --strict\n`);
  const { messages, pkg } = await publint({ pkgDir: dir, strict: true, pack: "npm" });
  for (const message of messages) {
    process.stdout.write(`  ${message.type}: ${formatMessage(message, pkg ?? manifest)}\n`);
  }
  // Strict: warnings fail as errors do; suggestions are shown only.
  if (messages.some((m) => m.type !== "suggestion")) failed++;
  else process.stdout.write("  all good\n");
  process.stdout.write(`== ${name}: attw --profile node16 --ignore-rules cjs-resolves-to-esm\n`);
  try {
    execFileSync(
      process.execPath,
      [
        ATTW,
        "--pack",
        ".",
        "--profile",
        "node16",
        "--ignore-rules",
        "cjs-resolves-to-esm",
        "--no-color",
        "--no-emoji",
        "--format",
        "table-flipped",
      ],
      { cwd: dir, stdio: "inherit" },
    );
  } catch {
    failed++;
  }
}
if (failed > 0) {
  process.stderr.write(`\ncheck:packages: ${failed} check(s) failed\n`);
  process.exit(1);
}
process.stdout.write(`\ncheck:packages: ${packages.size} packages pass publint and attw\n`);
