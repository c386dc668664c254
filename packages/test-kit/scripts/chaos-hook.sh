#!/usr/bin/env bash
# Chaos hook: sshd's ForceCommand on SSH hosts started with `chaos: true` (src/chaos.ts). sshd runs
# it through the user's shell for every session, with the client's command in SSH_ORIGINAL_COMMAND
# (for the SFTP subsystem: the subsystem's command, /usr/lib/openssh/sftp-server on Debian).
#
# Without a rule, or when a session does not trigger it, the hook replaces itself with exactly what
# sshd would have run without it (`$SHELL -c COMMAND`, or a login shell), so stdin, stdout, stderr,
# the exit code and the environment are the client's own.
#
# When the session triggers the rule, the hook writes the "fired" marker and then blocks without
# running the command (an SFTP session: right after its handshake, with the client's first request
# unanswered), so the client's operation is in flight until the test kills or pauses the host.
#
# Files, all beside this script (made by src/chaos.ts):
#   rule              absent, or four lines: generation, kind (exec|sftp), nth, ERE pattern
#   state/count-GEN   sessions that matched the rule of generation GEN so far
#   state/fired-GEN   the original command of the session that fired that rule
#   state/lock        serialises counting between concurrent sessions
#
# No `set -e`: a failing bookkeeping step must still end in running the client's command.
set -u

chaos_dir=${BASH_SOURCE[0]%/*}
state_dir=$chaos_dir/state
# sshd sets SSH_ORIGINAL_COMMAND only because of ForceCommand; the command must not see it.
has_command=${SSH_ORIGINAL_COMMAND+yes}
command=${SSH_ORIGINAL_COMMAND-}
unset SSH_ORIGINAL_COMMAND
shell=${SHELL:-/bin/bash}

# The argv[0] values are sshd's own: the shell's base name, with a dash for a login shell.
run_normally() {
  if [ -z "$has_command" ]; then
    exec -a "-${shell##*/}" "$shell"
  fi
  # `Subsystem sftp internal-sftp` would hand us a name that no shell can run.
  if [ "$command" = internal-sftp ]; then
    exec /usr/lib/openssh/sftp-server
  fi
  exec -a "${shell##*/}" "$shell" -c "$command"
}

# An SFTP session cannot be told apart from an exec of the sftp-server itself; both count as SFTP.
is_sftp() {
  local program=${command%% *}
  [ "$command" = internal-sftp ] || [ "${program##*/}" = sftp-server ]
}

# True when this session is of the rule's kind (and, for exec, its command matches the pattern).
matches_rule() {
  local kind=$1 pattern=$2
  [ -n "$has_command" ] || return 1
  case $kind in
    sftp) is_sftp ;;
    exec) ! is_sftp && grep -Eq -e "$pattern" <<<"$command" ;;
    *) return 1 ;;
  esac
}

# Counts this session under the lock and prints its 1-based number among the rule's matches. Run
# in a command substitution, so the lock (fd 9) is released when that subshell ends.
count_session() {
  local generation=$1 count=0
  exec 9>>"$state_dir/lock" || return 1
  flock 9 || return 1
  read -r count 2>/dev/null <"$state_dir/count-$generation" || count=0
  count=$((count + 1))
  printf '%s\n' "$count" >"$state_dir/count-$generation"
  printf '%s\n' "$count"
}

mark_fired() {
  local marker=$state_dir/fired-$1
  # Written aside and renamed, so the test never reads a half-written marker.
  printf '%s\n' "$command" >"$marker.tmp.$$" && mv -f "$marker.tmp.$$" "$marker"
}

fire() {
  local generation=$1
  if is_sftp; then
    # The SFTP handshake goes through (the client's INIT, 9 bytes, reaches a real sftp-server,
    # whose VERSION answer goes straight back), then the hook reads the first 4 bytes of the
    # client's next request (opening the file) and nothing more: that request is in flight, with
    # no answer coming, when the test kills the host, as for a host lost in the middle of an upload.
    { head -c 9; head -c 4 >/dev/null; mark_fired "$generation"; exec sleep infinity; } | /usr/lib/openssh/sftp-server
    exit 1
  fi
  mark_fired "$generation"
  # Nothing else runs: the session hangs until the host is killed or paused. Not a bounded sleep,
  # which would end the session with exit 0 as if the command had succeeded.
  exec sleep infinity
}

main() {
  local generation kind nth pattern number
  {
    read -r generation && read -r kind && read -r nth && IFS= read -r pattern
  } 2>/dev/null <"$chaos_dir/rule" || run_normally
  matches_rule "$kind" "$pattern" || run_normally
  number=$(count_session "$generation") || run_normally
  [ "$number" = "$nth" ] || run_normally
  fire "$generation"
}

main
