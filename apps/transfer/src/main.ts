import { loadSshIdentity, logEnv, parseEnv, redisEnv, sshExecutorSettings, s3Env, sshEnv, workerEnv } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createS3Storage } from '@inno-train/storage';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { transferBindings } from './index';

function main(): void {
  const env = parseEnv({ ...redisEnv, ...s3Env, ...sshEnv, ...logEnv, ...workerEnv }, process.env);
  const runtime = createWorkerRuntime({ name: 'transfer', ...env, secrets: [env.SSH_KEY_PASSPHRASE, env.AWS_SECRET_ACCESS_KEY] });
  runtime.shutdown.installSignalHandlers();
  const storage = createS3Storage({
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    credentials: env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : undefined,
  });
  const deps = { store: runtime.store, queues: runtime.queues, storage, shell: new SshExecutor({ ...sshExecutorSettings(env), onSession: runtime.logSshSession }), identity: loadSshIdentity(env), timings: runtime.timings };
  runtime.startWorkers(transferBindings(deps));
}

try {
  main();
} catch (error) {
  exitOnStartupError(error);
}
