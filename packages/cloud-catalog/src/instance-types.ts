/** One instance type as Lambda describes it, with how many more may launch in each region. */
export interface CatalogInstanceType {
  /** Lambda's type name, e.g. `gpu_1x_a10`. */
  name: string;
  description: string;
  gpuDescription: string;
  priceCentsPerHour: number;
  specs: { vcpus: number; memory_gib: number; storage_gib: number; gpus: number };
  /** Region name -> how many more instances of this type may launch there. */
  capacity: Record<string, number>;
}

/**
 * A small catalog shaped like Lambda's: what the local provider offers, and the simulator's
 * instance types when its caller gives none.
 */
export const DEFAULT_INSTANCE_TYPES: readonly CatalogInstanceType[] = [
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
