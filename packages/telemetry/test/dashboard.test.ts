import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRICS } from '../src';

const DASHBOARD = join(__dirname, '..', '..', '..', 'deploy', 'grafana', 'inno-train.json');

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

describe('the Grafana dashboard (deploy/grafana/inno-train.json)', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: Panel[] };
  const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

  it('is a dashboard with PromQL panels', () => {
    expect(dashboard.uid).toBe('inno-train');
    expect(exprs.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row'))
      expect([panel.title, panel.targets?.length ?? 0]).not.toEqual([panel.title, 0]);
  });

  it('reads every metric inno-train serves, and only those (a renamed metric breaks this test, not the dashboard)', () => {
    const known = new Set(
      Object.values(METRICS).flatMap((def) => [def.name, `${def.name}_bucket`, `${def.name}_count`, `${def.name}_sum`]),
    );
    const used = new Set(exprs.flatMap((expr) => expr.match(/\binno_[a-z_]+/g) ?? []));
    expect([...used].filter((name) => !known.has(name))).toEqual([]);
    const read = Object.values(METRICS).filter((def) => ![...used].some((name) => name.startsWith(def.name)));
    expect(read.map((def) => def.name)).toEqual([]);
  });

  it('counts the Redis gauges once however many API replicas serve them (max, never a bare sum)', () => {
    for (const expr of exprs.filter((e) => /inno_(jobs|queue_jobs|instances)\b/.test(e))) {
      expect(expr).toMatch(/max( by \([a-z, ]+\) )?\(inno_(jobs|queue_jobs|instances)/);
    }
  });
});
