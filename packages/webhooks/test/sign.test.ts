import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, signWebhook } from '../src';

describe('Standard Webhooks signing', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it('signs so that the standardwebhooks library verifies, and a tampered body or id does not', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ type: 'job.succeeded', timestamp: new Date().toISOString(), data: { job: { id: 'j1' } } });
    const headers = signWebhook(secret, 'evt_1', Date.now() / 1000, body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const receiver = new Webhook(secret);
    expect(receiver.verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => receiver.verify(body.replace('succeeded', 'failed'), { ...headers })).toThrow();
    expect(() => receiver.verify(body, { ...headers, 'webhook-id': 'evt_2' })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, { ...headers })).toThrow();
  });

  it('is refused by receivers once its timestamp is old (a replay)', () => {
    const secret = newWebhookSecret();
    const headers = signWebhook(secret, 'evt_1', Date.now() / 1000 - 3600, '{}');
    expect(() => new Webhook(secret).verify('{}', { ...headers })).toThrow(/timestamp/i);
  });
});
