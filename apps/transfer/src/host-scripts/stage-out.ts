/**
 * Stage-out: a bash script, run on the GPU host, that uploads output files with curl and presigned
 * URLs: one PUT for a small file, or presigned UploadPart requests for the parts of a large one.
 * Each part is cut from the file with dd into the private work directory and PUT; the ETag S3
 * returns is written to the status file so the orchestrator can complete the multipart upload.
 * Every request is a PUT of the same bytes, so running the script again is harmless.
 */
import { bashArray, CURL_COMMON, prelude, runAndReport, scriptHeader } from './bash';
import { checkByteCount, checkDistinctTargets, checkHostPath, checkParallelism, checkRelPath, checkUrl, planError } from './validate';

export type StageOutUpload =
  | { kind: 'put'; relPath: string; url: string }
  | { kind: 'multipart'; relPath: string; partSize: number; parts: { partNumber: number; url: string }[] };

export interface StageOutPlan {
  /** Absolute, or relative to the SSH user's home. */
  jobDir: string;
  /** Absolute, or relative to the job directory. */
  statusFile: string;
  parallelism: number;
  /** relPath is relative to the job directory, e.g. `output/model.bin`. */
  uploads: StageOutUpload[];
}

export interface StageOutStatus {
  ok: boolean;
  failed: { path: string; reason: string }[];
  /** Per multipart relPath whose parts ALL went up: parts sorted by number, ETags with their quotes. */
  parts: Record<string, { partNumber: number; etag: string }[]>;
  bytes: number;
}

const MAX_PARTS = 10_000;

const UPLOAD_WORKER = `
upload_item() {
  local i=$1
  local f="\${ITEM_FILE[$i]}" part="\${ITEM_PART[$i]}" url="\${ITEM_URL[$i]}"
  local rel="\${REL[$f]}" src="$JOB_DIR/\${REL[$f]}"
  local label='' body size bytes code rc etag
  [ "$part" -eq 0 ] || label=" (part $part)"
  # Symlinks are refused: the upload must not follow a link out of the job directory.
  if [ ! -f "$src" ] || [ -L "$src" ]; then
    item_failed "$i" "$rel" "$label" 'not a regular file'
    return 1
  fi
  size=$(stat -c %s -- "$src") || { item_failed "$i" "$rel" "$label" 'cannot read the file'; return 1; }
  if [ "$part" -eq 0 ]; then
    body=$src
    bytes=$size
  else
    local part_size="\${PART_SIZE[$f]}" nparts="\${NPARTS[$f]}" offset want
    # The plan was made from an earlier listing: a file that changed size since would be cut wrongly.
    if [ $(( size == 0 ? 1 : (size + part_size - 1) / part_size )) -ne "$nparts" ]; then
      item_failed "$i" "$rel" "$label" "the file is now $size bytes, which is not $nparts parts of $part_size bytes"
      return 1
    fi
    offset=$(( (part - 1) * part_size ))
    want=$(( size - offset < part_size ? size - offset : part_size ))
    body="$WORK/$i.part"
    if ! dd if="$src" of="$body" bs=1M iflag=skip_bytes,count_bytes skip="$offset" count="$part_size" status=none 2>"$WORK/$i.err"; then
      item_failed "$i" "$rel" "$label" 'cannot read the part from the file'
      return 1
    fi
    bytes=$(stat -c %s -- "$body")
    if [ "$bytes" != "$want" ]; then
      rm -f -- "$body"
      item_failed "$i" "$rel" "$label" "read $bytes bytes for the part, expected $want"
      return 1
    fi
  fi
  code=$(${CURL_COMMON} -X PUT -T "$body" -D "$WORK/$i.hdr" -o /dev/null -w '%{http_code}' "$url" 2>"$WORK/$i.err")
  rc=$?
  [ "$part" -eq 0 ] || rm -f -- "$body"
  if [ "$rc" -ne 0 ]; then
    item_failed "$i" "$rel" "$label" "curl exit $rc, HTTP \${code:-000}"
    return 1
  fi
  if [ "$part" -ne 0 ]; then
    # The last ETag header: a "100 Continue" block may come first in the header dump.
    etag=$(tr -d '\\r' < "$WORK/$i.hdr" | sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*//p' | tail -n 1)
    if [ -z "$etag" ]; then
      item_failed "$i" "$rel" "$label" 'no ETag in the response'
      return 1
    fi
    printf '%s' "$etag" > "$WORK/$i.etag"
  fi
  printf 'ok %s\\n' "$bytes" > "$WORK/$i.res"
  printf '%s: uploaded %q%s (%s bytes)\\n' "$LOG_TAG" "$rel" "$label" "$bytes"
}`;

interface Item {
  file: number;
  part: number;
  url: string;
}

/** Part numbers must be exactly 1..n: the script cuts part k at offset (k - 1) * partSize. */
function checkParts(upload: Extract<StageOutUpload, { kind: 'multipart' }>, where: string): { partNumber: number; url: string }[] {
  checkByteCount(upload.partSize, `${where}.partSize`, 1);
  if (!Array.isArray(upload.parts) || upload.parts.length === 0 || upload.parts.length > MAX_PARTS) {
    throw planError(`${where}.parts must list 1 to ${MAX_PARTS} parts`);
  }
  const sorted = [...upload.parts].sort((a, b) => a.partNumber - b.partNumber);
  sorted.forEach((part, index) => {
    if (part.partNumber !== index + 1) throw planError(`${where}.parts must be numbered 1 to ${sorted.length} without gaps or repeats`);
    checkUrl(part.url, `${where}.parts[${index}].url`);
  });
  return sorted;
}

export function renderStageOutScript(plan: StageOutPlan): string {
  const jobDir = checkHostPath(plan.jobDir, 'jobDir');
  const statusFile = checkHostPath(plan.statusFile, 'statusFile');
  const parallelism = checkParallelism(plan.parallelism);
  const rel: string[] = [];
  const partSize: number[] = [];
  const nparts: number[] = [];
  const items: Item[] = [];
  plan.uploads.forEach((upload, file) => {
    const where = `uploads[${file}]`;
    rel.push(checkRelPath(upload.relPath, `${where}.relPath`));
    if (upload.kind === 'put') {
      partSize.push(0);
      nparts.push(0);
      items.push({ file, part: 0, url: checkUrl(upload.url, `${where}.url`) });
    } else if (upload.kind === 'multipart') {
      const parts = checkParts(upload, where);
      partSize.push(upload.partSize);
      nparts.push(parts.length);
      for (const part of parts) items.push({ file, part: part.partNumber, url: part.url });
    } else {
      throw planError(`${where}.kind must be "put" or "multipart"`);
    }
  });
  checkDistinctTargets(rel);
  return [
    scriptHeader('stage-out', jobDir, statusFile, parallelism),
    bashArray('REL', rel),
    bashArray('PART_SIZE', partSize),
    bashArray('NPARTS', nparts),
    bashArray('ITEM_FILE', items.map((item) => item.file)),
    bashArray('ITEM_PART', items.map((item) => item.part)),
    bashArray('ITEM_URL', items.map((item) => item.url)),
    prelude('stage-out'),
    UPLOAD_WORKER,
    runAndReport('upload_item', 'stage-out'),
    '',
  ].join('\n');
}
