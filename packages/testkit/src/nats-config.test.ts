import { describe, expect, it } from "vitest";
import { mergeNatsConfig, renderNatsConfig, unquoted } from "./nats-config.js";

describe("renderNatsConfig", () => {
  it("renders scalars, quoting every string", () => {
    expect(renderNatsConfig({ max_payload: 2048, debug: true, server_name: "a-0" })).toBe(
      'max_payload: 2048\ndebug: true\nserver_name: "a-0"\n',
    );
  });

  it("renders nested blocks and arrays of blocks", () => {
    const text = renderNatsConfig({
      cluster: { name: "c", listen: "127.0.0.1:-1", routes: ["nats://127.0.0.1:1"] },
      authorization: { users: [{ user: "u", password: "p" }] },
    });
    expect(text).toBe(
      [
        "cluster: {",
        '  name: "c"',
        '  listen: "127.0.0.1:-1"',
        "  routes: [",
        '    "nats://127.0.0.1:1"',
        "  ]",
        "}",
        "authorization: {",
        "  users: [",
        "    {",
        '      user: "u"',
        '      password: "p"',
        "    }",
        "  ]",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("quotes keys that are not identifiers and escapes strings", () => {
    expect(renderNatsConfig({ $SYS: { users: [] }, k: 'a"b\\c\n' })).toBe(
      '"$SYS": {\n  users: []\n}\nk: "a\\"b\\\\c\\n"\n',
    );
  });

  it("writes unquoted() values verbatim and skips undefined", () => {
    expect(renderNatsConfig({ max_payload: unquoted("1MB"), gone: undefined })).toBe(
      "max_payload: 1MB\n",
    );
  });

  it("refuses values the format cannot represent", () => {
    expect(() => renderNatsConfig({ n: Number.NaN })).toThrow(/finite/);
    expect(() => renderNatsConfig({ s: "bell\u0007" })).toThrow(/control characters/);
  });
});

describe("mergeNatsConfig", () => {
  it("merges blocks deeply and replaces arrays and scalars", () => {
    expect(
      mergeNatsConfig({ cluster: { name: "a", routes: ["x"] }, debug: false }, undefined, {
        cluster: { routes: ["y"] },
        debug: true,
      }),
    ).toEqual({ cluster: { name: "a", routes: ["y"] }, debug: true });
  });
});
