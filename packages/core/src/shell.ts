/**
 * The one quoting function for data that reaches a remote shell. Everything that is not meant to
 * be code (names, paths, URIs, env keys and values) goes through it; NUL cannot be carried by a
 * POSIX shell argument at all, so it is rejected rather than silently truncated.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('A NUL byte cannot be passed to a shell');
  if (value !== '' && /^[A-Za-z0-9_\-./:=@%+,]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Environment variable names the host shell accepts: checked, never quoted. */
export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** `export KEY='value'` lines for a script; keys must already match ENV_KEY_PATTERN. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => {
      if (!ENV_KEY_PATTERN.test(key)) throw new Error(`Invalid environment variable name: ${JSON.stringify(key)}`);
      return `export ${key}=${shellQuote(value)}`;
    })
    .join('\n');
}
