#!/usr/bin/env bash
# The task runner of the host protocol (@inno-train/host-protocol, src/task.ts). start-task.sh
# writes it to .inno/run-task.sh and runs it detached, in a session of its own:
#
#   bash .inno/run-task.sh TASK    working directory: the job directory; fd 9: .inno/TASK.lock, locked
#
# It runs .inno/TASK.sh once and records how it went:
#   .inno/TASK.pid     the runner's pid, which is the task's process group (kill-task.sh signals it)
#   .inno/TASK.status  {"exitCode": N, "result": R}, renamed into place once the task has ended;
#                      R is the JSON the task left in .inno/TASK.result, or null
#
# The lock on fd 9 belongs to the runner: it is held exactly while the runner lives, and the status
# is written before the runner exits. So a check that finds the lock free finds the status there,
# or a runner that died without one (killed, or the host went down). The task does not inherit
# fd 9: a process it leaves behind cannot keep the lock, and with it the task, alive.
#
# No `set -e`: whatever the task does, the runner must get to writing the status.
set -u

task=$1
inno=.inno
status=$inno/$task.status
result=$inno/$task.result

printf '%s\n' "$$" >"$inno/$task.pid.tmp" && mv -f -- "$inno/$task.pid.tmp" "$inno/$task.pid"
# A result left by an earlier run must not pass for this run's.
rm -f -- "$result"

bash "$inno/$task.sh" 9>&- </dev/null
code=$?

# The result is JSON written in one piece by the task (transfer-result.py renames it into place);
# it is embedded as it is, and the orchestrator parses the whole status with its schema.
{
  printf '{"exitCode":%d,"result":' "$code"
  if [ -s "$result" ]; then tr -d '\n' <"$result"; else printf 'null'; fi
  printf '}\n'
} >"$status.tmp.$$" && mv -f -- "$status.tmp.$$" "$status"
