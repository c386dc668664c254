import { spawnSync } from 'node:child_process';

export interface RenderedPlan {
  mode: string;
  connections: number;
  files?: { relPath: string; url: string; size: number; partSize: number; md5?: string; sha256?: string }[];
  uploads?: { kind: string; relPath: string; url?: string; partSize?: number; parts?: { partNumber: number; url: string }[] }[];
}

/** The plan a rendered transfer script hands its engine, as bash itself reads the data block. */
export function planOf(script: string): RenderedPlan {
  const data = script.slice(0, script.indexOf('# ---- end of data ----'));
  const run = spawnSync('bash', ['-c', `${data}\nprintf '%s' "$PLAN_JSON"`], { encoding: 'utf8' });
  return JSON.parse(run.stdout) as RenderedPlan;
}
