import { createLambdaClient, noPacer, type LambdaRequestRecord } from '../src';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A fetch that answers from a script, one entry per call: a Response, or an error to throw. */
function scripted(answers: (Response | Error)[]): typeof fetch {
  return async () => {
    const next = answers.shift();
    if (next === undefined) throw new Error('unexpected request');
    if (next instanceof Error) throw next;
    return next;
  };
}

function client(answers: (Response | Error)[], records: LambdaRequestRecord[]) {
  return createLambdaClient({
    baseUrl: 'http://lambda.invalid/api/v1',
    apiKey: 'secret_key_not_in_any_record',
    pacer: noPacer,
    fetch: scripted(answers),
    retryBaseMs: 1,
    retryCapMs: 2,
    onRequest: (record) => records.push(record),
  });
}

describe('lambda client: onRequest (inno_lambda_requests_total)', () => {
  it('tells every attempt, retries included, with the operation and the HTTP status', async () => {
    const records: LambdaRequestRecord[] = [];
    const lambda = client([json(429, {}), json(503, {}), json(200, { data: [] })], records);
    expect(await lambda.listInstances()).toEqual([]);
    expect(records.map(({ operation, method, code }) => ({ operation, method, code }))).toEqual([
      { operation: 'listInstances', method: 'GET', code: '429' },
      { operation: 'listInstances', method: 'GET', code: '503' },
      { operation: 'listInstances', method: 'GET', code: '200' },
    ]);
    expect(records.every((record) => record.ms >= 0)).toBe(true);
    // Names, never paths with ids nor the key.
    expect(JSON.stringify(records)).not.toMatch(/secret_key|instances\//);
  });

  it('names an attempt without an answer `timeout` or `network`, and a hook that throws breaks nothing', async () => {
    const records: LambdaRequestRecord[] = [];
    const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    const refused = Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const lambda = client([timeout, refused, json(404, { error: { code: 'global/object-does-not-exist', message: 'gone' } })], records);
    expect(await lambda.getInstance('i-123')).toBeNull();
    expect(records.map((record) => `${record.operation} ${record.code}`)).toEqual([
      'getInstance timeout',
      'getInstance network',
      'getInstance 404',
    ]);

    const throwing = createLambdaClient({
      baseUrl: 'http://lambda.invalid/api/v1',
      apiKey: 'k',
      pacer: noPacer,
      fetch: scripted([json(200, { data: [] })]),
      onRequest: () => {
        throw new Error('metrics broke');
      },
    });
    expect(await throwing.listInstances()).toEqual([]);
  });
});
