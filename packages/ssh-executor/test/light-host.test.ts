/**
 * test-kit's light host server (the scale benchmark's hosts) on loopback 127.0.22.x: exec, auth,
 * the executor's upload and kill, with ssh2's client and this executor as the orchestrator uses
 * them. It lives here, not in test-kit, because test-kit cannot depend on the executor (the
 * executor's tests depend on test-kit).
 */
import { Client, type ClientChannel } from 'ssh2';
import {
  acceptsTcp,
  generateSshKeyPair,
  instanceUid,
  processesOf,
  startLightHostServer,
  waitFor,
  type LightHostServer,
  type SshHost,
} from '@inno-train/test-kit';
import { SshExecutor } from '../src';

const keys = generateSshKeyPair();
const otherKeys = generateSshKeyPair();
let server: LightHostServer;
let executor: SshExecutor;
let hostCount = 0;

beforeAll(async () => {
  server = await startLightHostServer();
  executor = new SshExecutor({ commandTimeoutMs: 10_000 });
});

afterAll(async () => {
  await executor.close();
  await server.close();
});

async function newHost(): Promise<SshHost> {
  return server.startHost({ ip: `127.0.22.${10 + hostCount++}`, authorizedKeys: [keys.publicKey] });
}

const targetOf = (host: SshHost, privateKey = keys.privateKey) => ({ host: host.ip, port: host.port, username: 'ubuntu', privateKey });

function connect(host: SshHost): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({ host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey });
  });
}

test('runs a command through bash in its own home as its own uid, with stdout, stderr and the exit code', async () => {
  const host = await newHost();
  const result = await executor.exec(targetOf(host), 'echo "out $(id -u) $PWD $HOME"; echo err >&2; cat; exit 3', { stdin: 'in\n' });
  expect(result.exitCode).toBe(3);
  expect(result.stderr).toBe('err\n');
  const [first, second] = result.stdout.split('\n');
  const [, uid, pwd, home] = first!.split(' ');
  expect(Number(uid)).toBe(instanceUid(host.ip));
  expect(pwd).toBe(home);
  expect(second).toBe('in');
  expect(host.acceptedSessions()).toBe(1);
  await host.kill();
});

test('reports a command killed by a signal as exit-signal', async () => {
  const host = await newHost();
  const result = await executor.exec(targetOf(host), 'kill -KILL $$');
  expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  await host.kill();
});

test('refuses a key the instance was not launched with', async () => {
  const host = await newHost();
  await expect(executor.exec(targetOf(host, otherKeys.privateKey), 'true')).rejects.toMatchObject({ code: 'ssh_auth_failed' });
  expect(host.acceptedSessions()).toBe(0);
  expect(host.log()).toContain('not authorized');
  await host.kill();
});

test("serves the executor's atomic upload, relative to the home, replacing an existing file", async () => {
  const host = await newHost();
  const target = targetOf(host);
  await executor.exec(target, 'mkdir -p job/bin && echo old > job/bin/run.sh');
  await executor.upload(target, 'job/bin/run.sh', '#!/bin/sh\necho uploaded\n', 0o750);
  const result = await executor.exec(target, 'stat -c "%a %u" job/bin/run.sh; ./job/bin/run.sh; ls -A job/bin');
  expect(result.stdout).toBe(`750 ${instanceUid(host.ip)}\nuploaded\nrun.sh\n`);
  await host.kill();
});

test('a channel closed before its command ended kills the command', async () => {
  const host = await newHost();
  const uid = instanceUid(host.ip);
  await expect(executor.exec(targetOf(host), 'sleep 300', { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ssh_timeout' });
  await waitFor(() => processesOf(uid).length === 0, { timeoutMs: 5000, description: 'the sleep to be killed' });
  await host.kill();
});

test('kill() drops connections and ends detached background processes, and the address stops answering', async () => {
  const host = await newHost();
  const uid = instanceUid(host.ip);
  const result = await executor.exec(targetOf(host), 'nohup setsid sleep 300 >/dev/null 2>&1 </dev/null & echo started');
  expect(result.stdout).toBe('started\n');
  // The runner outlives the channel, as on a real host.
  await waitFor(() => processesOf(uid).length === 1, { timeoutMs: 5000, description: 'the detached sleep to run alone' });
  const client = await connect(host);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.on('error', () => undefined);
  const channel = await new Promise<ClientChannel>((resolve, reject) =>
    client.exec('sleep 300', (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  channel.on('data', () => undefined);
  await host.kill();
  await closed;
  expect(processesOf(uid)).toEqual([]);
  expect(host.isAlive()).toBe(false);
  expect(await acceptsTcp(host.ip, host.port)).toBe(false);
});
