import {
  checkExchange,
  createContractValidator,
  emptyTally,
  exchangeOf,
  operationsOf,
  parseOpenApiDocument,
  type Exchange,
  type OpenApiDocumentLike,
} from '../src';

const error = { $ref: '#/components/schemas/Error' };
const requestId = { 'X-Request-Id': { description: 'id', required: true, schema: { type: 'string' } } };
const DOC = parseOpenApiDocument({
  openapi: '3.1.0',
  info: { title: 'test', version: '1' },
  'x-audience': 'tests',
  paths: {
    '/healthz': { get: { responses: { '200': { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/v1/things': {
      get: {
        responses: {
          '200': {
            description: 'a page',
            headers: requestId,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Page' } } },
          },
        },
      },
      post: { responses: { '202': { description: 'accepted', content: { 'application/json': { schema: { type: 'object' } } } } } },
    },
    '/v1/things/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^t[0-9]+$' } }],
      get: { responses: { '404': { description: 'none', content: { 'application/json': { schema: error } } } } },
      delete: { responses: { '204': { description: 'gone' } } },
    },
    '/v1/things/{id}/file': { get: { responses: { '302': { description: 'to S3', headers: { Location: { required: true } } } } } },
    '/v1/things/{id}/files/{path}': {
      get: {
        parameters: [{ name: 'path', in: 'path', required: true, description: 'may contain /', schema: { type: 'string' } }],
        responses: { '302': { description: 'to S3' } },
      },
    },
  },
  components: {
    schemas: {
      Page: {
        type: 'object',
        properties: { data: { type: 'array', items: { type: 'string' } }, hasMore: { type: 'boolean' } },
        required: ['data', 'hasMore'],
        additionalProperties: false,
      },
      Error: {
        type: 'object',
        properties: { error: { type: 'object', properties: { code: { type: 'string' } }, required: ['code'] } },
        required: ['error'],
      },
    },
  },
});

const validate = createContractValidator(DOC);
const exchange = (overrides: Partial<Exchange>): Exchange => ({
  method: 'GET',
  path: '/v1/things',
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r-1' },
  body: { data: [], hasMore: false },
  ...overrides,
});
const problemsOf = (overrides: Partial<Exchange>) => {
  const verdict = validate(exchange(overrides));
  if (verdict.outcome !== 'checked') throw new Error('expected the answer to be checked');
  return verdict.problems.join('\n');
};
const notFound = { error: { code: 'not_found' } };
const jsonHeaders = { 'content-type': 'application/json' };

describe('checking an answer against the document', () => {
  it('passes documented answers: a JSON page, a body-less 204, a redirect with its Location, HEAD as GET', () => {
    expect(validate(exchange({}))).toEqual({ outcome: 'checked', operation: 'GET /v1/things', problems: [] });
    expect(problemsOf({ method: 'DELETE', path: '/v1/things/a1', status: 204, headers: {}, body: '' })).toBe('');
    expect(problemsOf({ path: '/v1/things/a1/file', status: 302, headers: { location: 'http://s3/x' }, body: '' })).toBe('');
    expect(problemsOf({ method: 'HEAD', body: '' })).toBe('');
    expect(problemsOf({ path: '/v1/things/', body: { data: ['x'], hasMore: true } })).toBe('');
  });

  it('names what differs: the body, the status, the media type, a required header, a body that is not JSON', () => {
    expect(problemsOf({ body: { data: [1], hasMore: 'no', total: 3 } })).toBe(
      ['(body) must NOT have additional properties (total)', '/data/0 must be string', '/hasMore must be boolean'].join('\n'),
    );
    expect(problemsOf({ status: 418 })).toBe('status 418 is not documented (200)');
    expect(problemsOf({ headers: { 'content-type': 'text/html', 'x-request-id': 'r' } })).toMatch(
      /content-type "text\/html" is not documented/,
    );
    expect(problemsOf({ headers: jsonHeaders })).toBe('required header X-Request-Id is missing');
    expect(problemsOf({ path: '/v1/things/a1/file', status: 302, headers: {}, body: '' })).toBe('required header Location is missing');
    expect(problemsOf({ body: '{"data":', bodyError: 'Unexpected end of JSON input' })).toMatch(/the body is not application\/json/);
    expect(problemsOf({ method: 'DELETE', path: '/v1/things/a1', status: 204, headers: jsonHeaders, body: { a: 1 } })).toMatch(
      /a body was sent \(application\/json\) where the document has none/,
    );
  });

  it('lets a path or method the document lacks answer only a JSON error, and checks the Allow of a 405', () => {
    expect(problemsOf({ path: '/v1/nothing', status: 404, headers: jsonHeaders, body: notFound })).toBe('');
    expect(validate(exchange({ path: '/v1/nothing', status: 404, headers: jsonHeaders, body: notFound }))).toMatchObject({
      operation: 'unrouted',
    });
    expect(validate(exchange({ path: '/v1/things//', status: 404, headers: jsonHeaders, body: notFound }))).toMatchObject({
      operation: 'unrouted',
      problems: [],
    });
    expect(problemsOf({ method: 'HEAD', path: '/v1/nothing', status: 404, headers: jsonHeaders, body: '' })).toBe('');
    expect(problemsOf({ path: '/v1/nothing' })).toMatch(/200 from an operation the document does not have/);
    expect(problemsOf({ path: '/v1/nothing', status: 404, headers: { 'content-type': 'text/html' }, body: '<p>' })).toBe(
      'an error answer without a JSON error body',
    );
    const refused = { method: 'PUT', status: 405, body: notFound };
    expect(problemsOf({ ...refused, headers: { ...jsonHeaders, allow: 'POST, GET, HEAD' } })).toBe('');
    expect(problemsOf({ ...refused, headers: { ...jsonHeaders, allow: 'GET' } })).toBe(
      'Allow is "GET", the document has "GET, HEAD, POST"',
    );
  });

  it('lets a trailing parameter whose schema admits slashes take several segments, and no other', () => {
    const redirect = { path: '/v1/things/t1/files/model/weights%20v1.bin', status: 302, headers: {}, body: '' };
    expect(validate(exchange(redirect))).toEqual({ outcome: 'checked', operation: 'GET /v1/things/{id}/files/{path}', problems: [] });
    expect(validate(exchange({ ...redirect, path: '/v1/things/t1/files/one' }))).toMatchObject({ problems: [] });
    expect(validate(exchange({ path: '/v1/things/t1/extra', status: 404, headers: jsonHeaders, body: notFound }))).toMatchObject({
      operation: 'unrouted',
    });
    expect(validate(exchange({ ...redirect, path: '/v1/things/t1/files/' }))).toMatchObject({ operation: 'unrouted' });
  });

  it('leaves alone what the document does not speak for: admin pages and CORS preflights', () => {
    expect(validate(exchange({ path: '/admin/queues' }))).toEqual({ outcome: 'outside' });
    expect(validate(exchange({ method: 'OPTIONS' }))).toEqual({ outcome: 'outside' });
  });
});

