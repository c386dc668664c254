#!/usr/bin/env node
/**
 * postinstall: makes ssh2's native crypto binding (and cpu-features) load under the Node the
 * project runs on.
 *
 * Why: the project runs Node 24 (its `node` devDependency, first on the PATH of every npm script),
 * but `npm ci` on a machine whose own node is another major builds native add-ons against that
 * node's headers. Node 24 then refuses the binding ("Module did not self-register") and ssh2 falls
 * back to JavaScript crypto: every SSH call is about twice as slow, and an SFTP upload of a few bytes
 * takes ~400 ms instead of ~5 ms (measured with OpenSSH 9.2 on loopback).
 *
 * What: when the binding does not load in this process, fetch this Node's headers from the npm
 * registry (the `node-<platform>-<arch>` package the `node` devDependency installs from carries
 * `include/node`), and `npm rebuild` the two add-ons against them. It never fails the install:
 * ssh2 works without the binding, only slower, and this says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));
const BINDING = 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node';

function bindingLoads() {
  try {
    require(BINDING);
    return true;
  } catch {
    return false;
  }
}

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${(result.stderr || result.stdout || '').trim().slice(-800)}`);
  return result.stdout;
}

/** A folder with this Node's `include/node`, fetched once into node_modules/.cache. */
function nodeHeaders() {
  const version = process.versions.node;
  const dir = join(root, 'node_modules', '.cache', 'node-headers', `v${version}`);
  if (existsSync(join(dir, 'include', 'node', 'node_version.h'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run('npm', ['pack', `node-${process.platform}-${process.arch}@${version}`, '--silent', '--pack-destination', dir], dir);
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack left no tarball');
  run('tar', ['-xzf', tarball, '--strip-components=1', 'package/include'], dir);
  rmSync(join(dir, tarball));
  return dir;
}

function main() {
  if (!existsSync(join(root, 'node_modules', 'ssh2')) || bindingLoads()) return;
  try {
    const headers = nodeHeaders();
    run('npm', ['rebuild', 'ssh2', 'cpu-features', `--nodedir=${headers}`], root);
  } catch (error) {
    console.warn(`native-addons: could not build ssh2's crypto binding for Node ${process.versions.node}: ${error.message}`);
  }
  // A binding that failed to load stays in require's cache as a failure: ask a fresh process.
  const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(root, 'node_modules', BINDING))})`], { stdio: 'ignore' });
  console.log(
    check.status === 0
      ? `native-addons: ssh2's crypto binding built for Node ${process.versions.node}`
      : `native-addons: ssh2 runs without its crypto binding on Node ${process.versions.node} (SSH calls are slower)`,
  );
}

main();
