export { PUBLIC_REGION_CODES, type PublicRegionCode } from './regions';
export { DEFAULT_INSTANCE_TYPES, type CatalogInstanceType } from './instance-types';
