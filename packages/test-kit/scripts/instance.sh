#!/usr/bin/env bash
# One disposable "GPU instance": run by startSshHost (src/ssh-host.ts) as PID 1 of fresh PID and
# mount namespaces (unshare --pid --mount --fork --kill-child --mount-proc), so the instance has its
# own processes and its own home and /tmp, while sharing the rest of the machine's files.
#
# Usage: instance.sh IP PORT USER STATE_DIR [FORCE_COMMAND]
#   STATE_DIR holds ssh_host_ed25519_key (made by the caller, so it knows the fingerprint up front)
#   and authorized_keys. It stays outside /tmp because sshd 9.2 re-reads the host key on every
#   connection and /tmp is replaced below.
#   FORCE_COMMAND, when given, becomes sshd's ForceCommand (the chaos hook, see src/chaos.ts).
set -euo pipefail

ip=$1 port=$2 user=$3 state_dir=$4 force_command=${5:-}

# Without FORCE_COMMAND sshd gets exactly the options it always had.
extra_options=()
[ -z "$force_command" ] || extra_options+=(-o "ForceCommand=$force_command")

home=$(getent passwd "$user" | cut -d: -f6)
uid=$(id -u "$user")
gid=$(id -g "$user")
[ -n "$home" ] || { echo "instance.sh: user $user has no home directory" >&2; exit 1; }

# unshare already makes mounts private; saying it again keeps our tmpfs mounts from ever
# propagating to the machine if that default changes.
mount --make-rprivate /

# The home belongs to the user (sshd's StrictModes accepts 755 owned by the user) and starts empty.
mount -t tmpfs -o "mode=755,uid=$uid,gid=$gid" "inno-home-$ip" "$home"
mount -t tmpfs -o mode=1777 "inno-tmp-$ip" /tmp

install -d -m 700 -o "$uid" -g "$gid" "$home/.ssh"
install -m 600 -o "$uid" -g "$gid" "$state_dir/authorized_keys" "$home/.ssh/authorized_keys"

# Privilege separation directory; shared between instances, which is fine (root-owned, empty).
install -d -m 755 /run/sshd

# Foreground (-D) with logs on stderr (-e): as a forking daemon sshd resets connections here.
exec /usr/sbin/sshd -D -e \
  -o "ListenAddress=$ip" \
  -o "Port=$port" \
  -o "HostKey=$state_dir/ssh_host_ed25519_key" \
  -o PidFile=none \
  -o UsePAM=no \
  -o PasswordAuthentication=no \
  -o KbdInteractiveAuthentication=no \
  -o "AllowUsers=$user" \
  "${extra_options[@]}"
