/**
 * Bytes that one UTF-16 code unit (or surrogate pair, at index i) takes inside a JSON string as
 * JSON.stringify writes it, in UTF-8. Returns [bytes, code units consumed]. Computing this per
 * character lets a long line be cut exactly, in one pass, instead of re-encoding candidate slices.
 */
export function jsonCharBytes(text: string, i: number): [bytes: number, units: number] {
  const c = text.charCodeAt(i);
  if (c < 0x80) {
    if (c === 0x22 || c === 0x5c) return [2, 1]; // \" and \\
    if (c >= 0x20) return [1, 1];
    // \b \t \n \f \r have short escapes; other control characters become \u00XX.
    return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? [2, 1] : [6, 1];
  }
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [4, 2]; // a pair: one 4-byte UTF-8 character
    return [6, 1]; // lone high surrogate: well-formed JSON.stringify writes \udXXX
  }
  if (c >= 0xdc00 && c <= 0xdfff) return [6, 1]; // lone low surrogate
  return [3, 1];
}

/**
 * The end index of the longest prefix of `text.slice(start)` whose JSON string contents take at
 * most `budget` UTF-8 bytes, never cutting a surrogate pair. Returns `start` when not even one
 * character fits.
 */
export function fitPrefix(text: string, start: number, budget: number): number {
  let used = 0;
  let i = start;
  while (i < text.length) {
    const [bytes, units] = jsonCharBytes(text, i);
    if (used + bytes > budget) break;
    used += bytes;
    i += units;
  }
  return i;
}
