#!/usr/bin/env bash
# The training task (@inno-train/host-protocol, src/training.ts): uploaded as .inno/train.sh and
# run by run-task.sh. Runs the job's command in the job directory with the documented environment
# (README, "On the host"), stdout and stderr appended to train.log, and exits with its exit code,
# which the runner records.
#
# Everything in the data block is quoted data, the job's env included (`export KEY=value` lines).
# The one piece of code that comes from the job is its command, INNO_COMMAND: code by design, run
# by `eval` in a subshell, exactly as if it were written where the eval is. A command that does
# not parse fails there, with bash's message in train.log, and not the wrapper around it.

# ---- data (rendered: src/render.ts replaces these lines; the values here are examples) ----
INNO_JOB_DIR=inno-train/j0000000000000000000000
INNO_JOB_ID=j0000000000000000000000
INNO_INPUT_VARS=(INPUT_TRAIN)
INNO_INPUT_PATHS=(inputs/train/train.jsonl)
INNO_COMMAND='python3 train.py'
INNO_RESUME_FROM=step-500
export PYTHONUNBUFFERED=1
# ---- end of data ----

case $INNO_JOB_DIR in /*) ;; *) INNO_JOB_DIR=$HOME/$INNO_JOB_DIR ;; esac
cd -- "$INNO_JOB_DIR" || exit 97
export JOB_ID=$INNO_JOB_ID JOB_DIR=$PWD INPUT_DIR=$PWD/inputs CONFIG_PATH=$PWD/config.yaml OUTPUT_DIR=$PWD/output
# CHECKPOINT_DIR: each top-level entry is one checkpoint, synced to S3 while the command runs.
export CHECKPOINT_DIR=$PWD/checkpoints
mkdir -p -- "$CHECKPOINT_DIR" || exit 97
# RESUME_FROM: the checkpoint entry stage-in restored on a new instance (README, "Checkpoints").
if [[ -n $INNO_RESUME_FROM ]]; then
  export RESUME_FROM=$CHECKPOINT_DIR/$INNO_RESUME_FROM
else
  unset RESUME_FROM
fi
# INPUT_<NAME>: the file of an object input, the folder of a prefix (names checked when rendered).
for ((inno_input = 0; inno_input < ${#INNO_INPUT_VARS[@]}; inno_input++)); do
  export "${INNO_INPUT_VARS[inno_input]}=$PWD/${INNO_INPUT_PATHS[inno_input]}"
done
unset inno_input

(eval "$INNO_COMMAND") >>train.log 2>&1 </dev/null
