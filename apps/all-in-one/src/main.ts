import { exitOnStartupError } from '@inno-train/workflow';
import { parseAllInOneEnv } from './env';
import { startAllInOne, type StartedService } from './start';

function banner(service: StartedService): string {
  const { info, apiKey } = service;
  const lines = [
    '',
    '  inno-train is running',
    `  provider     ${info.provider === 'local' ? 'local (instances are folders under ' + service.dataDir + '/local-instances)' : 'lambda'}`,
    `  API          ${info.apiUrl}/v1`,
    apiKey
      ? `  API key      ${apiKey}${service.apiKeyCreated ? '   (generated now, kept in ' + service.dataDir + '/api-key)' : ''}`
      : '  API keys     as configured',
    `  Bull Board   ${info.bullBoardUrl}   (open it in a browser and log in with the API key)`,
    `  Console      ${info.apiUrl}/console   (jobs, live logs and loss curves; log in with any API key)`,
    `  S3           ${info.s3.endpoint ?? 'AWS'}  bucket ${info.s3.bucket}`,
    '',
    '  Try it:',
    `    curl -s -H "Authorization: Bearer ${apiKey ?? '<key>'}" ${info.apiUrl}/v1/jobs`,
    '    npm run demo',
    '',
    '  Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const env = parseAllInOneEnv(process.env);
  const service = await startAllInOne(env);
  // The banner is for the person at the terminal; the key is theirs (printed by design).
  process.stdout.write(`${banner(service)}\n`);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`\n  ${signal}: stopping...\n`);
      void service.shutdown(signal).then(() => process.exit(0));
    });
  }
}

main().catch(exitOnStartupError);
