// The check every package runs on its integer options: one rule and one message for all of
// them, so a bad value fails at construction the same way wherever it is given.

/**
 * `value` if it is an integer in [min, max], else a RangeError naming the option. Without a
 * max, any safe integer from min up is accepted.
 */
export function integerOption(
  name: string,
  value: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`${name} must be an integer ${range}, got ${value}`);
  }
  return value;
}
