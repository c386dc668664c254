import { DEFAULT_INSTANCE_TYPES, PUBLIC_REGION_CODES } from '../src';

describe('cloud catalog', () => {
  it('lists each region code once', () => {
    expect(new Set(PUBLIC_REGION_CODES).size).toBe(PUBLIC_REGION_CODES.length);
  });

  it('names each instance type once, as Lambda spells them', () => {
    const names = DEFAULT_INSTANCE_TYPES.map((type) => type.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^gpu_\d+x_[a-z0-9_]+$/);
  });

  it('offers capacity only in regions Lambda accepts', () => {
    const regions: readonly string[] = PUBLIC_REGION_CODES;
    for (const type of DEFAULT_INSTANCE_TYPES) {
      expect(Object.keys(type.capacity).length).toBeGreaterThan(0);
      for (const region of Object.keys(type.capacity)) expect(regions).toContain(region);
    }
  });

  it('gives the GPU count in the name and in the specs alike', () => {
    for (const type of DEFAULT_INSTANCE_TYPES) expect(type.name).toMatch(new RegExp(`^gpu_${type.specs.gpus}x_`));
  });
});
