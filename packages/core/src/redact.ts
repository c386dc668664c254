/**
 * Secret scrubbing. Every message that leaves a process boundary (logs, job records, events,
 * API errors) goes through `scrubSecrets`: AWS SDK, ssh2 and HTTP errors can embed credentials,
 * signatures or Authorization headers.
 */
const registeredSecrets = new Set<string>();

/** Registers literal secret values (API keys, passphrases) to be masked wherever they appear. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) registeredSecrets.add(value);
}

const SECRET_PATTERNS: RegExp[] = [
  // Presigned URL signatures and temporary credentials in query strings.
  /(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi,
  /(Authorization:?\s*(?:Bearer|Basic|AWS4-HMAC-SHA256)\s+)[^\s"',]+/gi,
  /(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----)/g,
  /((?:aws_secret_access_key|secretAccessKey|api[_-]?key|passphrase|password)["']?\s*[:=]\s*["']?)[^\s"',&]+/gi,
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of registeredSecrets) {
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (_match, head: string, tail?: string) =>
      typeof tail === 'string' && tail.startsWith('-----END') ? `${head}[REDACTED]${tail}` : `${head}[REDACTED]`,
    );
  }
  return out;
}

/** Keys whose values are never logged, at any depth. */
export const REDACTED_LOG_KEYS = [
  'authorization',
  'password',
  'passphrase',
  'secretAccessKey',
  'apiKey',
  'api_key',
  'token',
  'privateKey',
  'url',
  'urls',
];
