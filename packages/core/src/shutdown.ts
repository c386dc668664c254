import type { Logger } from 'pino';

type Closer = { name: string; close: () => Promise<void> };

/**
 * One owner for SIGTERM/SIGINT. Components register closers; on a signal they run in reverse
 * order of registration (servers stop taking work before their clients close), each bounded by
 * the deadline, and the process exits.
 */
export function createShutdown(logger: Logger, deadlineMs: number) {
  const closers: Closer[] = [];
  let running: Promise<void> | null = null;

  async function shutdown(reason: string): Promise<void> {
    if (running) return running;
    running = (async () => {
      logger.info({ reason }, 'shutting down');
      for (const closer of [...closers].reverse()) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            logger.warn({ component: closer.name, deadlineMs }, 'shutdown deadline passed');
            resolve();
          }, deadlineMs);
        });
        await Promise.race([
          closer.close().catch((err: unknown) => logger.error({ err, component: closer.name }, 'close failed')),
          timeout,
        ]);
        clearTimeout(timer);
      }
    })();
    return running;
  }

  return {
    register(name: string, close: () => Promise<void>) {
      closers.push({ name, close });
    },
    shutdown,
    /** Installs signal handlers that shut down and exit. */
    installSignalHandlers() {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          void shutdown(signal).then(() => process.exit(0));
        });
      }
    },
  };
}

export type Shutdown = ReturnType<typeof createShutdown>;
