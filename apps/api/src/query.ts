import type { Request } from 'express';
import type { z } from 'zod';
import { HttpError } from './http-error';
import { validationDetails } from './submit';

/** A route's query by its schema; anything invalid or unknown answers 400 naming each parameter. */
export function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.output<T> {
  const query = schema.safeParse(req.query);
  if (!query.success) throw new HttpError(400, 'invalid_request', 'Invalid query', validationDetails(query.error));
  return query.data;
}
