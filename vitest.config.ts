import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// One root config: every workspace's tests run in one vitest process, against sources
// (the aliases), so a test run needs no build. Tests that start nats-server are named
// *.slow.test.ts so they can be told apart (`pnpm test:unit` skips them).
export default defineConfig({
  resolve: {
    // The internal entry point comes first: an alias also matches "<key>/...", so the root
    // package's alias would otherwise swallow "@tailwire/protocol/internal".
    alias: {
      "@tailwire/protocol/internal": fileURLToPath(
        new URL("./packages/protocol/src/internal.ts", import.meta.url),
      ),
      "@tailwire/protocol": src("protocol"),
      "@tailwire/compute": src("compute"),
      "@tailwire/requester": src("requester"),
      "@tailwire/testkit": src("testkit"),
      "@tailwire/cli": src("cli"),
      "@tailwire/conformance": src("conformance"),
      "@tailwire/gateway": src("gateway"),
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "tests/*/src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
