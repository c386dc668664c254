import { Client } from 'ssh2';
import { generateSshKeyPair, startSshHost, type SshHost } from '../src';

/** Bounds every wait on the client side, so a regression fails fast instead of at jest's timeout. */
const DEADLINE_MS = 5_000;
/** How long an operation must stay unsettled to count as hanging. */
const HANGING_MS = 300;

interface Session {
  client: Client;
  /** Resolves when the SSH connection has closed, however that happened. */
  closed: Promise<void>;
}

interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

const keys = generateSshKeyPair();

function connect(host: SshHost): Promise<Session> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const closed = new Promise<void>((done) => client.once('close', () => done()));
    // After a kill ssh2 may report ECONNRESET besides closing; only a failure to connect matters.
    client.on('error', reject);
    client.once('ready', () => resolve({ client, closed }));
    client.connect({ host: host.ip, port: host.port, username: 'ubuntu', privateKey: keys.privateKey, readyTimeout: DEADLINE_MS });
  });
}

/** Rejects if `promise` has not settled within DEADLINE_MS, naming `what`. */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One command on its own channel; settles when the channel closes. */
function exec(session: Session, command: string, stdin = ''): Promise<ExecResult> {
  const result = new Promise<ExecResult>((resolve, reject) => {
    session.client.exec(command, (error, channel) => {
      if (error) return reject(error);
      const result: ExecResult = { stdout: '', stderr: '', code: null };
      channel.on('data', (chunk: Buffer) => (result.stdout += chunk.toString('utf8')));
      channel.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk.toString('utf8')));
      channel.on('exit', (code: number | null) => (result.code = code));
      channel.on('close', () => resolve(result));
      channel.end(stdin);
    });
  });
  return bounded(result, `exec ${JSON.stringify(command)}`);
}

/** Opens an SFTP session (one SSH session each time) and writes one file through it. */
function upload(session: Session, path: string, content: string): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    session.client.sftp((error, sftp) => {
      if (error) return reject(error);
      sftp.writeFile(path, content, (writeError) => {
        sftp.end();
        if (writeError) reject(writeError);
        else resolve();
      });
    });
  });
  return bounded(done, `SFTP upload of ${path}`);
}

/** True if `promise` settles (either way) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills the host and checks that the client sees its connection and the blocked operation end. */
async function killAndExpectClose(host: SshHost, session: Session, operation: Promise<unknown>): Promise<void> {
  await host.kill();
  expect(await settlesWithin(session.closed, DEADLINE_MS)).toBe(true);
  expect(await settlesWithin(operation, DEADLINE_MS)).toBe(true);
}

