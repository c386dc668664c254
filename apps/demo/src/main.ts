import { readDemoEnv, runDemoWithService } from './demo';

/**
 * The first Ctrl-C cancels the job and lets the demo wait for the instance to be terminated (a
 * rented GPU must not outlive the demo); a second one quits at once.
 */
const interrupted = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    process.stdout.write(`\n${signal}: cancelling the demo job and waiting for its instance to go away (press Ctrl-C again to quit now)\n`);
    interrupted.abort();
  });
}

runDemoWithService(readDemoEnv(process.env, __dirname), { out: process.stdout, signal: interrupted.signal, env: process.env })
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
