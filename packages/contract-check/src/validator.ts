/**
 * Checks one HTTP answer against the OpenAPI document: the status is one the operation lists, the
 * media type is the documented one, the body is valid against the documented schema (ajv, JSON
 * Schema 2020-12, the document's own dialect) and required headers are there. apps/api's tests run
 * it on every answer supertest receives; the pipeline tests on every answer fetch receives from a
 * running stack.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { methodsOf, operationOf, type OpenApiDocumentLike, type OpenApiResponseLike } from './document';

/** One request and its answer, as a test received it. */
export interface Exchange {
  method: string;
  /** The request path as sent (percent-encoded), without the query. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or the text of any other answer. */
  body: unknown;
  /** Why a body sent as JSON could not be parsed (then `body` is its text). */
  bodyError?: string;
}

export type Verdict =
  /** Not an answer the document speaks for (admin pages, CORS preflights). */
  | { outcome: 'outside' }
  /** Checked; `operation` is `METHOD /template`, or `unrouted` for a path or method the API does not have. */
  | { outcome: 'checked'; operation: string; problems: string[] };

export type ContractValidator = (exchange: Exchange) => Verdict;

const DOCUMENT_ID = 'urn:inno-train:openapi';
/**
 * Keywords ajv must accept without a definition: the document's top-level fields (ajv holds the
 * whole document as one schema, so it can resolve `#/components/...` and `#/paths/...` pointers in
 * it) and the OpenAPI-only annotations a Schema Object may carry.
 */
const OPENAPI_KEYWORDS = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'webhooks',
  'components',
  'security',
  'tags',
  'externalDocs',
  'example',
  'discriminator',
  'xml',
];

/** Paths the document covers: the /v1 API and the health probes. Bull Board and /admin pages are HTML outside it. */
export const isDocumentedPath = (path: string) =>
  path === '/healthz' || path === '/livez' || path === '/readyz' || path === '/v1' || path.startsWith('/v1/');

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

function templateMatches(template: string, path: string): boolean {
  const want = template.split('/');
  const got = path.split('/');
  return want.length === got.length && want.every((segment, i) => (/^\{.+\}$/.test(segment) ? got[i] !== '' : segment === got[i]));
}

/**
 * Whether a template ending in a path parameter matches a path with more segments, the last
 * parameter taking the rest, slashes included. OpenAPI has no syntax for that (a parameter is one
 * segment), so it applies only to a trailing parameter whose documented schema admits the rest:
 * a string without a pattern (apps/api's output `{path}`, routed by Express as `*path`), or one
 * whose pattern matches. A job id's pattern keeps `/v1/jobs/{id}` from swallowing `/v1/jobs/x/y`.
 */
function trailingParameterMatches(doc: OpenApiDocumentLike, template: string, path: string): boolean {
  const want = template.split('/');
  const got = path.split('/');
  const name = /^\{(.+)\}$/.exec(want[want.length - 1]!)?.[1];
  if (!name || got.length <= want.length || !templateMatches(want.slice(0, -1).join('/'), got.slice(0, want.length - 1).join('/'))) {
    return false;
  }
  let rest: string;
  try {
    rest = got
      .slice(want.length - 1)
      .map((segment) => decodeURIComponent(segment))
      .join('/');
  } catch {
    return false;
  }
  const schemas = pathParameterSchemas(doc, template, name);
  return (
    rest !== '' &&
    schemas.length > 0 &&
    schemas.every(
      (schema) => schema.type === 'string' && (typeof schema.pattern !== 'string' || new RegExp(schema.pattern, 'u').test(rest)),
    )
  );
}

/** The schemas a path item gives its parameter `name`, at the path item's level and in each operation. */
function pathParameterSchemas(doc: OpenApiDocumentLike, template: string, name: string): Record<string, unknown>[] {
  const item = doc.paths[template] as Record<string, unknown>;
  const lists = [item.parameters, ...Object.values(item).map((operation) => (operation as { parameters?: unknown } | null)?.parameters)];
  return lists
    .flatMap((list) => (Array.isArray(list) ? (list as unknown[]) : []))
    .filter((p): p is { name: string; in: string; schema: Record<string, unknown> } => {
      const parameter = p as { name?: unknown; in?: unknown; schema?: unknown } | null;
      return parameter?.in === 'path' && parameter.name === name && typeof parameter.schema === 'object' && parameter.schema !== null;
    })
    .map((parameter) => parameter.schema);
}

/** The documented template for a path; literal segments win over parameters (as Express's order does here). */
function findTemplate(doc: OpenApiDocumentLike, path: string): string | undefined {
  const literals = (template: string) => template.split('/').filter((s) => !s.startsWith('{')).length;
  const templates = Object.keys(doc.paths);
  const exact = templates.filter((template) => templateMatches(template, path));
  const candidates = exact.length > 0 ? exact : templates.filter((template) => trailingParameterMatches(doc, template, path));
  return candidates.sort((a, b) => literals(b) - literals(a))[0];
}

export const mediaTypeOf = (headers: Exchange['headers']) =>
  String(headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
    const allowed = e.keyword === 'enum' ? ` ${JSON.stringify(e.params.allowedValues)}` : '';
    return `${e.instancePath || '(body)'} ${e.message ?? e.keyword}${extra}${allowed}`;
  });
}