describe('SSH hosts with chaos', () => {
  let passthrough: SshHost;
  let execVictim: SshHost;
  let sftpVictim: SshHost;
  let pauseVictim: SshHost;
  let plain: SshHost;
  const sessions: Session[] = [];

  async function session(host: SshHost): Promise<Session> {
    const opened = await connect(host);
    sessions.push(opened);
    return opened;
  }

  beforeAll(async () => {
    const start = (ip: string, chaos: boolean) => startSshHost({ ip, authorizedKeys: [keys.publicKey], chaos });
    [passthrough, execVictim, sftpVictim, pauseVictim, plain] = await Promise.all([
      start('127.0.0.25', true),
      start('127.0.0.26', true),
      start('127.0.0.27', true),
      start('127.0.0.28', true),
      start('127.0.0.29', false),
    ]);
  });

  afterAll(async () => {
    for (const opened of sessions) opened.client.destroy();
    await Promise.all([passthrough, execVictim, sftpVictim, pauseVictim, plain].map((host) => host?.kill()));
  });

  it('without a rule passes stdin, stdout, stderr and the exit code through, and serves SFTP uploads', async () => {
    const ssh = await session(passthrough);
    expect(await exec(ssh, 'tr a-z A-Z; echo oops >&2; exit 7', 'hello\n')).toEqual({ stdout: 'HELLO\n', stderr: 'oops\n', code: 7 });
    await upload(ssh, '/home/ubuntu/uploaded.txt', 'via sftp\n');
    expect(await exec(ssh, 'cat ~/uploaded.txt')).toEqual({ stdout: 'via sftp\n', stderr: '', code: 0 });
    expect(passthrough.chaosFired()).toBe(false);
  });

  it('gives commands the same environment and parent (sshd) as a host without chaos', async () => {
    // The client's port differs per connection; everything else must be identical.
    const probe = 'echo "$0"; env | grep -v "^SSH_C" | sort; ps -o comm= -p "$PPID"';
    const [withChaos, without] = await Promise.all([session(passthrough), session(plain)]);
    const [chaosResult, plainResult] = await Promise.all([exec(withChaos, probe), exec(without, probe)]);
    expect(chaosResult.stdout).toContain('\nsshd\n');
    expect(chaosResult).toEqual(plainResult);
  });

  it('lets the first matching command of an exec rule with nth=2 through and blocks the second until the host dies', async () => {
    const ssh = await session(execVictim);
    // Counting starts when the rule is set and skips commands that do not match.
    expect((await exec(ssh, 'echo step-0')).stdout).toBe('step-0\n');
    await execVictim.setChaosRule({ kind: 'exec', pattern: '^echo step-', nth: 2 });
    expect((await exec(ssh, 'echo step-1')).stdout).toBe('step-1\n');
    expect((await exec(ssh, 'echo unrelated')).stdout).toBe('unrelated\n');
    expect(execVictim.chaosFired()).toBe(false);
    const blocked = exec(ssh, 'echo step-2');
    await execVictim.waitForChaos(DEADLINE_MS);
    expect(await settlesWithin(blocked, HANGING_MS)).toBe(false);
    // A rule fires once: later matching commands run normally.
    expect((await exec(ssh, 'echo step-3')).stdout).toBe('step-3\n');
    await killAndExpectClose(execVictim, ssh, blocked);
  });

  it('blocks the nth SFTP session of an sftp rule, while exec sessions are not counted', async () => {
    const ssh = await session(sftpVictim);
    await sftpVictim.setChaosRule({ kind: 'sftp', nth: 2 });
    await upload(ssh, '/home/ubuntu/first.txt', 'first\n');
    expect((await exec(ssh, 'cat ~/first.txt')).stdout).toBe('first\n');
    const blocked = upload(ssh, '/home/ubuntu/second.txt', 'second\n');
    await sftpVictim.waitForChaos(DEADLINE_MS);
    expect(await settlesWithin(blocked, HANGING_MS)).toBe(false);
    expect((await exec(ssh, 'test -e ~/second.txt; echo $?')).stdout).toBe('1\n');
    await killAndExpectClose(sftpVictim, ssh, blocked);
  });

  it('keeps the blocked operation hanging when the host is paused after the rule fired', async () => {
    const ssh = await session(pauseVictim);
    await pauseVictim.setChaosRule({ kind: 'exec', pattern: 'train' });
    const blocked = exec(ssh, 'echo train; exit 0');
    await pauseVictim.waitForChaos(DEADLINE_MS);
    await pauseVictim.pause();
    expect(await settlesWithin(Promise.race([blocked, ssh.closed]), HANGING_MS)).toBe(false);
    await killAndExpectClose(pauseVictim, ssh, blocked);
  });

  it('resets counting and the fired state when a rule is set again', async () => {
    const ssh = await session(passthrough);
    await passthrough.setChaosRule({ kind: 'exec', pattern: '^true$', nth: 2 });
    await exec(ssh, 'true');
    await passthrough.setChaosRule({ kind: 'exec', pattern: '^true$', nth: 2 });
    expect((await exec(ssh, 'true')).code).toBe(0);
    await passthrough.setChaosRule(null);
    expect((await exec(ssh, 'true')).code).toBe(0);
    expect(passthrough.chaosFired()).toBe(false);
  });

  it('rejects invalid rules and refuses chaos calls on a host started without chaos', async () => {
    await expect(passthrough.setChaosRule({ kind: 'exec', pattern: 'a(' })).rejects.toThrow(/Invalid chaos rule pattern/);
    await expect(passthrough.setChaosRule({ kind: 'sftp', nth: 0 })).rejects.toThrow(/positive integer/);
    expect(() => plain.chaosFired()).toThrow(/started without `chaos: true`/);
    await expect(plain.setChaosRule(null)).rejects.toThrow(/started without `chaos: true`/);
    await expect(plain.waitForChaos(10)).rejects.toThrow(/started without `chaos: true`/);
  });
});
