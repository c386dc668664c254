import type { Logger } from '@inno-train/core';
import { createLambdaClient, createRedisPacer, type LambdaClient, type LambdaClientOptions } from '@inno-train/lambda-client';
import type { Redis } from 'ioredis';
import { ensureSshKeyName, publicKeyOf } from './ssh-key';

export interface LambdaSetupConfig {
  INNO_NAMESPACE: string;
  LAMBDA_API_URL: string;
  LAMBDA_API_KEY: string;
  LAMBDA_SSH_KEY_NAME?: string | undefined;
  LAMBDA_REQUESTS_PER_SECOND: number;
  LAMBDA_LAUNCH_MIN_INTERVAL_MS: number;
  LAMBDA_LAUNCHES_PER_MINUTE: number;
  LAMBDA_PACE_MARGIN_MS: number;
}

/**
 * The Lambda client every provisioner uses, paced through Redis (Lambda's limits are per account,
 * so every replica must share them), and the SSH key name to launch with.
 */
export async function setUpLambda(
  config: LambdaSetupConfig,
  redis: Redis,
  identity: { privateKey: string; passphrase?: string },
  logger: Logger,
  onRequest?: LambdaClientOptions['onRequest'],
): Promise<{ lambda: LambdaClient; sshKeyName: string }> {
  const lambda = createLambdaClient({
    baseUrl: config.LAMBDA_API_URL,
    apiKey: config.LAMBDA_API_KEY,
    pacer: createRedisPacer(redis, {
      prefix: `${config.INNO_NAMESPACE}:lambda-pace`,
      generalPerSecond: config.LAMBDA_REQUESTS_PER_SECOND,
      launchMinIntervalMs: config.LAMBDA_LAUNCH_MIN_INTERVAL_MS,
      launchPerMinute: config.LAMBDA_LAUNCHES_PER_MINUTE,
      marginMs: config.LAMBDA_PACE_MARGIN_MS,
    }),
    logger,
    onRequest,
  });
  const publicKey = publicKeyOf(identity.privateKey, identity.passphrase);
  const sshKeyName = await ensureSshKeyName(lambda, publicKey, config.LAMBDA_SSH_KEY_NAME, logger);
  return { lambda, sshKeyName };
}
