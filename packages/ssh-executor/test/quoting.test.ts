import { SshExecutor, shellQuote } from '../src';
import { startFixture, type Fixture } from './helpers';

/** Strings that would run code, split words or expand if they reached the shell unquoted. */
const CANARY = '~/canary';
const HOSTILE: Array<[string, string]> = [
  ['empty', ''],
  ['space', 'two words'],
  ['single quote', "it's"],
  ['quote breakout', `'; touch ${CANARY}; '`],
  ['double quote breakout', `"; touch ${CANARY}; "`],
  ['command substitution', `$(touch ${CANARY})`],
  ['backticks', `\`touch ${CANARY}\``],
  ['semicolon', `; touch ${CANARY}`],
  ['and/or/pipe/background', `&& touch ${CANARY} || touch ${CANARY} | touch ${CANARY} & touch ${CANARY}`],
  ['redirection', `> ${CANARY} < /etc/passwd 2>&1`],
  ['newline injection', `line one\ntouch ${CANARY}\n`],
  ['carriage return and tab', 'a\r\nb\tc'],
  ['variables and arithmetic', '$HOME ${HOME} $((1+1)) $IFS ${IFS}x $0 $$ $@'],
  ['globs and tilde', '* ?.txt [a-z]* ~ ~root /*'],
  ['history and braces', '!! !$ {a,b} {1..3}'],
  ['backslashes', '\\ \\\\ \\n trailing\\'],
  ['leading dashes', '-n'],
  ['double dash', '--'],
  ['printf format', '%s %d %n %%'],
  ['process substitution', `<(touch ${CANARY}) >(touch ${CANARY})`],
  ['unicode', 'héllo wörld — 世界 🚀 עברית ‮rtl‬ ​zero-width'],
  ['only quotes', `'''""'"'"`],
  ['10k characters', `'$(touch ${CANARY})\`x\`"; ünï 🚀\n`.repeat(400).slice(0, 10_000)],
];

describe('shellQuote through a real remote shell', () => {
  const ssh = new SshExecutor();
  let fx: Fixture;

  beforeAll(async () => {
    fx = await startFixture('127.0.0.54');
  });

  afterAll(async () => {
    await ssh.close();
    await fx?.host.kill();
  });

  it.each(HOSTILE)('%s arrives byte-identical', async (_name, value) => {
    const result = await ssh.exec(fx.target, `printf %s ${shellQuote(value)}`);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(Buffer.from(result.stdout, 'utf8').equals(Buffer.from(value, 'utf8'))).toBe(true);
  });

  it('carries all of them at once as separate arguments', async () => {
    const values = HOSTILE.map(([, value]) => value);
    const result = await ssh.exec(fx.target, `printf '%s\\0' ${values.map(shellQuote).join(' ')}`);
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(values);
  });

  it('never ran any of the injected commands', async () => {
    const result = await ssh.exec(fx.target, `ls -A ~; test -e ${CANARY}; echo "canary=$?"`);
    expect(result.stdout).toBe('.ssh\ncanary=1\n');
  });

  it('refuses NUL, which no shell argument can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
