"""The result of a transfer task (transfer.sh), written when its workers are done.

Usage: python3 -c "$RESULT_PY" WORK RESULT_FILE MODE

Reads the private work directory of transfer.sh: `paths` (NUL-separated relPaths), `items`
("fileIndex partNumber" lines, part 0 = the whole file) and, per item i, `<i>.res` ("ok|skip <bytes>"
or "fail <reason>") and `<i>.etag`. Writes the result as one line of JSON, atomically (a temporary
file renamed into place), so a reader sees no result or a whole one; json.dump does the escaping
of file names, which may hold anything but NUL. Exits 0 when every item succeeded, else 1.

MODE is stage-in or stage-out. The result (@inno-train/host-protocol, src/transfer/result.ts):
  {"ok": bool, "failed": [{"path", "reason"}], "bytes": int, "skipped": int}          stage-in
  {"ok": bool, "failed": [{"path", "reason"}], "bytes": int, "parts": {path: [...]}}  stage-out
"""
import json
import os
import sys

work, result_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]


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
    outcome = read('%d.res' % index) or 'fail the transfer stopped before this file was done'
    state, _, rest = outcome.strip().partition(' ')
    if state in ('ok', 'skip'):
        total += int(rest)
        skipped += 1 if state == 'skip' else 0
        if part:
            parts.setdefault(path, []).append({'partNumber': part, 'etag': (read('%d.etag' % index) or '').strip()})
    elif path not in broken:
        broken.add(path)
        failed.append({'path': path, 'reason': ('part %d: ' % part if part else '') + rest})

result = {'ok': not failed, 'failed': failed, 'bytes': total}
if mode == 'stage-out':
    # Only files whose every part went up: an incomplete list must never be completed.
    result['parts'] = {p: sorted(v, key=lambda x: x['partNumber']) for p, v in parts.items() if p not in broken}
else:
    result['skipped'] = skipped

tmp = '%s.tmp.%d' % (result_path, os.getpid())
with open(tmp, 'w', encoding='ascii') as handle:
    json.dump(result, handle, ensure_ascii=True)
    handle.write('\n')
    handle.flush()
    os.fsync(handle.fileno())
os.replace(tmp, result_path)
sys.exit(0 if result['ok'] else 1)
