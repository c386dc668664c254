import type { SimInstanceType } from './types';

/** Region codes the spec accepts (`PublicRegionCode`); launches elsewhere are invalid parameters. */
export const PUBLIC_REGION_CODES = [
  'europe-central-1', 'asia-south-1', 'australia-east-1', 'me-west-1', 'asia-northeast-1', 'asia-northeast-2',
  'us-east-1', 'us-west-2', 'us-west-1', 'us-south-1', 'us-west-3', 'us-midwest-1', 'us-east-2', 'us-south-2',
  'us-south-3', 'us-east-3', 'us-midwest-2',
] as const;

// The spec only shows us-west-1's description; the others fall back to the code itself rather
// than to a guess that could be wrong.
const REGION_DESCRIPTIONS: Record<string, string> = { 'us-west-1': 'California, USA' };

export function regionOf(name: string): { name: string; description: string } {
  return { name, description: REGION_DESCRIPTIONS[name] ?? name };
}

/** A small catalog shaped like Lambda's, used when the caller gives none. */
export const DEFAULT_INSTANCE_TYPES: readonly SimInstanceType[] = [
  {
    name: 'gpu_1x_a10',
    description: '1x A10 (24 GB PCIe)',
    gpuDescription: 'A10 (24 GB PCIe)',
    priceCentsPerHour: 75,
    specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 },
    capacity: { 'us-west-1': 4, 'us-east-1': 4 },
  },
  {
    name: 'gpu_1x_a100_sxm4',
    description: '1x A100 (40 GB SXM4)',
    gpuDescription: 'A100 (40 GB SXM4)',
    priceCentsPerHour: 129,
    specs: { vcpus: 30, memory_gib: 200, storage_gib: 512, gpus: 1 },
    capacity: { 'us-east-1': 2 },
  },
  {
    name: 'gpu_8x_h100_sxm5',
    description: '8x H100 (80 GB SXM5)',
    gpuDescription: 'H100 (80 GB SXM5)',
    priceCentsPerHour: 2392,
    specs: { vcpus: 208, memory_gib: 1800, storage_gib: 24780, gpus: 8 },
    capacity: { 'us-south-1': 1 },
  },
];