export function createContractValidator(doc: OpenApiDocumentLike): ContractValidator {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addVocabulary([...OPENAPI_KEYWORDS, ...Object.keys(doc).filter((key) => key.startsWith('x-'))]);
  ajv.addSchema({ ...doc, $id: DOCUMENT_ID });
  const compiled = new Map<string, ValidateFunction>();
  const validatorAt = (pointer: string) => {
    let validate = compiled.get(pointer);
    if (!validate) compiled.set(pointer, (validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` })));
    return validate;
  };

  function checkBody(response: OpenApiResponseLike, pointer: string, exchange: Exchange): string[] {
    const mediaType = mediaTypeOf(exchange.headers);
    if (!response.content) {
      const empty =
        exchange.body === undefined ||
        exchange.body === '' ||
        (typeof exchange.body === 'object' && exchange.body !== null && Object.keys(exchange.body).length === 0);
      return empty ? [] : [`a body was sent (${mediaType || 'no content-type'}) where the document has none`];
    }
    if (!(mediaType in response.content)) {
      return [`content-type ${JSON.stringify(mediaType)} is not documented (${Object.keys(response.content).join(', ')})`];
    }
    if (exchange.method.toUpperCase() === 'HEAD') return [];
    if (exchange.bodyError) return [`the body is not ${mediaType}: ${exchange.bodyError}`];
    const validate = validatorAt(`${pointer}/content/${escapePointer(mediaType)}/schema`);
    return validate(exchange.body) ? [] : describeErrors(validate.errors);
  }

  function checkHeaders(response: OpenApiResponseLike, exchange: Exchange): string[] {
    return Object.entries(response.headers ?? {})
      .filter(([name, header]) => header.required && exchange.headers[name.toLowerCase()] === undefined)
      .map(([name]) => `required header ${name} is missing`);
  }

  /** A path the API does not have, or a method a documented path does not take: an error, never a 2xx. */
  function checkUnrouted(exchange: Exchange, template: string | undefined): string[] {
    const problems: string[] = [];
    if (exchange.status < 400) problems.push(`${exchange.status} from an operation the document does not have`);
    if (exchange.status === 405 && template) {
      const documented = methodsOf(doc, template);
      const allow = [...new Set([...documented, ...(documented.includes('GET') ? ['HEAD'] : [])])].sort().join(', ');
      const sent = String(exchange.headers.allow ?? '')
        .split(/,\s*/)
        .sort()
        .join(', ');
      if (sent !== allow) problems.push(`Allow is ${JSON.stringify(sent)}, the document has ${JSON.stringify(allow)}`);
    }
    if (exchange.status >= 400 && mediaTypeOf(exchange.headers) === 'application/json') {
      // HEAD answers carry the headers of the error, not its body.
      if (exchange.method.toUpperCase() === 'HEAD') return problems;
      if (exchange.bodyError) problems.push(`the body is not JSON: ${exchange.bodyError}`);
      else {
        const validate = validatorAt('/components/schemas/Error');
        if (!validate(exchange.body)) problems.push(...describeErrors(validate.errors));
      }
    } else if (exchange.status >= 400) problems.push('an error answer without a JSON error body');
    return problems;
  }

  return (exchange) => {
    const method = exchange.method.toLowerCase();
    // Express (non-strict routing) answers `/v1/jobs/` as `/v1/jobs`, but not `/v1/jobs//`.
    const path = exchange.path.length > 1 ? exchange.path.replace(/\/$/, '') : exchange.path;
    if (!isDocumentedPath(path) || method === 'options') return { outcome: 'outside' };
    const template = findTemplate(doc, path);
    // Express answers HEAD with the GET route, unless the document has a HEAD of its own.
    const documentedMethod = method === 'head' && template && !operationOf(doc, template, 'head') ? 'get' : method;
    const operation = template ? operationOf(doc, template, documentedMethod) : undefined;
    if (!template || !operation) return { outcome: 'checked', operation: 'unrouted', problems: checkUnrouted(exchange, template) };
    const name = `${documentedMethod.toUpperCase()} ${template}`;
    const response = operation.responses[String(exchange.status)];
    if (!response) {
      return {
        outcome: 'checked',
        operation: name,
        problems: [`status ${exchange.status} is not documented (${Object.keys(operation.responses).join(', ')})`],
      };
    }
    const pointer = `/paths/${escapePointer(template)}/${documentedMethod}/responses/${exchange.status}`;
    return {
      outcome: 'checked',
      operation: name,
      problems: [...checkBody(response, pointer, exchange), ...checkHeaders(response, exchange)],
    };
  };
}

/** The failure a test shows when an answer drifted from the document. */
export function driftMessage(exchange: Exchange, operation: string, problems: string[]): string {
  const body = typeof exchange.body === 'string' && exchange.bodyError ? exchange.body : JSON.stringify(exchange.body);
  return [
    `${exchange.method.toUpperCase()} ${exchange.path} answered ${exchange.status}, which openapi.json does not describe (${operation}):`,
    ...problems.map((problem) => `  - ${problem}`),
    `  body: ${body === undefined ? '(none)' : body.length > 600 ? `${body.slice(0, 600)}...` : body}`,
    'Fix the answer, or describe it in apps/api/src/openapi.ts (the schemas live in @inno-train/schemas).',
  ].join('\n');
}
