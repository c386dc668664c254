/**
 * A TCP relay in front of a real sshd, so a test can kill the connections through it in the two
 * ways hosts do: at once (an in-flight call sees a reset), or silently, so the client learns of it
 * only when it next sends (a host that rebooted answers that with a reset).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  ip: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resets every current connection now. */
  resetAll(): void;
  /** Stops relaying on every current connection, and resets each once the client next sends. */
  breakSilently(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(listen: { ip: string; port: number }, upstream: { ip: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket }>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted++;
    const upstreamSocket = connect({ host: upstream.ip, port: upstream.port });
    const pair = { client, server: upstreamSocket };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstreamSocket.destroy();
    };
    client.on('error', end).on('close', end);
    upstreamSocket.on('error', end).on('close', end);
    client.pipe(upstreamSocket);
    upstreamSocket.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.ip, () => resolve());
  });
  const reset = (pair: { client: Socket; server: Socket }) => {
    pairs.delete(pair);
    pair.server.destroy();
    pair.client.resetAndDestroy();
  };
  return {
    ip: listen.ip,
    port: listen.port,
    accepted: () => accepted,
    resetAll: () => [...pairs].forEach(reset),
    breakSilently: () => {
      for (const pair of [...pairs]) {
        pair.client.unpipe(pair.server);
        pair.server.unpipe(pair.client);
        pair.server.removeAllListeners('close');
        pair.server.on('error', () => undefined);
        pair.server.destroy();
        pair.client.removeAllListeners('data');
        pair.client.once('data', () => reset(pair));
        pair.client.resume();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of [...pairs]) reset(pair);
        server.close(() => resolve());
      }),
  };
}