describe('counting and reporting', () => {
  it('counts every checked answer by operation and status, and returns a drift message naming both', () => {
    const tally = emptyTally();
    expect(checkExchange(validate, exchange({}), tally)).toBeNull();
    expect(checkExchange(validate, exchange({ path: '/admin' }), tally)).toBeNull();
    const drift = checkExchange(validate, exchange({ status: 500, body: notFound }), tally);
    expect(drift).toMatch(/^GET \/v1\/things answered 500, which openapi\.json does not describe \(GET \/v1\/things\):\n {2}- status 500/);
    expect(drift).toContain('body: {"error":{"code":"not_found"}}');
    expect(tally).toEqual({ validated: 2, byOperationStatus: { 'GET /v1/things → 200': 1, 'GET /v1/things → 500': 1 } });
  });

  it('reads an answer as a client received it: JSON parsed, other media as text, the path as sent', () => {
    const answer = { method: 'get', url: 'http://127.0.0.1:1/v1/things/a%20b?x=1', status: 200, headers: jsonHeaders };
    expect(exchangeOf({ ...answer, text: '{"a":1}' })).toEqual({
      method: 'GET',
      path: '/v1/things/a%20b',
      status: 200,
      headers: jsonHeaders,
      body: { a: 1 },
    });
    expect(exchangeOf({ ...answer, text: 'oops' })).toMatchObject({ body: 'oops', bodyError: expect.any(String) });
    expect(exchangeOf({ ...answer, headers: { 'content-type': 'text/plain' }, text: 'ok' }).body).toBe('ok');
  });
});

describe('reading a served document', () => {
  it('lists its operations and refuses what is not OpenAPI 3.1', () => {
    expect(operationsOf(DOC)).toEqual([
      'GET /healthz',
      'GET /v1/things',
      'POST /v1/things',
      'GET /v1/things/{id}',
      'DELETE /v1/things/{id}',
      'GET /v1/things/{id}/file',
      'GET /v1/things/{id}/files/{path}',
    ]);
    expect(() => parseOpenApiDocument({ openapi: '3.0.3', paths: {} })).toThrow(/not OpenAPI 3\.1/);
    expect(() => parseOpenApiDocument({ openapi: '3.1.0' })).toThrow(/no paths/);
    expect(() => parseOpenApiDocument('<html>')).toThrow(/not an object/);
  });

  it('accepts a structural document type such as the one apps/api builds', () => {
    const typed: { openapi: '3.1.0'; paths: Record<string, Partial<Record<'get', { responses: Record<string, object> }>>> } = {
      openapi: '3.1.0',
      paths: {},
    };
    const doc: OpenApiDocumentLike = typed;
    expect(operationsOf(doc)).toEqual([]);
  });
});
