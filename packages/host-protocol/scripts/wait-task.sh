#!/usr/bin/env bash
# Waits for a task of a job to end, up to INNO_WAIT_MS, and says how it is doing
# (@inno-train/host-protocol, src/task.ts): the transfer stages' check, which notices a transfer's
# end at once rather than at the next poll. Sent as one SSH command from the login directory.
#
# While the task runs, it prints its progress file as `progress=<line>` every 200 ms, or when it
# changed at most; then one line as check-task.sh's first (state=running once INNO_WAIT_MS has passed,
# state=done <status> as soon as the task has ended, state=not_running, state=no_job_dir).

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_TASK=stage-in
INNO_PROGRESS_FILE=.inno/stage-in.progress
INNO_WAIT_MS=10000
# ---- end of data ----

set -u
cd -- "$INNO_JOB_DIR" 2>/dev/null || {
  echo 'state=no_job_dir'
  exit 0
}

last=''
# show_progress: the progress line when it changed (a builtin read: nothing spawned).
show_progress() {
  local line=''
  [ -n "$INNO_PROGRESS_FILE" ] && [ -f "$INNO_PROGRESS_FILE" ] || return 0
  IFS= read -r line <"$INNO_PROGRESS_FILE" 2>/dev/null || [ -n "$line" ] || return 0
  if [ "$line" != "$last" ]; then
    printf 'progress=%s\n' "$line"
    last=$line
  fi
}

# The runner holds the task's lock for as long as it lives and writes the status before it lets go
# (run-task.sh), so a flock that gets the lock means the task has ended. Each wait is 200 ms, to
# show progress in between; a wait that times out took those 200 ms, so counting them bounds the
# whole wait without a clock to spawn.
rounds=$(((INNO_WAIT_MS + 199) / 200))
while :; do
  flock -w 0.2 -E 75 ".inno/$INNO_TASK.lock" true 2>/dev/null
  [ $? -eq 75 ] || break
  show_progress
  rounds=$((rounds - 1))
  if [ "$rounds" -le 0 ]; then
    echo 'state=running'
    exit 0
  fi
done

show_progress
if [ -f ".inno/$INNO_TASK.status" ]; then
  printf 'state=done '
  cat -- ".inno/$INNO_TASK.status"
else
  echo 'state=not_running'
fi
exit 0
