/**
 * Pieces shared by the generated transfer scripts. The scripts run on the GPU host with only bash
 * (>= 4.3 for `wait -n`), coreutils, curl and python3.
 *
 * Layout of a script: data as bash arrays (every value through shellQuote), then fixed code that
 * never interpolates data. Workers run in the background, at most PARALLELISM at once, and each
 * leaves a one-line result file in a private work directory; python3 then turns the results into
 * the status JSON (json.dumps does the escaping of file names) and renames it into place, so a
 * reader sees either no status file or a complete one.
 */
import { shellQuote } from '@inno-train/core';

export type ScriptKind = 'stage-in' | 'stage-out';

/** `NAME=(` one quoted value per line `)`: safe for any value, including ones with newlines. */
export function bashArray(name: string, values: readonly (string | number)[]): string {
  const items = values.map((value) => `  ${typeof value === 'number' ? String(value) : shellQuote(value)}`);
  return [`${name}=(`, ...items, ')'].join('\n');
}

/**
 * Reads the work directory: `paths` (NUL-separated relPaths), `items` ("fileIndex partNumber"
 * lines, part 0 = whole file) and per item `<i>.res` ("ok|skip <bytes>" or "fail <reason>") and
 * `<i>.etag`. Writes the status atomically; exit 0 when everything succeeded, 1 otherwise.
 */
const STATUS_WRITER_PY = String.raw`
import json, os, sys
work, status_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]

def read(name):
    try:
        with open(os.path.join(work, name), 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except OSError:
        return None

paths = (read('paths') or '').split('\0')[:-1]
items = [tuple(int(x) for x in line.split()) for line in (read('items') or '').splitlines() if line.strip()]
failed, broken, parts, total, skipped = [], set(), {}, 0, 0
for index, (file_index, part) in enumerate(items):
    path = paths[file_index]
    result = read('%d.res' % index) or 'fail the transfer stopped before this file was done'
    state, _, rest = result.strip().partition(' ')
    if state in ('ok', 'skip'):
        total += int(rest)
        skipped += 1 if state == 'skip' else 0
        if part:
            parts.setdefault(path, []).append({'partNumber': part, 'etag': (read('%d.etag' % index) or '').strip()})
    elif path not in broken:
        broken.add(path)
        failed.append({'path': path, 'reason': ('part %d: ' % part if part else '') + rest})
status = {'ok': not failed, 'failed': failed, 'bytes': total}
if mode == 'stage-out':
    status['parts'] = {p: sorted(v, key=lambda x: x['partNumber']) for p, v in parts.items() if p not in broken}
else:
    status['skipped'] = skipped
tmp = '%s.tmp.%d' % (status_path, os.getpid())
with open(tmp, 'w', encoding='ascii') as handle:
    json.dump(status, handle, ensure_ascii=True)
    handle.write('\n')
    handle.flush()
    os.fsync(handle.fileno())
os.replace(tmp, status_path)
sys.exit(0 if status['ok'] else 1)
`;

export function scriptHeader(kind: ScriptKind, jobDir: string, statusFile: string, parallelism: number): string {
  return [
    '#!/usr/bin/env bash',
    `# inno-train ${kind}: generated, do not edit.`,
    '# The URLs below are presigned (they carry signatures): nothing in this script prints them.',
    'set -u -o pipefail',
    `LOG_TAG=${kind}`,
    `JOB_DIR=${shellQuote(jobDir)}`,
    `STATUS_FILE=${shellQuote(statusFile)}`,
    `PARALLELISM=${parallelism}`,
  ].join('\n');
}

/**
 * Resolves paths (a relative job directory is under $HOME, a relative status file under the job
 * directory), checks the tools, creates the private work directory and writes the manifest.
 * Expects the arrays REL, ITEM_FILE and ITEM_PART.
 */
export function prelude(kind: ScriptKind): string {
  const fallback = JSON.stringify({
    ok: false,
    failed: [{ path: '', reason: 'python3 or curl is missing on the host' }],
    bytes: 0,
    ...(kind === 'stage-out' ? { parts: {} } : {}),
  });
  return `
case $JOB_DIR in /*) ;; *) JOB_DIR=$HOME/$JOB_DIR ;; esac
case $STATUS_FILE in /*) ;; *) STATUS_FILE=$JOB_DIR/$STATUS_FILE ;; esac
if ! mkdir -p -- "$JOB_DIR/.inno" "\${STATUS_FILE%/*}"; then
  printf '%s: cannot create the job directory\\n' "$LOG_TAG" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  printf '%s: python3 and curl are required on the host\\n' "$LOG_TAG" >&2
  printf '%s\\n' ${shellQuote(fallback)} > "$STATUS_FILE.tmp.$$" && mv -f -- "$STATUS_FILE.tmp.$$" "$STATUS_FILE"
  exit 2
fi
WORK=$(mktemp -d "$JOB_DIR/.inno/$LOG_TAG.XXXXXX") || exit 2
trap 'rm -rf -- "$WORK"' EXIT
# On a signal, stop starting work and let the EXIT trap remove the work directory: files being
# fetched there can then never be moved into place half-written.
trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM INT HUP
if [ "\${#REL[@]}" -gt 0 ]; then printf '%s\\0' "\${REL[@]}" > "$WORK/paths"; else : > "$WORK/paths"; fi
for ((i = 0; i < \${#ITEM_FILE[@]}; i++)); do
  printf '%d %d\\n' "\${ITEM_FILE[i]}" "\${ITEM_PART[i]}"
done > "$WORK/items"
# item_failed INDEX RELPATH SUFFIX REASON: records a failure. The log shows the path escaped by %q
# (a name with a newline cannot forge log lines) and never a URL.
item_failed() {
  printf 'fail %s\\n' "$4" > "$WORK/$1.res"
  printf '%s: FAILED %q%s: %s\\n' "$LOG_TAG" "$2" "$3" "$4" >&2
}`;
}

/** Runs `$1 <index>` for every item, at most PARALLELISM at once, then writes the status. */
export function runAndReport(worker: string, kind: ScriptKind): string {
  return `
running=0
for ((i = 0; i < \${#ITEM_FILE[@]}; i++)); do
  if [ "$running" -ge "$PARALLELISM" ]; then
    wait -n
    running=$((running - 1))
  fi
  ${worker} "$i" &
  running=$((running + 1))
done
wait
STATUS_PY=${shellQuote(STATUS_WRITER_PY)}
python3 -c "$STATUS_PY" "$WORK" "$STATUS_FILE" ${kind}
rc=$?
if [ "$rc" -eq 0 ]; then
  printf '%s: done\\n' "$LOG_TAG"
else
  printf '%s: finished with failures (exit %s), see %q\\n' "$LOG_TAG" "$rc" "$STATUS_FILE" >&2
fi
exit "$rc"`;
}

/**
 * Curl options shared by every transfer. `-q` (must come first) ignores any ~/.curlrc on the image:
 * a `verbose` there would write request lines, signatures included, to curl's stderr. Then: fail on
 * HTTP errors, retry, only http(s), no URL globbing, give up on a stalled connection.
 */
export const CURL_COMMON =
  'curl -q --fail --silent --show-error --retry 3 --retry-all-errors --globoff --proto =http,https --connect-timeout 30 --speed-limit 1 --speed-time 300';
