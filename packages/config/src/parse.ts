import { z } from 'zod';
import { ConfigError } from '@inno-train/core';

/**
 * Parses the environment once at start. A bad or missing variable stops the process with a
 * message that names it; values are never echoed back (some are secrets).
 */
export function parseEnv<T extends z.ZodRawShape>(shape: T, env: Record<string, string | undefined>): z.infer<z.ZodObject<T>> {
  // Empty strings count as unset, as docker-compose's `VAR=` lines produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = z.object(shape).safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    return issue.code === 'invalid_type' && issue.input === undefined ? `${name} is required` : `${name}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`, problems);
}
