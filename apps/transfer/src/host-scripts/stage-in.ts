/**
 * Stage-in: a bash script, run on the GPU host, that fetches every input object with curl and a
 * presigned GET URL straight into the job directory. Each file is downloaded into a private work
 * directory, its size checked, then renamed into place, so a file at its final path is always
 * complete. A file already there with the expected size is skipped, so running the script again
 * (after a worker restart) only fetches what is missing.
 */
import { bashArray, CURL_COMMON, prelude, runAndReport, scriptHeader } from './bash';
import { checkByteCount, checkDistinctTargets, checkHostPath, checkParallelism, checkRelPath, checkUrl } from './validate';

export interface StageInFile {
  /** Presigned GET URL. */
  url: string;
  /** Where the file goes, relative to the job directory, e.g. `inputs/train/train.jsonl`. */
  relPath: string;
  /** Expected size in bytes; a download of any other size counts as failed. */
  size: number;
}

export interface StageInPlan {
  /** Absolute, or relative to the SSH user's home (as `inno-train/<jobId>`). */
  jobDir: string;
  files: StageInFile[];
  parallelism: number;
  /** Absolute, or relative to the job directory. */
  statusFile: string;
}

/** What the status file holds when the script ends. */
export interface StageInStatus {
  ok: boolean;
  failed: { path: string; reason: string }[];
  /** Bytes of all files now in place (fetched or already present). */
  bytes: number;
  /** Files that were already present with the right size. */
  skipped: number;
}

// Fixed code: reads the arrays, never interpolates data. `${dest%/*}` rather than `dirname`,
// because command substitution would drop a trailing newline of a directory name.
const FETCH_WORKER = `
fetch_item() {
  local i=$1
  local rel="\${REL[$i]}" size="\${SIZE[$i]}" url="\${URL[$i]}"
  local dest="$JOB_DIR/\${REL[$i]}" tmp="$WORK/$i.data" res="$WORK/$i.res"
  local code rc actual
  if [ -f "$dest" ] && [ ! -L "$dest" ] && [ "$(stat -c %s -- "$dest")" = "$size" ]; then
    printf 'skip %s\\n' "$size" > "$res"
    printf '%s: already present %q\\n' "$LOG_TAG" "$rel"
    return 0
  fi
  if ! mkdir -p -- "\${dest%/*}"; then
    item_failed "$i" "$rel" '' 'cannot create its directory'
    return 1
  fi
  # Created first because curl writes no file at all for an empty body.
  : > "$tmp"
  code=$(${CURL_COMMON} -o "$tmp" -w '%{http_code}' "$url" 2>"$WORK/$i.err")
  rc=$?
  if [ "$rc" -ne 0 ]; then
    rm -f -- "$tmp"
    item_failed "$i" "$rel" '' "curl exit $rc, HTTP \${code:-000}"
    return 1
  fi
  actual=$(stat -c %s -- "$tmp" 2>/dev/null) || actual=missing
  if [ "$actual" != "$size" ]; then
    rm -f -- "$tmp"
    item_failed "$i" "$rel" '' "size mismatch: expected $size bytes, got $actual"
    return 1
  fi
  # -T: never move into an existing directory of that name; the rename is atomic (same filesystem).
  if ! mv -f -T -- "$tmp" "$dest"; then
    rm -f -- "$tmp"
    item_failed "$i" "$rel" '' 'cannot move the file into place'
    return 1
  fi
  printf 'ok %s\\n' "$size" > "$res"
  printf '%s: fetched %q (%s bytes)\\n' "$LOG_TAG" "$rel" "$size"
}`;

export function renderStageInScript(plan: StageInPlan): string {
  const jobDir = checkHostPath(plan.jobDir, 'jobDir');
  const statusFile = checkHostPath(plan.statusFile, 'statusFile');
  const parallelism = checkParallelism(plan.parallelism);
  const files = plan.files.map((file, index) => ({
    relPath: checkRelPath(file.relPath, `files[${index}].relPath`),
    size: checkByteCount(file.size, `files[${index}].size`),
    url: checkUrl(file.url, `files[${index}].url`),
  }));
  checkDistinctTargets(files.map((file) => file.relPath));
  return [
    scriptHeader('stage-in', jobDir, statusFile, parallelism),
    bashArray('REL', files.map((file) => file.relPath)),
    bashArray('SIZE', files.map((file) => file.size)),
    bashArray('URL', files.map((file) => file.url)),
    bashArray('ITEM_FILE', files.map((_, index) => index)),
    bashArray('ITEM_PART', files.map(() => 0)),
    prelude('stage-in'),
    FETCH_WORKER,
    runAndReport('fetch_item', 'stage-in'),
    '',
  ].join('\n');
}
