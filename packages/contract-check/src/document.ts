/**
 * The parts of an OpenAPI 3.1 document the check reads. The document is either built in the same
 * process (apps/api's tests) or fetched from a running API (the pipeline tests), so it is `unknown`
 * until `parseOpenApiDocument` has looked at it.
 */

/** Every method an OpenAPI path item can hold. */
export const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type OpenApiMethod = (typeof OPENAPI_METHODS)[number];

export interface OpenApiHeaderLike {
  required?: boolean;
}

export interface OpenApiResponseLike {
  headers?: Record<string, OpenApiHeaderLike>;
  /** Media type to body schema; absent for answers without a body (204, a redirect). */
  content?: Record<string, unknown>;
}

export interface OpenApiOperationLike {
  responses: Record<string, OpenApiResponseLike>;
}

/**
 * What the check needs of a document. Structural, so apps/api's own `OpenApiDocument` type fits
 * without this package knowing it (a library never imports an app).
 */
export interface OpenApiDocumentLike {
  openapi: string;
  paths: Record<string, object>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The operation at `paths[template][method]`, if the document has one. */
export function operationOf(doc: OpenApiDocumentLike, template: string, method: string): OpenApiOperationLike | undefined {
  const item = doc.paths[template] as Record<string, unknown> | undefined;
  const operation = item?.[method];
  return isRecord(operation) && isRecord(operation.responses) ? (operation as unknown as OpenApiOperationLike) : undefined;
}

/** The methods a path item documents, upper case. */
export function methodsOf(doc: OpenApiDocumentLike, template: string): string[] {
  return OPENAPI_METHODS.filter((method) => operationOf(doc, template, method)).map((method) => method.toUpperCase());
}

/** `METHOD /template` of every operation in the document. */
export function operationsOf(doc: OpenApiDocumentLike): string[] {
  return Object.keys(doc.paths).flatMap((template) => methodsOf(doc, template).map((method) => `${method} ${template}`));
}

/** A document as served (parsed JSON): an OpenAPI 3.1 object with paths, or an error saying what it is instead. */
export function parseOpenApiDocument(value: unknown): OpenApiDocumentLike {
  if (!isRecord(value)) throw new Error(`the OpenAPI document is not an object: ${JSON.stringify(value)?.slice(0, 200)}`);
  if (typeof value.openapi !== 'string' || !value.openapi.startsWith('3.1.')) {
    throw new Error(`the OpenAPI document is not OpenAPI 3.1 (openapi: ${JSON.stringify(value.openapi)})`);
  }
  if (!isRecord(value.paths)) throw new Error('the OpenAPI document has no paths object');
  for (const [template, item] of Object.entries(value.paths)) {
    if (!isRecord(item)) throw new Error(`the OpenAPI document's path ${template} is not an object`);
  }
  return value as unknown as OpenApiDocumentLike;
}
