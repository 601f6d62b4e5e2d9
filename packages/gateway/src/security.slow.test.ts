// Authentication, authorization, limits and the page's security headers, over real sockets.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkListenSafety, parseTokenFile, TokenVerifier } from "./auth.js";
import { GatewayConfigError } from "./errors.js";
import { appendLines, Rig } from "./test-helpers/rig.js";
import { readSse } from "./test-helpers/sse.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(async () => rig.cleanup());
afterAll(async () => rig?.stop());

const TOKENS = parseTokenFile(
  "# ops\nalice aaaaaaaaaaaaaaaaaaaaaaaa\nbob   bbbbbbbbbbbbbbbbbbbbbbbb\n",
);

describe("bearer tokens", () => {
  it("401 without or with a wrong token, 200 with a valid one; /metrics is protected, /healthz not", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "s1", 2);
    await compute.store.complete("s1", 0);
    const { url } = await rig.gateway({ tokens: TOKENS });
    const path = `${url}/v1/executions/s1/logs?node=${compute.nodeId}`;

    const none = await fetch(path);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="tailwire"');
    expect((await none.json()).code).toBe("UNAUTHORIZED");
    for (const authorization of [
      "Bearer aaaaaaaaaaaaaaaaaaaaaaab",
      "Bearer aaaaaaaaaaaaaaaaaaaaaaaa extra",
      "Basic YWxpY2U6cGFzcw==",
      "Bearer",
    ]) {
      const wrong = await fetch(path, { headers: { authorization } });
      expect({ authorization, status: wrong.status }).toEqual({ authorization, status: 401 });
    }
    const ok = await fetch(path, { headers: { authorization: "bearer bbbbbbbbbbbbbbbbbbbbbbbb" } });
    expect([ok.status, await ok.text()]).toEqual([200, "line 1\nline 2\n"]);
    // A token in the query is not a way in (URLs end up in logs).
    const inQuery = await fetch(`${path}&access_token=aaaaaaaaaaaaaaaaaaaaaaaa`);
    expect(inQuery.status).toBe(401);

    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${url}/metrics`, {
      headers: { authorization: "Bearer aaaaaaaaaaaaaaaaaaaaaaaa" },
    });
    const text = await metrics.text();
    expect(text).toMatch(
      /tailwire_gateway_http_errors_total\{code="UNAUTHORIZED",status="401"\} [1-9]/,
    );
    expect(text).toMatch(/tailwire_gateway_lines_sent_total\{format="text"\} 2/);
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.json()]).toEqual([
      200,
      { status: "ok", nats: "connected", streams: 0 },
    ]);
  });

  it("checks tokens by hash in constant time and parses token files strictly", () => {
    const verifier = new TokenVerifier(TOKENS);
    expect(verifier.verify("Bearer aaaaaaaaaaaaaaaaaaaaaaaa")).toBe("alice");
    expect(verifier.verify("Bearer bbbbbbbbbbbbbbbbbbbbbbbb")).toBe("bob");
    expect(verifier.verify("Bearer a")).toBeUndefined();
    expect(verifier.verify(undefined)).toBeUndefined();
    expect(() => parseTokenFile("short\n")).toThrow(/at least 16/);
    expect(() => parseTokenFile("# nothing\n")).toThrow(/no token/);
    expect(() => parseTokenFile("a b c\n")).toThrow(/line 1/);
    expect(() =>
      parseTokenFile("x aaaaaaaaaaaaaaaaaaaaaaaa\nx bbbbbbbbbbbbbbbbbbbbbbbb\n"),
    ).toThrow(/repeated/);
  });
});

describe("who may listen where", () => {
  it("refuses a non-loopback address without authentication unless allowed explicitly", async () => {
    expect(() => checkListenSafety("0.0.0.0", false, false)).toThrow(GatewayConfigError);
    expect(() => checkListenSafety("192.168.1.4", false, false)).toThrow(/without authentication/);
    expect(() => checkListenSafety("::", false, false)).toThrow(/INSECURE|without/);
    for (const host of ["127.0.0.1", "127.3.4.5", "::1", "localhost"]) {
      expect(() => checkListenSafety(host, false, false)).not.toThrow();
    }
    expect(() => checkListenSafety("0.0.0.0", true, false)).not.toThrow();
    expect(() => checkListenSafety("0.0.0.0", false, true)).not.toThrow();
    const { gateway } = await rig.gateway();
    await expect(gateway.listen("0.0.0.0", 0)).rejects.toMatchObject({ code: "INSECURE_LISTEN" });
  });

  it("without tokens, answers only requests addressed to a loopback host (DNS rebinding)", async () => {
    const compute = await rig.compute();
    await compute.store.complete("s2", 0);
    const { url } = await rig.gateway();
    const { request } = await import("node:http");
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${url}/v1/executions/s2/logs?node=${compute.nodeId}`, {
          headers: { host },
        });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.end();
      });
    expect(await status("evil.example:8080")).toBe(403);
    expect(await status("localhost:8080")).toBe(200);
    expect(await status("127.0.0.1")).toBe(200);
  });
});

