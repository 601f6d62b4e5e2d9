/**
 * A tiny renderer from a JS object to the nats-server configuration format, so tests can
 * say `{ max_payload: 2048, authorization: { users: [...] } }` instead of hand-writing
 * conf text. Strings are always quoted (a bare `$x` or `1MB` would otherwise be read as a
 * variable or a size); wrap a value in `unquoted()` when you want exactly that.
 */

/** A value emitted verbatim, e.g. `unquoted("1MB")` or `unquoted("$SECRET")`. */
export class UnquotedValue {
  constructor(readonly text: string) {}
}

/** Marks `text` to be written into the config without quotes. */
export function unquoted(text: string): UnquotedValue {
  return new UnquotedValue(text);
}

export type NatsConfigValue =
  | string
  | number
  | boolean
  | UnquotedValue
  | readonly NatsConfigValue[]
  | NatsConfig;

/** A nats-server config block. `undefined` entries are skipped, which eases merging. */
export interface NatsConfig {
  [key: string]: NatsConfigValue | undefined;
}

const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quote(text: string): string {
  // The conf lexer knows \\ \" \n \t \r but not JSON's \uXXXX, so escape by hand and refuse
  // other control characters instead of writing something the server would misread.
  const allowed = new Set(["\n", "\t", "\r"]);
  if ([...text].some((ch) => ch < " " && !allowed.has(ch))) {
    throw new Error(
      `nats config: control characters are not representable: ${JSON.stringify(text)}`,
    );
  }
  const escaped = text
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\t", "\\t")
    .replaceAll("\r", "\\r");
  return `"${escaped}"`;
}

function renderKey(key: string): string {
  return BARE_KEY.test(key) ? key : quote(key);
}

function isBlock(value: NatsConfigValue): value is NatsConfig {
  return typeof value === "object" && !Array.isArray(value) && !(value instanceof UnquotedValue);
}

function renderValue(value: NatsConfigValue, indent: string): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`nats config: not a finite number: ${value}`);
    return String(value);
  }
  if (value instanceof UnquotedValue) return value.text;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((item: NatsConfigValue) => `${inner}${renderValue(item, inner)}`);
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  const body = renderEntries(value as NatsConfig, inner);
  return body === "" ? "{}" : `{\n${body}\n${indent}}`;
}

function renderEntries(config: NatsConfig, indent: string): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    lines.push(`${indent}${renderKey(key)}: ${renderValue(value, indent)}`);
  }
  return lines.join("\n");
}

/** Renders `config` as the text of a nats-server configuration file. */
export function renderNatsConfig(config: NatsConfig): string {
  const body = renderEntries(config, "");
  return body === "" ? "" : `${body}\n`;
}

/**
 * Deep-merges blocks (right wins); arrays and scalars are replaced, not concatenated, so
 * `routes` or `users` from an override are taken as a whole.
 */
export function mergeNatsConfig(...configs: (NatsConfig | undefined)[]): NatsConfig {
  const out: NatsConfig = {};
  for (const config of configs) {
    if (!config) continue;
    for (const [key, value] of Object.entries(config)) {
      if (value === undefined) continue;
      const current = out[key];
      out[key] =
        current !== undefined && isBlock(current) && isBlock(value)
          ? mergeNatsConfig(current, value)
          : value;
    }
  }
  return out;
}
