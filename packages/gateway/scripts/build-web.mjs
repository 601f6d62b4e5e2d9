// Bundles the web log view (web/app.ts and its libraries) with esbuild into dist/web, with the
// page and its stylesheet: everything the gateway serves at /, no CDN, works offline.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const root = new URL("../", import.meta.url);
const out = new URL("dist/web/", root);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL("web/app.ts", root).pathname],
  outfile: new URL("app.js", out).pathname,
  bundle: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"])
  copyFileSync(new URL(`web/${file}`, root), new URL(file, out));