describe("authorize hook and limits", () => {
  it("authorize decides per execution and principal; a throwing hook denies", async () => {
    const compute = await rig.compute();
    for (const id of ["mine", "theirs", "boom"]) await compute.store.complete(id, 0);
    const asked: unknown[] = [];
    const { url } = await rig.gateway({
      tokens: TOKENS,
      authorize: (_request, target) => {
        asked.push({ ...target });
        if (target.executionId === "boom") throw new Error("directory down");
        return target.executionId === "mine" && target.principal.name === "alice";
      },
    });
    const get = (id: string, token: string) =>
      fetch(`${url}/v1/executions/${id}/logs?node=${compute.nodeId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await get("mine", "aaaaaaaaaaaaaaaaaaaaaaaa")).status).toBe(200);
    const denied = await get("theirs", "aaaaaaaaaaaaaaaaaaaaaaaa");
    expect([denied.status, (await denied.json()).code]).toEqual([403, "FORBIDDEN"]);
    expect((await get("mine", "bbbbbbbbbbbbbbbbbbbbbbbb")).status).toBe(403);
    const boom = await get("boom", "aaaaaaaaaaaaaaaaaaaaaaaa");
    expect(boom.status).toBe(403);
    expect(await boom.text()).not.toContain("directory down");
    expect(asked[0]).toEqual({
      executionId: "mine",
      computeNodeId: compute.nodeId,
      principal: { name: "alice", authenticated: true },
    });
  });

  it("limits concurrent streams per token with 429, and frees the slot when a stream ends", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "busy", 1);
    const { url } = await rig.gateway({ tokens: TOKENS, limits: { perToken: 2 } });
    const open = (token: string) =>
      fetch(`${url}/v1/executions/busy/logs?node=${compute.nodeId}&follow=true`, {
        headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
      });
    const a1 = await open("aaaaaaaaaaaaaaaaaaaaaaaa");
    const a2 = await open("aaaaaaaaaaaaaaaaaaaaaaaa");
    expect([a1.status, a2.status]).toEqual([200, 200]);
    const a3 = await open("aaaaaaaaaaaaaaaaaaaaaaaa");
    expect([a3.status, (await a3.json()).code]).toEqual([429, "TOO_MANY_STREAMS"]);
    const b1 = await open("bbbbbbbbbbbbbbbbbbbbbbbb");
    expect(b1.status).toBe(200);
    // Closing one of alice's streams frees her slot (the server sees the socket close).
    await readSse(a1, () => true);
    let again: Response | undefined;
    for (let i = 0; i < 100; i++) {
      again = await open("aaaaaaaaaaaaaaaaaaaaaaaa");
      if (again.status === 200) break;
      await again.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(again!.status).toBe(200);
    for (const r of [a2, b1, again!]) await r.body?.cancel();
  });

  it("serves the page with security headers and no CORS unless configured", async () => {
    const plain = await rig.gateway();
    const page = await fetch(`${plain.url}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const foreign = await fetch(`${plain.url}/healthz`, {
      headers: { origin: "https://other.example" },
    });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();

    const withCors = await rig.gateway({ corsOrigins: ["https://ui.example"] });
    const allowed = await fetch(`${withCors.url}/healthz`, {
      headers: { origin: "https://ui.example" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://ui.example");
    const other = await fetch(`${withCors.url}/healthz`, {
      headers: { origin: "https://other.example" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
