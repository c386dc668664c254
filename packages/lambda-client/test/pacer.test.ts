import { createLocalPacer, findSlot, fitsWindow, type PacerLimits } from '../src';
import { maxInWindow, minGap } from './helpers';

const LIMITS: PacerLimits = {
  generalPerSecond: 3,
  launchMinIntervalMs: 100,
  launchPerMinute: 2,
  marginMs: 0,
  generalWindowMs: 50,
  launchWindowMs: 400,
};

describe('pacer slot search', () => {
  it('lets limit points into a window and refuses one more', () => {
    expect(fitsWindow([0, 10], 20, 3, 50)).toBe(true);
    expect(fitsWindow([0, 10, 20], 30, 3, 50)).toBe(false);
    expect(fitsWindow([0, 10, 20], 50, 3, 50)).toBe(true);
    // A gap between future reservations can be used.
    expect(fitsWindow([0, 200], 100, 1, 100)).toBe(true);
    expect(fitsWindow([0, 150], 100, 1, 100)).toBe(false);
  });

  it('never breaks a window, whatever order and kinds the reservations come in', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const general: number[] = [];
    const launches: number[] = [];
    let now = 0;
    for (let i = 0; i < 400; i += 1) {
      now += Math.floor(random() * 20);
      const kind = random() < 0.2 ? 'launch' : 'general';
      const slot = findSlot(now, general, launches, kind, LIMITS);
      expect(slot).toBeGreaterThanOrEqual(now);
      general.push(slot);
      general.sort((a, b) => a - b);
      if (kind === 'launch') {
        launches.push(slot);
        launches.sort((a, b) => a - b);
      }
    }
    expect(maxInWindow(general, LIMITS.generalWindowMs)).toBeLessThanOrEqual(LIMITS.generalPerSecond);
    expect(minGap(launches)).toBeGreaterThanOrEqual(LIMITS.launchMinIntervalMs);
    expect(maxInWindow(launches, LIMITS.launchWindowMs)).toBeLessThanOrEqual(LIMITS.launchPerMinute);
  });

  it('does not queue general requests behind launches reserved far ahead', () => {
    const pacer = createLocalPacer({ ...LIMITS, launchMinIntervalMs: 10_000 }, () => 1_000);
    pacer.reserve('launch');
    const secondLaunch = pacer.reserve('launch');
    expect(secondLaunch).toBe(11_000);
    expect(pacer.reserve('general')).toBe(1_000);
  });

  it('acquire() waits for the reserved slot', async () => {
    const pacer = createLocalPacer({ ...LIMITS, generalPerSecond: 1, generalWindowMs: 60 });
    const started = Date.now();
    await Promise.all([pacer.acquire('general'), pacer.acquire('general'), pacer.acquire('general')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
  });
});
