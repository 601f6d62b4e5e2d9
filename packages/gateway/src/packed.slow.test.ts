// The package as people install it: protocol, requester and gateway packed by `pnpm pack`, installed
// by npm into an empty project, then the gateway run from there: the web view's bundle must be in
// the tarball, the dependencies declared, nothing of the tests shipped.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const PACKAGES = fileURLToPath(new URL("../../", import.meta.url));
const PUBLISHED = ["protocol", "requester", "gateway"] as const;

let work: string;
let server: NatsServer;
const tarballs: Record<string, string> = {};

const version = async (dir: string, name: string) =>
  (
    JSON.parse(await readFile(join(dir, "node_modules", name, "package.json"), "utf8")) as {
      version: string;
    }
  ).version;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tailwire-gateway-pack-"));
  server = await NatsServer.start();
  const dest = join(work, "tarballs");
  await mkdir(dest);
  for (const pkg of PUBLISHED) {
    const before = new Set(await readdir(dest));
    await exec("npx", ["-y", "pnpm@10", "pack", "--pack-destination", dest], {
      cwd: join(PACKAGES, pkg),
      timeout: 120_000,
    });
    const made = (await readdir(dest)).find((f) => !before.has(f));
    if (!made) throw new Error(`pnpm pack made no tarball for ${pkg}`);
    tarballs[pkg] = join(dest, made);
  }
  const app = join(work, "app");
  await mkdir(app);
  const transport = await version(join(PACKAGES, "gateway"), "@nats-io/transport-node");
  await writeFile(
    join(app, "package.json"),
    JSON.stringify({
      name: "gateway-consumer",
      private: true,
      type: "module",
      dependencies: {
        "@nats-io/transport-node": transport,
        ...Object.fromEntries(
          PUBLISHED.map((pkg) => [`@tailwire/${pkg}`, `file:${tarballs[pkg]}`]),
        ),
      },
    }),
  );
  await writeFile(
    join(app, "serve.mjs"),
    `import { runGateway } from "@tailwire/gateway";
const gateway = await runGateway({ servers: process.argv[2], host: "127.0.0.1", port: 0 });
const page = await fetch(gateway.url + "/");
const js = await fetch(gateway.url + "/app.js");
const health = await fetch(gateway.url + "/healthz");
console.log(JSON.stringify({
  page: page.status,
  html: (await page.text()).includes('<script type="module" src="app.js">'),
  js: js.status,
  jsBytes: (await js.arrayBuffer()).byteLength,
  health: await health.json(),
}));
await gateway.close();
`,
  );
  await exec(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
    {
      cwd: app,
      timeout: 240_000,
    },
  );
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the packed gateway, installed by npm", () => {
  it("ships the built web view and no tests or page sources", async () => {
    const { stdout } = await exec("tar", ["-tzf", tarballs.gateway!]);
    const files = stdout.trim().split("\n");
    expect(files).toEqual(
      expect.arrayContaining([
        "package/dist/web/app.js",
        "package/dist/web/index.html",
        "package/dist/index.js",
      ]),
    );
    expect(files.filter((f) => /\.test\.ts$|test-helpers|^package\/web\//.test(f))).toEqual([]);
  });

  it("runs from the installed project and serves the page, its bundle and /healthz", async () => {
    const { stdout } = await exec(process.execPath, ["serve.mjs", server.url], {
      cwd: join(work, "app"),
      timeout: 30_000,
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result).toMatchObject({
      page: 200,
      html: true,
      js: 200,
      health: { status: "ok", nats: "connected" },
    });
    expect(result.jsBytes).toBeGreaterThan(10_000);
    // Build-time tools stay out of a consumer's install.
    const installed = await readdir(join(work, "app", "node_modules"));
    expect(installed).not.toContain("esbuild");
    expect(installed).not.toContain("playwright-core");
  });
});
