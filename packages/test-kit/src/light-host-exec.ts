/**
 * One `exec` request on a light host: `bash -c <command>` as the instance's uid, in its home, with
 * the channel's stdin, stdout and stderr wired, and the exit status (or exit-signal) reported as
 * sshd does. The command leads a process group of its own; a channel that closes before the
 * command ended (the client gave up, the connection dropped) or a `signal` request kills that group,
 * as sshd's killpg does. Runners that left the group on purpose (`nohup setsid`) keep running, as on
 * a real host, until the instance is killed (light-host-processes.ts).
 */
import { spawn } from 'node:child_process';
import type { ServerChannel } from 'ssh2';

export interface ExecContext {
  uid: number;
  home: string;
  /** Told about each command's pid while it runs, so the instance can pause it. */
  onSpawn?: (pid: number) => void;
}

type Accept = () => ServerChannel | undefined;

/** Starts the command on an accepted channel; returns a function for the session's `signal` requests. */
export function runExec(accept: Accept, command: string, context: ExecContext): (name: string) => void {
  const channel = accept();
  if (!channel) return () => undefined;
  const child = spawn('bash', ['-c', command], {
    cwd: context.home,
    env: commandEnv(context.home),
    uid: context.uid,
    gid: context.uid,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let ended = false;
  const killGroup = (signal: NodeJS.Signals) => {
    if (ended || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  if (child.pid !== undefined) context.onSpawn?.(child.pid);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  channel.pipe(child.stdin);
  // The command may exit without reading its stdin; writing to the closed pipe is not an error here.
  child.stdin.on('error', () => undefined);
  child.on('error', (error) => {
    ended = true;
    channel.stderr.write(`light host: ${error.message}\n`);
    finish(channel, 127, null);
  });
  child.on('close', (code, signal) => {
    ended = true;
    finish(channel, code, signal);
  });
  channel.on('close', () => killGroup('SIGKILL'));
  return (name) => killGroup(`SIG${name.replace(/^SIG/, '')}` as NodeJS.Signals);
}

/** Reports the status as sshd does (exit-signal for a killed command), then EOF and close. */
function finish(channel: ServerChannel, code: number | null, signal: NodeJS.Signals | null): void {
  if (channel.destroyed) return;
  try {
    if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  } catch {
    // The client closed the channel at the same moment.
  }
}

/** What a non-interactive login of `ubuntu` on the images sets; the home is the instance's own folder. */
function commandEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    PWD: home,
    USER: 'ubuntu',
    LOGNAME: 'ubuntu',
    SHELL: '/bin/bash',
    LANG: 'C.UTF-8',
  };
}
