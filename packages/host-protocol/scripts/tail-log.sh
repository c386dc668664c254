#!/usr/bin/env bash
# Tails a task's log for the live view (@inno-train/host-protocol, src/training.ts). Sent as one
# long-lived SSH command from the login directory; prints the log's bytes from byte INNO_LOG_OFFSET
# on stdout as they are written (at once with inotify, else within INNO_POLL_SECONDS), exactly once
# each and nothing else. Once the task is no longer running (noticed within INNO_POLL_SECONDS) it
# prints what is left, writes `end` on stderr and exits 0. stderr also gets `alive` every INNO_ALIVE_SECONDS: a write to a session that
# is gone kills this script (SIGPIPE) even while the log is quiet.
#
# The state is read as check-task.sh reads it (the lock): a task found ended has written all of its
# log by then, so the bytes up to the end of the file are the whole log (train.log is only appended
# to, by train-wrapper.sh).
#
# Nothing is spawned per poll, because one host may run this for a thousand jobs at once (the light
# test hosts of bench:scale, issue 16) and a training host runs it for hours: the first version
# spawned flock, stat and sleep every poll (15 processes a second per job), and a thousand of them
# did not fit on two cores. Now, for the whole tail:
# - a blocking `flock` waits for the runner to let go of the task's lock (it holds it exactly while
#   it lives, run-task.sh), and exits at once when it did, however the task ended;
# - GNU `tail -f` sends the bytes from the offset as they are written (woken by inotify, or by its
#   own fstat polls), and `--pid` makes it read the file to its end once more and exit after that
#   flock has exited;
# - a subshell writes `alive`, sleeping with the `read -t` builtin.

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

lock=.inno/$INNO_TASK.lock
# A builtin sleep: `read -t` on a pipe that is never written (this shell holds its only writer).
exec {sleeper}<> <(:)
nap() {
  read -r -t "$1" -u "$sleeper" || :
}

# Whether the log holds the bytes up to the offset: it appears when the command starts, and GNU
# tail takes a file shorter than where it was told to start for a truncated one, and starts over.
log_reaches_offset() {
  local size
  [ -e "$INNO_LOG_FILE" ] || return 1
  [ "$INNO_LOG_OFFSET" -eq 0 ] && return 0
  size=$(stat -c %s -- "$INNO_LOG_FILE" 2>/dev/null) || return 1
  [ "$size" -ge "$INNO_LOG_OFFSET" ]
}

flock -n -E 75 "$lock" true 2>/dev/null
if [ $? -ne 75 ]; then
  # Not running (it ended, or never started): what is left, then `end`.
  if log_reaches_offset; then
    tail -c "+$((INNO_LOG_OFFSET + 1))" -- "$INNO_LOG_FILE" || exit 1
  fi
  echo end >&2
  exit 0
fi

# Running. This exits 0 once the runner let go of the lock.
flock -s "$lock" true 2>/dev/null &
locker=$!
# `alive` every INNO_ALIVE_SECONDS; once that write fails the session is gone, and so is the rest.
(
  trap '' PIPE
  while :; do
    nap "$INNO_ALIVE_SECONDS"
    echo alive >&2 || break
  done
  kill "$locker" 2>/dev/null
) &
keeper=$!

until log_reaches_offset || ! kill -0 "$locker" 2>/dev/null; do
  nap "$INNO_POLL_SECONDS"
done
# Asked again: the log may have grown just before the task ended.
if log_reaches_offset; then
  if ! tail -c "+$((INNO_LOG_OFFSET + 1))" -f -s "$INNO_POLL_SECONDS" --pid="$locker" -- "$INNO_LOG_FILE" 2>/dev/null; then
    kill "$locker" "$keeper" 2>/dev/null
    exit 1
  fi
fi
kill "$keeper" 2>/dev/null
# Killed (the session is gone) rather than ended with the lock in hand: no `end`.
wait "$locker" || exit 1
echo end >&2
exit 0
