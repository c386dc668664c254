import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { API_ERROR_CODES, API_KEY_ROLES, JOB_ERROR_CODES } from '@inno-train/schemas';
import { JOB_STATUSES, STAGE_NAMES } from '@inno-train/workflow-constants';
import { KEY_ROLES } from '../src/keys';
import { buildOpenApiDocument, HTTP_METHODS, type OpenApiDocument } from '../src/openapi';
import { createContractValidator, type Exchange } from './contract';
import { KEY_A, openHarness, uniqueNamespace, type Harness } from './harness';

let h: Harness;
beforeAll(() => {
  h = openHarness(uniqueNamespace('openapi'));
});
afterAll(async () => {
  await h.close();
});

/** The verdict of the OpenAPI 3.1 schema on a document. The validator is ESM-only (import.meta), so it runs in plain node. */
function officialVerdict(doc: unknown): { valid: boolean; errors?: unknown } {
  const cli = join(dirname(require.resolve('@seriousme/openapi-schema-validator/package.json')), 'bin', 'validate-api-cli.js');
  const file = join(tmpdir(), `inno-train-openapi-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(doc));
  try {
    const run = spawnSync(process.execPath, [cli, file], { encoding: 'utf8' });
    if (!run.stdout.trim()) throw new Error(`the OpenAPI validator printed nothing: ${run.stderr}`);
    return JSON.parse(run.stdout) as { valid: boolean; errors?: unknown };
  } finally {
    rmSync(file, { force: true });
  }
}

/** The layers of Express 5's router this test reads: a route, or a mounted router with the path it was mounted at. */
interface RouterLayer {
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
}

/** `METHOD /path` of every route the app has, read from its router stack (path parameters as OpenAPI writes them). */
function routesOf(stack: RouterLayer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/[:*](\w+)/g, '{$1}');
      return Object.keys(layer.route.methods).map((method) => `${method === '_all' ? 'ALL' : method.toUpperCase()} ${path}`);
    }
    if (!layer.handle?.stack) return [];
    if (typeof layer.rawPath !== 'string')
      throw new Error('a mounted router without a readable mount path: has Express changed its Layer?');
    return routesOf(layer.handle.stack, layer.rawPath === '/' ? prefix : `${prefix}${layer.rawPath}`);
  });
}

const operationsOf = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
  );

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by the official schema, which does refuse a broken document', () => {
    const doc = buildOpenApiDocument();
    expect(officialVerdict(doc)).toEqual({ valid: true });
    const broken = { ...doc, paths: { '/v1/jobs': { get: { operationId: 'listJobs', responses: { '200': {} } } } } };
    expect(officialVerdict(broken).valid).toBe(false);
  });

  it('is served at /v1/openapi.json without a key, never cached', async () => {
    const response = await request(h.app).get('/v1/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });

  it('documents every route the app has under /v1 and the health probes, and none it lacks', () => {
    const routes = routesOf((h.app as unknown as { router: { stack: RouterLayer[] } }).router.stack).filter((route) =>
      / (\/v1\/|\/healthz|\/livez|\/readyz)/.test(route),
    );
    const documented = operationsOf(buildOpenApiDocument());
    expect(routes.filter((route) => !route.startsWith('ALL ')).sort()).toEqual([...documented].sort());
    // Catch-all routes (405 answers) only for paths the document has.
    const documentedPaths = new Set(documented.map((operation) => operation.split(' ')[1]));
    for (const route of routes.filter((r) => r.startsWith('ALL '))) expect(documentedPaths).toContain(route.split(' ')[1]);
  });

  it('names the closed enums as the code declares them, and the job and error bodies refer to them', () => {
    const { schemas } = buildOpenApiDocument().components;
    expect(schemas.JobStatus).toEqual({ type: 'string', enum: [...JOB_STATUSES] });
    expect(schemas.JobErrorCode).toEqual({ type: 'string', enum: [...JOB_ERROR_CODES] });
    expect(schemas.Stage).toEqual({ type: 'string', enum: [...STAGE_NAMES] });
    expect(schemas.ApiErrorCode).toEqual({ type: 'string', enum: [...API_ERROR_CODES] });
    expect(API_KEY_ROLES).toEqual(KEY_ROLES);
    const { JobStatus: _s, JobErrorCode: _e, Stage: _t, ApiErrorCode: _a, ...bodies } = schemas;
    const text = JSON.stringify(bodies);
    for (const name of ['JobStatus', 'JobErrorCode', 'Stage', 'ApiErrorCode'])
      expect(text).toContain(`"$ref":"#/components/schemas/${name}"`);
    // No copy of a closed enum is left inline, where it could drift from the named one.
    for (const values of [JOB_STATUSES, JOB_ERROR_CODES, STAGE_NAMES, API_ERROR_CODES]) expect(text).not.toContain(JSON.stringify(values));
  });

  it('answers every /v1 error with the error body, its code narrowed to codes that exist', () => {
    type Narrowed = { allOf?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }[] };
    const errorResponses = Object.entries(buildOpenApiDocument().paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, item]) =>
        Object.values(item).flatMap((operation) =>
          Object.entries(operation.responses).map(([status, response]) => ({ path, status, response })),
        ),
      )
      .filter(({ status }) => Number(status) >= 400);
    expect(errorResponses.length).toBeGreaterThan(0);
    for (const { path, status, response } of errorResponses) {
      const schema = response.content?.['application/json']?.schema as Narrowed | undefined;
      const codes = schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum ?? [];
      expect({
        path,
        status,
        codes: codes.length,
        unknown: codes.filter((code) => !(API_ERROR_CODES as readonly string[]).includes(code)),
      }).toEqual({
        path,
        status,
        codes: expect.any(Number),
        unknown: [],
      });
      expect(codes.length).toBeGreaterThan(0);
    }
  });
});

describe('the contract check on answers', () => {
  const validate = createContractValidator(buildOpenApiDocument());
  const exchange = (overrides: Partial<Exchange>): Exchange => ({
    method: 'GET',
    path: '/v1/jobs',
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r-12345678' },
    body: { data: [], hasMore: false, nextAfter: null },
    ...overrides,
  });
  const problemsOf = (overrides: Partial<Exchange>) => {
    const verdict = validate(exchange(overrides));
    if (verdict.outcome !== 'checked') throw new Error('expected the answer to be checked');
    return verdict.problems.join('\n');
  };

  it('passes a documented answer and fails a wrong body, an undocumented status or media type, and a missing header', () => {
    expect(problemsOf({})).toBe('');
    expect(problemsOf({ body: { data: [{ id: 'j0000000000000000000000' }], hasMore: 'no' } })).toMatch(
      /\/data\/0 must have required property 'status'[\s\S]*\/hasMore must be boolean/,
    );
    expect(problemsOf({ body: { data: [], hasMore: false, total: 3 } })).toMatch(/must NOT have additional properties \(total\)/);
    expect(problemsOf({ status: 418 })).toMatch(/status 418 is not documented/);
    expect(problemsOf({ headers: { 'content-type': 'text/html', 'x-request-id': 'r-12345678' } })).toMatch(
      /content-type "text\/html" is not documented/,
    );
    expect(problemsOf({ headers: { 'content-type': 'application/json' } })).toMatch(/required header X-Request-Id is missing/);
    const wrongCode = { error: { code: 'job_finished', message: 'x', requestId: 'r' } };
    expect(problemsOf({ path: '/v1/jobs/j0000000000000000000000', status: 404, body: wrongCode })).toMatch(
      /code must be equal to one of the allowed values \["job_not_found"\]/,
    );
  });

  it('fails a success from an operation the document lacks, and a 405 whose Allow differs from it', () => {
    expect(problemsOf({ path: '/v1/nothing-here' })).toMatch(/200 from an operation the document does not have/);
    expect(problemsOf({ method: 'PUT', path: '/v1/jobs' })).toMatch(/200 from an operation the document does not have/);
    const refused = { error: { code: 'method_not_allowed', message: 'x', requestId: 'r' } };
    expect(
      problemsOf({ method: 'PUT', status: 405, headers: { 'content-type': 'application/json', allow: 'GET, HEAD, POST' }, body: refused }),
    ).toBe('');
    expect(
      problemsOf({ method: 'PUT', status: 405, headers: { 'content-type': 'application/json', allow: 'GET' }, body: refused }),
    ).toMatch(/Allow is "GET"/);
  });

  it('fails the test that received a drifted answer (the supertest hook is wired)', async () => {
    const drifting = express().get('/v1/usage', (_req, res) => {
      res.set('X-Request-Id', 'r-12345678').json({ spendUsd: 'a lot' });
    });
    await expect(request(drifting).get('/v1/usage').set('Authorization', `Bearer ${KEY_A}`)).rejects.toThrow(
      /GET \/v1\/usage answered 200, which openapi\.json does not describe \(GET \/v1\/usage\)/,
    );
  });
});
