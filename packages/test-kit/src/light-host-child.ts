/**
 * The child process of light-host-process.ts: one light host server (light-host.ts) driven over
 * Node's IPC channel. Each request names a host by the key the parent gave it; the answers and the
 * hosts' activity (sessions accepted, log lines, exits) go back as messages. When the parent goes
 * away the server is closed: every instance's processes are killed and its folder removed.
 */
import { startLightHostServer } from './light-host';
import type { SshHost } from './ssh-host';
import type { ChildMessage, ParentMessage, StartReply } from './light-host-process';

const send = (message: ChildMessage) => {
  if (process.connected) process.send!(message);
};

async function main(): Promise<void> {
  const byIp = new Map<string, { key: number; host: SshHost | undefined }>();
  const server = await startLightHostServer({
    onActivity: (ip) => {
      const entry = byIp.get(ip);
      if (entry?.host) send({ type: 'activity', key: entry.key, accepted: entry.host.acceptedSessions(), log: entry.host.log() });
    },
  });
  const byKey = new Map<number, SshHost>();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= server.close().finally(() => process.exit(0)));

  process.on('disconnect', () => void close());
  process.on('message', (message: ParentMessage) => {
    const reply = (work: () => Promise<StartReply | undefined>) =>
      work().then(
        (value) => send({ type: 'reply', id: message.id, reply: value }),
        (error: unknown) => send({ type: 'reply', id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
    switch (message.type) {
      case 'start':
        return void reply(async () => {
          byIp.set(message.options.ip, { key: message.key, host: undefined });
          try {
            const host = await server.startHost(message.options);
            byIp.set(host.ip, { key: message.key, host });
            byKey.set(message.key, host);
            void host.exited.then(() => {
              byKey.delete(message.key);
              if (byIp.get(host.ip)?.key === message.key) byIp.delete(host.ip);
              send({ type: 'exited', key: message.key });
            });
            return { hostKeyFingerprint: host.hostKeyFingerprint, accepted: host.acceptedSessions(), log: host.log() };
          } catch (error) {
            byIp.delete(message.options.ip);
            throw error;
          }
        });
      case 'kill':
      case 'pause':
      case 'resume':
        return void reply(async () => {
          await byKey.get(message.key)?.[message.type]();
          return undefined;
        });
      case 'close':
        // Answered by exiting: the parent waits for that.
        return void close();
    }
  });
  send({ type: 'ready', pid: process.pid });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
