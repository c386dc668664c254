#!/usr/bin/env bash
# Tails a task's log for the live view (@inno-train/host-protocol, src/training.ts). Sent as one
# long-lived SSH command from the login directory; prints the log's bytes from byte INNO_LOG_OFFSET
# on stdout as they are written (the file is looked at every INNO_POLL_SECONDS), exactly once each
# and nothing else. Once the task is no longer running it prints what is left, writes `end` on
# stderr and exits 0. stderr also gets `alive` every INNO_ALIVE_SECONDS: a write to a session that
# is gone kills this script (SIGPIPE) even while the log is quiet.
#
# The state is read as check-task.sh reads it (the lock, then the size): a task found ended has
# written all of its log by then, so the bytes up to that size are the whole log.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_TASK=train
INNO_LOG_FILE=train.log
INNO_LOG_OFFSET=0
INNO_POLL_SECONDS=0.2
INNO_ALIVE_SECONDS=10
# ---- end of data ----

set -u
cd -- "$INNO_JOB_DIR" 2>/dev/null || {
  echo end >&2
  exit 0
}

offset=$INNO_LOG_OFFSET
last_alive=$SECONDS
while :; do
  flock -n -E 75 ".inno/$INNO_TASK.lock" true 2>/dev/null
  locked=$?
  size=$(stat -c %s -- "$INNO_LOG_FILE" 2>/dev/null || echo 0)
  if [ "$size" -gt "$offset" ]; then
    # Exactly the bytes up to the size just read: what is written meanwhile goes out next time.
    tail -c "+$((offset + 1))" -- "$INNO_LOG_FILE" | head -c "$((size - offset))" || exit 1
    offset=$size
  fi
  if [ "$locked" -ne 75 ]; then
    echo end >&2
    exit 0
  fi
  if [ $((SECONDS - last_alive)) -ge "$INNO_ALIVE_SECONDS" ]; then
    echo alive >&2 || exit 1
    last_alive=$SECONDS
  fi
  sleep "$INNO_POLL_SECONDS"
done
