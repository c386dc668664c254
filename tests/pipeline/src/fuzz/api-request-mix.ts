/**
 * The mix of a fuzz run: which request goes in which slot. A few fixed slots carry the jobs that
 * may start or that probe what the schema lets through; every other slot draws a category.
 */
import {
  deepConfigJob,
  deepJob,
  malformedJson,
  missingInputJob,
  mutatedJob,
  nulEnvJob,
  validJob,
  wrongContentType,
  wrongShapeJob,
} from './api-job-requests';
import type { FuzzRequest, RequestSource } from './api-request';
import { badAuth, idRoute, listQuery, randomRoute } from './api-route-requests';

/** Slots that carry a fixed kind of request instead of a drawn one. */
export interface SpecialSlots {
  requests: Map<number, () => FuzzRequest>;
  /** How many of them carry a valid job (each must be accepted). */
  validJobs: number;
}

/** Nesting depths of the config probes: the schema allows at most 32 levels. */
const DEEP_CONFIG_DEPTHS = [200, 1_000, 3_000, 5_000, 20_000, 200_000];

export function planSpecialSlots(r: RequestSource, total: number, validJobs: number): SpecialSlots {
  const requests = new Map<number, () => FuzzRequest>();
  const freeSlot = (from: number, to: number) => {
    let slot = r.int(from, to - 1);
    while (requests.has(slot)) slot = r.int(from, to - 1);
    return slot;
  };
  // Valid jobs in the last 45% of the run, so that (sleeping 60 s) they are still running at the end.
  for (let i = 0; i < Math.min(validJobs, total); i++) requests.set(freeSlot(Math.floor(total * 0.55), total), () => validJob(r));
  const validSlots = requests.size;
  // The jobs that probe what the schema lets through, early: they have time to meet their fate.
  for (const depth of DEEP_CONFIG_DEPTHS) requests.set(freeSlot(0, Math.floor(total * 0.3)), () => deepConfigJob(r, depth));
  requests.set(freeSlot(0, Math.floor(total * 0.3)), () => nulEnvJob(r));
  return { requests, validJobs: validSlots };
}

/** The request for slot `index`: a few fixed slots carry the jobs that may start, spread over the run. */
export function generate(r: RequestSource, index: number, special: SpecialSlots): FuzzRequest {
  const fixed = special.requests.get(index);
  if (fixed) return fixed();
  const roll = r.next();
  if (roll < 0.3) return mutatedJob(r);
  if (roll < 0.34) return deepJob(r);
  if (roll < 0.4) return missingInputJob(r);
  if (roll < 0.46) return wrongShapeJob(r);
  if (roll < 0.53) return malformedJson(r);
  if (roll < 0.58) return wrongContentType(r);
  if (roll < 0.68) return listQuery(r);
  if (roll < 0.8) return idRoute(r);
  if (roll < 0.93) return randomRoute(r);
  return badAuth(r);
}
