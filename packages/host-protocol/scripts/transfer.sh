#!/usr/bin/env bash
# Stage-in and stage-out on the GPU host (@inno-train/host-protocol, src/transfer/): uploaded as
# .inno/stage-in.sh or .inno/stage-out.sh and run by run-task.sh. Needs bash, coreutils and python3
# (>= 3.8, standard library only; on every Lambda image).
#
# The work is done by the transfer engine, transfer.py + transfer-in.py + transfer-out.py joined
# into one program (carried in ENGINE_PY, src/transfer/engine.ts): ranged parallel
# downloads into preallocated files, parallel multipart uploads, one shared budget of connections,
# per-request retries, stall timeouts, verification, a progress file, a journal of finished parts.
# This wrapper only hands it the plan: PLAN_JSON goes to its stdin, never onto a command line, since
# it holds presigned URLs (credentials for a while) and can be megabytes long.
#
# The data block holds values quoted when rendered; nothing here interpolates data into code.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
MODE=stage-in
JOB_DIR=inno-train/j0000000000000000000000
RESULT_FILE=.inno/stage-in.result
PLAN_JSON='{}'
ENGINE_PY='import sys; sys.exit(1)'
# ---- end of data ----

set -u -o pipefail
case $MODE in
  stage-in | stage-out) ;;
  *)
    printf 'transfer: unknown mode %q\n' "$MODE" >&2
    exit 2
    ;;
esac

# A relative job directory is under $HOME, a relative result file under the job directory.
case $JOB_DIR in /*) ;; *) JOB_DIR=$HOME/$JOB_DIR ;; esac
case $RESULT_FILE in /*) ;; *) RESULT_FILE=$JOB_DIR/$RESULT_FILE ;; esac
if ! mkdir -p -- "$JOB_DIR/.inno" "${RESULT_FILE%/*}"; then
  printf '%s: cannot create the job directory\n' "$MODE" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
  printf '%s: python3 is required on the host\n' "$MODE" >&2
  extra=',"skipped":0'
  [ "$MODE" = stage-out ] && extra=',"parts":{}'
  printf '{"ok":false,"failed":[{"path":"","reason":"python3 is missing on the host","kind":"local"}],"bytes":0%s}\n' "$extra" \
    >"$RESULT_FILE.tmp.$$" && mv -f -- "$RESULT_FILE.tmp.$$" "$RESULT_FILE"
  exit 2
fi

# -X utf8: file names are UTF-8 whatever the host's locale. exec: a signal to the task's process
# group reaches the engine directly.
exec python3 -X utf8 -c "$ENGINE_PY" <<<"$PLAN_JSON"
