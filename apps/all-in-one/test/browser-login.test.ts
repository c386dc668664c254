import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePort, waitFor } from '@inno-train/test-kit';
import { CHROMIUM, launchChromium, REPO, spawnAllInOne, stopService, type ServiceProcess } from './console-service';

jest.setTimeout(180_000);

/**
 * An operator's first minutes, in a real browser: `npm start` prints the Bull Board URL, Debian's
 * headless Chromium opens it, gets the login page, logs in with the printed key, sees the five
 * queues, and logs out. Screenshots go to a temporary folder, or, with UPDATE_SCREENSHOTS=1, to
 * docs/screenshots/ (the pictures the README shows).
 */
const QUEUES = ['provision', 'stage-in', 'train', 'stage-out', 'teardown'];
const BANNER_BOARD_LINE = /Bull Board\s+(http:\/\/\S+)\s+\(open it in a browser and log in with the API key\)/;
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'inno-shots-'));

interface RunningService extends ServiceProcess {
  boardUrl: string;
}

/** The service on a free port; resolves once its banner is out, with the Bull Board URL it printed. */
async function startService(extraEnv: Record<string, string> = {}): Promise<RunningService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inno-browser-'));
  const { service, found } = await spawnAllInOne(
    dataDir,
    { API_PORT: String(await freePort()), ...extraEnv },
    (output) => BANNER_BOARD_LINE.exec(output)?.[1],
    'the service to print its banner with the Bull Board URL',
  );
  return { ...service, boardUrl: found };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Types a key into the login form and sends it; the caller waits for what should follow. */
async function submitKey(page: Page, key: string): Promise<void> {
  await page.fill('input[name="key"]', key);
  await page.click('button[type="submit"]');
}

const pathOf = (page: Page) => new URL(page.url()).pathname;

/** Bull Board's overview is drawn: one card per queue, each with its job count ("0 Jobs"). */
async function boardLoaded(page: Page): Promise<void> {
  await waitFor(
    async () => {
      const names = await Promise.all(QUEUES.map((queue) => page.getByText(queue, { exact: true }).count()));
      // Each queue twice: in the side menu and as an overview card.
      return names.every((count) => count >= 2) && (await page.getByText(/^\d+ Jobs?$/).count()) === QUEUES.length;
    },
    { timeoutMs: 30_000, description: `Bull Board's overview to show the queues ${QUEUES.join(', ')}` },
  );
}

describe('Bull Board in a browser', () => {
  let browser: Browser;
  let service: RunningService | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
  });

  afterEach(async () => {
    await stopService(service);
    service = undefined;
  });

  afterAll(async () => {
    await browser?.close();
    // Kept only when they are the repository's own (UPDATE_SCREENSHOTS=1).
    if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  it('opens the printed URL at a login page, takes the generated key, shows the queues, and logs out', async () => {
    service = await startService();
    const apiKey = readFileSync(join(service.dataDir, 'api-key'), 'utf8').trim();
    expect(service.output()).toContain(apiKey);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();

    const first = await page.goto(service.boardUrl);
    // Seen once in CI: the page stayed at /admin/queues (not reproduced in 5 local runs). Should it
    // happen again, the failure shows what the server answered instead of the redirect.
    const landed = { path: pathOf(page), status: first?.status(), cookies: (await context.cookies()).map((c) => c.name) };
    expect(landed).toEqual({
      path: '/admin/login',
      status: 200,
      cookies: [],
      ...(landed.path === '/admin/login' ? {} : { body: (await page.content()).slice(0, 500) }),
    });
    await page.getByLabel('Admin API key').waitFor();
    await screenshot(page, 'bull-board-login');

    await submitKey(page, 'not-the-key-not-the-key-1234');
    await page.getByText('That key was not accepted.').waitFor();
    expect(pathOf(page)).toBe('/admin/login');
    expect(await page.content()).not.toContain('not-the-key-not-the-key-1234');

    await submitKey(page, apiKey);
    await page.waitForURL('**/admin/queues');
    await boardLoaded(page);
    await screenshot(page, 'bull-board-queues');

    const [cookie] = (await context.cookies()).filter((c) => c.name === 'itk_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin', secure: false });
    expect(cookie!.expires * 1000 - Date.now()).toBeGreaterThan(479 * 60_000); // API_SESSION_TTL_MINUTES' default, 480
    expect(await page.evaluate<string>('document.cookie')).not.toContain('itk_session'); // HttpOnly: no script can read it

    // The board's own menu (the account icon, last in its header) leads to the logout page.
    await page.locator('header button').last().click();
    await page.getByText('Log out', { exact: true }).click();
    await page.waitForURL('**/admin/logout');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/admin/login?out=1');
    await page.getByText('You have logged out.').waitFor();
    await screenshot(page, 'bull-board-logged-out');
    expect((await context.cookies()).filter((c) => c.name === 'itk_session')).toEqual([]);

    // The old cookie, replayed by hand, opens nothing: the session is gone on the server, not just in the browser.
    const replayed = { cookie: `itk_session=${cookie!.value}` };
    const api = await fetch(`${service.boardUrl}/api/queues`, { headers: replayed });
    expect(api.status).toBe(401);
    const board = await fetch(service.boardUrl, { headers: { ...replayed, accept: 'text/html' }, redirect: 'manual' });
    expect({ status: board.status, location: board.headers.get('location') }).toEqual({ status: 303, location: '/admin/login' });
    await page.goto(service.boardUrl);
    expect(pathOf(page)).toBe('/admin/login');
    await context.close();
  });

  it('refuses a client key at the login page, and lets the configured admin key in', async () => {
    const clientKey = 'client-key-for-the-browser-test-0001';
    const adminKey = 'admin-key-for-the-browser-test-0002';
    service = await startService({ API_KEYS: clientKey, API_ADMIN_KEYS: adminKey });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();

    await page.goto(service.boardUrl);
    expect(pathOf(page)).toBe('/admin/login');
    await submitKey(page, clientKey);
    await page.getByText('This key cannot open the operator pages.').waitFor();
    expect(pathOf(page)).toBe('/admin/login');
    expect(await page.content()).not.toContain(clientKey);
    expect(await page.inputValue('input[name="key"]')).toBe('');
    expect(await context.cookies()).toEqual([]);
    await screenshot(page, 'bull-board-login-refused');

    await submitKey(page, adminKey);
    await page.waitForURL('**/admin/queues');
    await boardLoaded(page);
    await context.close();
  });
});
