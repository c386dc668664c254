#!/usr/bin/env bash
# Checkpoint sync on the host (@inno-train/host-protocol, src/checkpoints.ts). Sent as one SSH
# command from the login directory by the monitor's training poll, every checkpoint.syncSeconds.
#
# list   prints the host's clock (ms), the state of the checkpoint upload (none, running, done),
#        then every file and directory under checkpoints/ (CHECKPOINT_DIR) as NUL-ended records
#        `<type>\t<size>\t<mtime>\t<path relative to checkpoints/>`: NUL cannot occur in a name.
#        `find` does not follow symlinks, and only regular files and directories are listed.
# start  starts the upload script already uploaded as .inno/checkpoint-sync.sh (transfer.sh in
#        stage-out mode, with presigned URLs) detached, once, at the lowest CPU and I/O priority, so
#        the training command is slowed by nothing but the reading of its files. Its lock is taken
#        here and handed to it: while it runs, `list` answers `running`, and another start is a no-op.
#        Files over one part go up as presigned UploadPart requests; the ETags are in the result.
# result prints RESULT_FILE, the run's result (one line of JSON, written atomically at its end by
#        transfer-result.py), or nothing when there is none. Asked once `list` answered `done`.
#
# Names are data: every path is quoted, and none of them is ever part of the code.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
MODE=list
JOB_DIR=inno-train/j0000000000000000000000
RESULT_FILE=.inno/checkpoint-sync.r0.result
# ---- end of data ----

set -u
cd -- "$JOB_DIR" || exit 1
mkdir -p .inno || exit 1
LOCK=.inno/checkpoint-sync.lock

case $MODE in
  list)
    printf 'now=%s\n' "$(date +%s%3N)"
    exec 9>>"$LOCK" || exit 1
    if flock -n 9; then
      if [ -e "$RESULT_FILE" ]; then echo 'sync=done'; else echo 'sync=none'; fi
      flock -u 9
    else
      echo 'sync=running'
    fi
    exec 9>&-
    echo '--'
    if [ -d checkpoints ]; then
      find ./checkpoints -mindepth 1 \( -type f -o -type d \) -printf '%y\t%s\t%T@\t%P\0'
    fi
    ;;
  start)
    exec 9>>"$LOCK" || exit 1
    if flock -w 1 9; then
      rm -f -- .inno/checkpoint-sync.*.result
      PRIORITY=(nice -n 19)
      # ionice is in util-linux; where it cannot set the class (some containers), CPU priority only.
      if command -v ionice >/dev/null 2>&1 && ionice -c3 true 2>/dev/null; then PRIORITY+=(ionice -c3); fi
      # setsid and nohup: the upload survives the session; fd 9 (the lock) goes with it.
      nohup setsid "${PRIORITY[@]}" bash .inno/checkpoint-sync.sh >>.inno/checkpoint-sync.out 2>&1 </dev/null &
    fi
    echo started
    ;;
  result)
    if [ -f "$RESULT_FILE" ]; then cat -- "$RESULT_FILE" || exit 1; fi
    ;;
  *)
    printf 'checkpoints: unknown mode %q\n' "$MODE" >&2
    exit 2
    ;;
esac
