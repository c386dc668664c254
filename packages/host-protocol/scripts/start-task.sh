#!/usr/bin/env bash
# Starts a task of a job on the host, detached and once (@inno-train/host-protocol, src/task.ts).
# Sent as one SSH command from the login directory; answers `started` (within a second), whatever it did.
#
# A start while the task runs finds its lock taken; a start after it ended finds its status. Both
# are no-ops, so a worker that died after starting can safely start again. To run a task again on
# purpose, remove its status first (src/task.ts, resetTaskCommand).

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_TASK=stage-in
INNO_RUNNER='#!/usr/bin/env bash'
# ---- end of data ----

set -u
# `cd` on its own line: in `cd x && cmd &` the whole list is backgrounded, and that subshell would
# keep the session's stdout open until the task ends.
cd -- "$INNO_JOB_DIR" || exit 1
mkdir -p .inno || exit 1

# The lock is taken here, before the runner exists, and handed to it as fd 9: from the moment this
# command answers, a check sees the task running, and no other start can get in between. Checks
# and kills take the lock for an instant when it is free (that is how they ask), so a start waits
# a moment for it instead of giving up at once; a runner holds it for good, and then this is a no-op.
exec 9>>".inno/$INNO_TASK.lock" || exit 1
if flock -w 1 9 && [ ! -e ".inno/$INNO_TASK.status" ]; then
  # Replaced by a rename: a runner of another task still reading the old file (bash reads a script
  # as it runs it) keeps reading the old one.
  printf '%s' "$INNO_RUNNER" >".inno/run-task.sh.tmp.$$" && mv -f -- ".inno/run-task.sh.tmp.$$" .inno/run-task.sh || exit 1
  # setsid: the runner leads a process group of its own (its pid is the group), and survives the
  # session; nohup and the redirections cut it loose from the session's terminal and pipes.
  nohup setsid bash .inno/run-task.sh "$INNO_TASK" >".inno/$INNO_TASK.out" 2>&1 </dev/null &
fi
echo started
