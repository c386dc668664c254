import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isTerminal,
  JOB_ERROR_CODES,
  JOB_STATUSES,
  parseStepState,
  QUEUES,
  RUNNING_STATUSES,
  STAGE_NAMES_IN_ORDER,
  STAGES,
  stageOfQueue,
  stageOfStatus,
  stateDiagram,
  STEP_SCHEMAS,
  TRANSITIONS,
} from '../src';

describe('the workflow catalog', () => {
  it('gives every stage one queue of its own, and finds the stage back from it', () => {
    const queues = STAGE_NAMES_IN_ORDER.map((stage) => STAGES[stage].queue);
    expect(new Set(queues).size).toBe(queues.length);
    for (const stage of STAGE_NAMES_IN_ORDER) expect(stageOfQueue(QUEUES[stage])).toBe(stage);
  });

  it('carries every running status on a stage, and no final one', () => {
    for (const status of RUNNING_STATUSES) expect(stageOfStatus(status)).not.toBeNull();
    expect(JOB_STATUSES.filter((status) => !isTerminal(status))).toEqual([...RUNNING_STATUSES]);
  });

  it("declares each stage's way forward as a transition out of its status", () => {
    for (const stage of STAGE_NAMES_IN_ORDER) {
      const { status, next } = STAGES[stage];
      if (!status || !next) continue;
      expect(Object.values(TRANSITIONS).some((t) => (t.from as readonly string[]).includes(status) && t.to === next)).toBe(true);
    }
  });

  it('gives up only with codes from the closed set', () => {
    for (const stage of STAGE_NAMES_IN_ORDER) {
      const code = STAGES[stage].giveUp;
      if (code !== null) expect(JOB_ERROR_CODES).toContain(code);
    }
  });

  it('lets every running status fail and be cancelled', () => {
    expect([...TRANSITIONS.fail.from]).toEqual([...RUNNING_STATUSES]);
    expect([...TRANSITIONS.cancel.from]).toEqual([...RUNNING_STATUSES]);
  });

  it("parses a stage's step state: empty at first, unknown keys dropped, wrong types refused", () => {
    for (const stage of STAGE_NAMES_IN_ORDER) {
      expect(STAGES[stage].step).toBe(STEP_SCHEMAS[stage]);
      expect(STEP_SCHEMAS[stage].parse({})).toEqual({});
    }
    expect(parseStepState('training', { offset: 12, gonePolls: 1 })).toEqual({ offset: 12 });
    expect(() => parseStepState('staging_in', { restarts: 'three' })).toThrow();
    expect(() => parseStepState('training', { killing: 'bored' })).toThrow();
  });

  it('is drawn in docs/architecture.md as it is now (run `npm run docs:diagram` after changing it)', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'architecture.md'), 'utf8');
    expect(doc).toContain(`\`\`\`mermaid\n${stateDiagram()}\n\`\`\``);
  });
});
