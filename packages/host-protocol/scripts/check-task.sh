#!/usr/bin/env bash
# Says how a task of a job is doing (@inno-train/host-protocol, src/task.ts). Sent as one SSH
# command from the login directory. The first line of the answer is one of
#
#   state=running           the runner holds the task's lock
#   state=done <status>     it ended; <status> is .inno/TASK.status, JSON from run-task.sh
#   state=not_running       neither: never started, or died without a status (killed, host reboot)
#   state=no_job_dir        the job directory does not exist
#
# With INNO_LOG_FILE set (training), the same call also reads the log: `size=<bytes>`, a marker
# line, then at most INNO_LOG_CHUNK bytes of the log from byte INNO_LOG_OFFSET, so a poll is one
# short SSH call.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_TASK=train
INNO_LOG_FILE=train.log
INNO_LOG_OFFSET=0
INNO_LOG_CHUNK=262144
INNO_LOG_MARKER=--inno-log--
# ---- end of data ----

set -u
cd -- "$INNO_JOB_DIR" 2>/dev/null || {
  echo 'state=no_job_dir'
  exit 0
}

# The lock is asked before the status file: the runner writes the status while it still holds the
# lock, so once the lock is free the status is there (or the runner died without one). Asked the
# other way round, a task ending between the two checks looked like one that died
# (training_process_lost for a command that had exited normally).
flock -n -E 75 ".inno/$INNO_TASK.lock" true 2>/dev/null
locked=$?
if [ "$locked" -eq 75 ]; then
  echo 'state=running'
elif [ -f ".inno/$INNO_TASK.status" ]; then
  printf 'state=done '
  cat -- ".inno/$INNO_TASK.status"
else
  echo 'state=not_running'
fi

if [ -n "$INNO_LOG_FILE" ]; then
  # The size after the state: a task found ended has written all of its log by then.
  size=$(stat -c %s -- "$INNO_LOG_FILE" 2>/dev/null) || size=0
  printf 'size=%s\n' "$size"
  printf '%s\n' "$INNO_LOG_MARKER"
  # Nothing new (the live tail has usually stored it all): no tail and head to spawn. A poll is sent
  # to every host every TRAIN_POLL_MS; on the light hosts of bench:scale (issue 16) that is 100
  # commands a second at 1,000 jobs, and these two processes were a third of their cost.
  if [ "$size" -gt "$INNO_LOG_OFFSET" ]; then
    tail -c "+$((INNO_LOG_OFFSET + 1))" -- "$INNO_LOG_FILE" 2>/dev/null | head -c "$INNO_LOG_CHUNK"
  fi
fi
exit 0
