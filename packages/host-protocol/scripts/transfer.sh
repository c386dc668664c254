#!/usr/bin/env bash
# Stage-in and stage-out on the GPU host (@inno-train/host-protocol, src/transfer/): uploaded as
# .inno/stage-in.sh or .inno/stage-out.sh and run by run-task.sh. Needs only bash (>= 4.3, for
# `wait -n`), coreutils, curl and python3.
#
# stage-in   fetches every input object with curl and a presigned GET URL straight into the job
#            directory. Each file is downloaded into a private work directory, its size checked,
#            then renamed into place, so a file at its final path is always complete. A file
#            already there with the expected size is skipped: running again fetches what is missing.
# stage-out  uploads output files with presigned URLs: one PUT for a small file, or presigned
#            UploadPart requests for the parts of a large one (each part cut from the file with dd);
#            the ETags S3 returns go into the result so the orchestrator can complete the upload.
#            Every request is a PUT of the same bytes, so running again is harmless.
#
# The data block holds the plan as bash arrays, every value quoted when rendered; the code below
# never interpolates data into code. Items (a whole file, or one part of one) run in the background,
# at most PARALLELISM at once, each leaving a one-line result in the work directory; then
# transfer-result.py (carried in RESULT_PY) writes the result JSON to RESULT_FILE.
#
# The URLs are presigned (they carry signatures): nothing here prints them, and failures are
# reported by path with curl's exit code and the HTTP status only.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
MODE=stage-in
JOB_DIR=inno-train/j0000000000000000000000
RESULT_FILE=.inno/stage-in.result
PARALLELISM=4
REL=(inputs/train/train.jsonl)
SIZE=(0)
PART_SIZE=(0)
NPARTS=(0)
ITEM_FILE=(0)
ITEM_PART=(0)
ITEM_URL=(http://127.0.0.1:9/bucket/key)
RESULT_PY='import sys; sys.exit(1)'
# ---- end of data ----

set -u -o pipefail
case $MODE in
  stage-in | stage-out) LOG_TAG=$MODE ;;
  *)
    printf 'transfer: unknown mode %q\n' "$MODE" >&2
    exit 2
    ;;
esac

# Curl options of every transfer. `-q` (must come first) ignores any ~/.curlrc on the image: a
# `verbose` there would write request lines, signatures included, to curl's stderr. Then: fail on
# HTTP errors, retry, only http(s), no URL globbing, give up on a stalled connection.
CURL=(curl -q --fail --silent --show-error --retry 3 --retry-all-errors --globoff --proto '=http,https'
  --connect-timeout 30 --speed-limit 1 --speed-time 300)

