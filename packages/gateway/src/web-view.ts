// Serves the web log view: the page and its bundle, built by scripts/build-web.mjs into
// dist/web and read into memory once (a handful of fixed files: no static-file server needed).
import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { GatewayError } from "./errors.js";

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

// src/web-view.ts and dist/web-view.js are both one level below the package root.
const WEB_DIR = new URL("../dist/web/", import.meta.url);

function load(): Map<string, Buffer> | undefined {
  try {
    return new Map(Object.keys(FILES).map((name) => [name, readFileSync(new URL(name, WEB_DIR))]));
  } catch {
    return undefined;
  }
}

export function registerWebView(app: FastifyInstance): void {
  const files = load();
  if (!files) app.log.warn({ dir: WEB_DIR.pathname }, "web view not built: / answers 503");
  const serve = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    // The page loads app.js and app.css relative to itself: under a prefix (/logs) it must
    // be at /logs/, not /logs.
    const [path = "", query] = request.url.split("?");
    if (name === "index.html" && !path.endsWith("/")) {
      return reply.redirect(`${path}/${query === undefined ? "" : `?${query}`}`, 308);
    }
    const body = files?.get(name);
    if (!body) throw new GatewayError("INTERNAL", "the web view is not built", { status: 503 });
    return reply
      .type(FILES[name]!)
      .header("cache-control", name === "index.html" ? "no-cache" : "public, max-age=300")
      .send(body);
  };
  app.get("/", serve("index.html"));
  app.get("/app.js", serve("app.js"));
  app.get("/app.css", serve("app.css"));
}
