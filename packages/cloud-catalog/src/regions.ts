/** Region codes Lambda's API accepts (the spec's `PublicRegionCode`); launches elsewhere are invalid parameters. */
export const PUBLIC_REGION_CODES = [
  'europe-central-1',
  'asia-south-1',
  'australia-east-1',
  'me-west-1',
  'asia-northeast-1',
  'asia-northeast-2',
  'us-east-1',
  'us-west-2',
  'us-west-1',
  'us-south-1',
  'us-west-3',
  'us-midwest-1',
  'us-east-2',
  'us-south-2',
  'us-south-3',
  'us-east-3',
  'us-midwest-2',
] as const;

export type PublicRegionCode = (typeof PUBLIC_REGION_CODES)[number];
