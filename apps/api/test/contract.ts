/**
 * Checks one HTTP answer against the OpenAPI document: the status is one the operation lists, the
 * media type is the documented one, the body is valid against the documented schema (ajv, JSON
 * Schema 2020-12, the document's own dialect) and required headers are there. contract-setup.ts
 * runs it on every answer the API's tests receive.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { HTTP_METHODS, type HttpMethod, type OpenApiDocument, type OpenApiResponse } from '../src/openapi';

/** One request and its answer, as a test received it. */
export interface Exchange {
  method: string;
  /** The request path as sent (percent-encoded), without the query. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or the text of any other answer. */
  body: unknown;
}

export type Verdict =
  /** Not an answer the document speaks for (admin pages, CORS preflights). */
  | { outcome: 'outside' }
  /** Checked; `operation` is `METHOD /template`, or `unrouted` for a path or method the API does not have. */
  | { outcome: 'checked'; operation: string; problems: string[] };

export type ContractValidator = (exchange: Exchange) => Verdict;

const DOCUMENT_ID = 'urn:inno-train:openapi';
/** The document's top-level fields, known to ajv so it can hold the whole document and resolve pointers into it. */
const DOCUMENT_KEYWORDS = ['openapi', 'info', 'servers', 'security', 'tags', 'paths', 'components'];

/** Paths the document covers: the /v1 API and the health check. */
const isDocumentedSpace = (path: string) => path === '/healthz' || path === '/v1' || path.startsWith('/v1/');

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

function templateMatches(template: string, path: string): boolean {
  const want = template.split('/');
  const got = path.split('/');
  return want.length === got.length && want.every((segment, i) => (/^\{.+\}$/.test(segment) ? got[i] !== '' : segment === got[i]));
}

/** The documented template for a path; literal segments win over parameters (as Express's order does here). */
function findTemplate(doc: OpenApiDocument, path: string): string | undefined {
  const literals = (template: string) => template.split('/').filter((s) => !s.startsWith('{')).length;
  const candidates = Object.keys(doc.paths).filter((template) => templateMatches(template, path));
  return candidates.sort((a, b) => literals(b) - literals(a))[0];
}

const mediaTypeOf = (headers: Exchange['headers']) =>
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

export function createContractValidator(doc: OpenApiDocument): ContractValidator {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addVocabulary(DOCUMENT_KEYWORDS);
  ajv.addSchema({ ...doc, $id: DOCUMENT_ID });
  const compiled = new Map<string, ValidateFunction>();
  const validatorAt = (pointer: string) => {
    let validate = compiled.get(pointer);
    if (!validate) compiled.set(pointer, (validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` })));
    return validate;
  };

  function checkBody(response: OpenApiResponse, pointer: string, exchange: Exchange): string[] {
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
    const validate = validatorAt(`${pointer}/content/${escapePointer(mediaType)}/schema`);
    return validate(exchange.body) ? [] : describeErrors(validate.errors);
  }

  function checkHeaders(response: OpenApiResponse, exchange: Exchange): string[] {
    return Object.entries(response.headers ?? {})
      .filter(([name, header]) => header.required && exchange.headers[name.toLowerCase()] === undefined)
      .map(([name]) => `required header ${name} is missing`);
  }

  /** A path the API does not have, or a method a documented path does not take: an error, never a 2xx. */
  function checkUnrouted(exchange: Exchange, template: string | undefined): string[] {
    const problems: string[] = [];
    if (exchange.status < 400) problems.push(`${exchange.status} from an operation the document does not have`);
    if (exchange.status === 405 && template) {
      const documented = Object.keys(doc.paths[template]!).map((m) => m.toUpperCase());
      const allow = [...documented, ...(documented.includes('GET') ? ['HEAD'] : [])].sort().join(', ');
      const sent = String(exchange.headers.allow ?? '')
        .split(/,\s*/)
        .sort()
        .join(', ');
      if (sent !== allow) problems.push(`Allow is ${JSON.stringify(sent)}, the document has ${JSON.stringify(allow)}`);
    }
    if (exchange.status >= 400 && mediaTypeOf(exchange.headers) === 'application/json') {
      const validate = validatorAt('/components/schemas/Error');
      if (!validate(exchange.body)) problems.push(...describeErrors(validate.errors));
    } else if (exchange.status >= 400) problems.push('an error answer without a JSON error body');
    return problems;
  }

  return (exchange) => {
    const method = exchange.method.toLowerCase();
    const path = exchange.path.length > 1 ? exchange.path.replace(/\/+$/, '') : exchange.path;
    if (!isDocumentedSpace(path) || method === 'options') return { outcome: 'outside' };
    const template = findTemplate(doc, path);
    // Express answers HEAD with the GET route.
    const documentedMethod = (method === 'head' ? 'get' : method) as HttpMethod;
    const operation = template && HTTP_METHODS.includes(documentedMethod) ? doc.paths[template]![documentedMethod] : undefined;
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
  const body = JSON.stringify(exchange.body);
  return [
    `${exchange.method.toUpperCase()} ${exchange.path} answered ${exchange.status}, which openapi.json does not describe (${operation}):`,
    ...problems.map((problem) => `  - ${problem}`),
    `  body: ${body === undefined ? '(none)' : body.length > 600 ? `${body.slice(0, 600)}...` : body}`,
    'Fix the answer, or describe it in apps/api/src/openapi.ts (the schemas live in @inno-train/schemas).',
  ].join('\n');
}