# A relative job directory is under $HOME, a relative result file under the job directory.
case $JOB_DIR in /*) ;; *) JOB_DIR=$HOME/$JOB_DIR ;; esac
case $RESULT_FILE in /*) ;; *) RESULT_FILE=$JOB_DIR/$RESULT_FILE ;; esac
if ! mkdir -p -- "$JOB_DIR/.inno" "${RESULT_FILE%/*}"; then
  printf '%s: cannot create the job directory\n' "$LOG_TAG" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  printf '%s: python3 and curl are required on the host\n' "$LOG_TAG" >&2
  extra=',"skipped":0'
  [ "$MODE" = stage-out ] && extra=',"parts":{}'
  printf '{"ok":false,"failed":[{"path":"","reason":"python3 or curl is missing on the host"}],"bytes":0%s}\n' "$extra" \
    >"$RESULT_FILE.tmp.$$" && mv -f -- "$RESULT_FILE.tmp.$$" "$RESULT_FILE"
  exit 2
fi

WORK=$(mktemp -d "$JOB_DIR/.inno/$LOG_TAG.XXXXXX") || exit 2
trap 'rm -rf -- "$WORK"' EXIT
# On a signal, stop starting work and let the EXIT trap remove the work directory: files being
# fetched there can then never be moved into place half-written.
# shellcheck disable=SC2046 # one pid per word
trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM INT HUP
if [ "${#REL[@]}" -gt 0 ]; then printf '%s\0' "${REL[@]}" >"$WORK/paths"; else : >"$WORK/paths"; fi
for ((i = 0; i < ${#ITEM_FILE[@]}; i++)); do
  printf '%d %d\n' "${ITEM_FILE[i]}" "${ITEM_PART[i]}"
done >"$WORK/items"

# item_failed INDEX RELPATH SUFFIX REASON: records a failure. The log shows the path escaped by %q
# (a name with a newline cannot forge log lines) and never a URL.
item_failed() {
  printf 'fail %s\n' "$4" >"$WORK/$1.res"
  printf '%s: FAILED %q%s: %s\n' "$LOG_TAG" "$2" "$3" "$4" >&2
}

# fetch_item INDEX (stage-in). `${dest%/*}` rather than `dirname`: command substitution would drop
# a trailing newline of a directory name.
fetch_item() {
  local i=$1
  local f="${ITEM_FILE[$i]}" url="${ITEM_URL[$i]}"
  local rel="${REL[$f]}" size="${SIZE[$f]}"
  local dest="$JOB_DIR/${REL[$f]}" tmp="$WORK/$i.data" res="$WORK/$i.res"
  local code rc actual
  if [ -f "$dest" ] && [ ! -L "$dest" ] && [ "$(stat -c %s -- "$dest")" = "$size" ]; then
    printf 'skip %s\n' "$size" >"$res"
    printf '%s: already present %q\n' "$LOG_TAG" "$rel"
    return 0
  fi
  if ! mkdir -p -- "${dest%/*}"; then
    item_failed "$i" "$rel" '' 'cannot create its directory'
    return 1
  fi
  # Created first because curl writes no file at all for an empty body.
  : >"$tmp"
  code=$("${CURL[@]}" -o "$tmp" -w '%{http_code}' "$url" 2>"$WORK/$i.err")
  rc=$?
  if [ "$rc" -ne 0 ]; then
    rm -f -- "$tmp"
    item_failed "$i" "$rel" '' "curl exit $rc, HTTP ${code:-000}"
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
  printf 'ok %s\n' "$size" >"$res"
  printf '%s: fetched %q (%s bytes)\n' "$LOG_TAG" "$rel" "$size"
}

# upload_item INDEX (stage-out): part 0 is a whole file by PUT, part k > 0 is the k-th part of a
# multipart upload, cut at (k - 1) * PART_SIZE.
upload_item() {
  local i=$1
  local f="${ITEM_FILE[$i]}" part="${ITEM_PART[$i]}" url="${ITEM_URL[$i]}"
  local rel="${REL[$f]}" src="$JOB_DIR/${REL[$f]}"
  local label='' body size bytes code rc etag
  [ "$part" -eq 0 ] || label=" (part $part)"
  # Symlinks are refused: the upload must not follow a link out of the job directory.
  if [ ! -f "$src" ] || [ -L "$src" ]; then
    item_failed "$i" "$rel" "$label" 'not a regular file'
    return 1
  fi
  size=$(stat -c %s -- "$src") || {
    item_failed "$i" "$rel" "$label" 'cannot read the file'
    return 1
  }
  if [ "$part" -eq 0 ]; then
    body=$src
    bytes=$size
  else
    local part_size="${PART_SIZE[$f]}" nparts="${NPARTS[$f]}" offset want
    # The plan was made from an earlier listing: a file that changed size since would be cut wrongly.
    if [ $((size == 0 ? 1 : (size + part_size - 1) / part_size)) -ne "$nparts" ]; then
      item_failed "$i" "$rel" "$label" "the file is now $size bytes, which is not $nparts parts of $part_size bytes"
      return 1
    fi
    offset=$(((part - 1) * part_size))
    want=$((size - offset < part_size ? size - offset : part_size))
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
  code=$("${CURL[@]}" -X PUT -T "$body" -D "$WORK/$i.hdr" -o /dev/null -w '%{http_code}' "$url" 2>"$WORK/$i.err")
  rc=$?
  [ "$part" -eq 0 ] || rm -f -- "$body"
  if [ "$rc" -ne 0 ]; then
    item_failed "$i" "$rel" "$label" "curl exit $rc, HTTP ${code:-000}"
    return 1
  fi
  if [ "$part" -ne 0 ]; then
    # The last ETag header: a "100 Continue" block may come first in the header dump.
    etag=$(tr -d '\r' <"$WORK/$i.hdr" | sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*//p' | tail -n 1)
    if [ -z "$etag" ]; then
      item_failed "$i" "$rel" "$label" 'no ETag in the response'
      return 1
    fi
    printf '%s' "$etag" >"$WORK/$i.etag"
  fi
  printf 'ok %s\n' "$bytes" >"$WORK/$i.res"
  printf '%s: uploaded %q%s (%s bytes)\n' "$LOG_TAG" "$rel" "$label" "$bytes"
}

# run_item INDEX: the item's transfer, by MODE.
run_item() {
  case $MODE in
    stage-in) fetch_item "$1" ;;
    stage-out) upload_item "$1" ;;
  esac
}

running=0
for ((i = 0; i < ${#ITEM_FILE[@]}; i++)); do
  if [ "$running" -ge "$PARALLELISM" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_item "$i" &
  running=$((running + 1))
done
wait

python3 -c "$RESULT_PY" "$WORK" "$RESULT_FILE" "$MODE"
rc=$?
if [ "$rc" -eq 0 ]; then
  printf '%s: done\n' "$LOG_TAG"
else
  printf '%s: finished with failures (exit %s), see %q\n' "$LOG_TAG" "$rc" "$RESULT_FILE" >&2
fi
exit "$rc"
