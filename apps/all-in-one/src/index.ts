export { startAllInOne, type StartedService } from './start';
export { parseAllInOneEnv, type AllInOneEnv } from './env';
export { ensureRedis } from './redis-bootstrap';
export { repoRoot, type RuntimeInfo } from './data-dir';
