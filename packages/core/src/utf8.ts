/**
 * Length of the longest prefix of `buf` that does not end inside a multi-byte UTF-8 character:
 * where a byte stream (a command's capped output, a log tail's chunk) can be cut and decoded
 * without turning the cut character into U+FFFD.
 */
export function completeUtf8Length(buf: Buffer): number {
  let i = buf.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((buf[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return buf.length;
  const lead = buf[i] ?? 0;
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return needed > continuation + 1 ? i : buf.length;
}
