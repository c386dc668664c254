import { DEFAULT_INSTANCE_TYPES, PUBLIC_REGION_CODES } from '@inno-train/cloud-catalog';

// The catalog itself lives in @inno-train/cloud-catalog, production code (the local provider offers
// the same types); the simulator uses it and re-exports it.
export { DEFAULT_INSTANCE_TYPES, PUBLIC_REGION_CODES };

// The spec only shows us-west-1's description; the others fall back to the code itself rather
// than to a guess that could be wrong.
const REGION_DESCRIPTIONS: Record<string, string> = { 'us-west-1': 'California, USA' };

export function regionOf(name: string): { name: string; description: string } {
  return { name, description: REGION_DESCRIPTIONS[name] ?? name };
}
