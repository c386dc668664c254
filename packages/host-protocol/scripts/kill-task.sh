#!/usr/bin/env bash
# Stops a running task of a job (@inno-train/host-protocol, src/task.ts): TERM to its process
# group, then KILL to whatever is left after the grace. Sent as one SSH command from the login
# directory. With INNO_WAIT=no it answers at once and the wait and the KILL go on in the
# background; with INNO_WAIT=yes it answers once the group is gone (at most the grace, then KILL),
# and at once when there was nothing to stop.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_TASK=train
INNO_GRACE_SECONDS=5
INNO_WAIT=no
# ---- end of data ----

set -u
cd -- "$INNO_JOB_DIR" 2>/dev/null || {
  echo 'nothing to stop'
  exit 0
}

# Only a task whose runner holds the lock is signalled: the pid file of one that ended may name a
# group that is gone or, after a reboot, someone else's. The pid must be a group we can name:
# `kill -- -1` would signal every process of the user.
flock -n -E 75 ".inno/$INNO_TASK.lock" true 2>/dev/null
locked=$?
pgid=
read -r pgid 2>/dev/null <".inno/$INNO_TASK.pid"
case $pgid in '' | *[!0-9]*) pgid=0 ;; esac
if [ "$locked" -ne 75 ] || [ "$pgid" -le 1 ]; then
  echo 'nothing to stop'
  exit 0
fi

# Waits for the group to be gone, at most the grace, then kills what is left.
kill_after_grace() {
  local tick
  for ((tick = 0; tick < INNO_GRACE_SECONDS * 10; tick++)); do
    kill -0 -- -"$pgid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- -"$pgid" 2>/dev/null
  return 0
}

kill -TERM -- -"$pgid" 2>/dev/null
if [ "$INNO_WAIT" = yes ]; then
  kill_after_grace
  echo stopped
else
  # Survives the end of the session (no HUP, no pipe to the client) so the answer comes at once.
  (
    trap '' HUP
    kill_after_grace
  ) >/dev/null 2>&1 </dev/null &
  echo stopping
fi
