import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { waitFor } from '@inno-train/test-kit';
import {
  CHROMIUM,
  jobStatus,
  launchChromium,
  metricsJob,
  REPO,
  startService,
  stopService,
  submitJob,
  type ConsoleTenant,
  type RunningService,
} from './console-service';

jest.setTimeout(240_000);

/**
 * The job console in a real browser (Debian's headless Chromium): a client logs in with its key, sees
 * its jobs, opens a running one, watches the loss chart gain points and the log grow, cancels it with
 * the button (confirming), and sees it cancelled; opens a finished job's checkpoint and downloads its
 * file from S3 through the link; another client's key cannot open either job's page.
 * Screenshots go to a temporary folder, or, with UPDATE_SCREENSHOTS=1, to docs/screenshots/.
 */
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'inno-shots-'));
const TEAM_A: ConsoleTenant = { name: 'team-vision', key: 'console-test-key-team-vision-0001', role: 'client' };
const TEAM_B: ConsoleTenant = { name: 'team-speech', key: 'console-test-key-team-speech-0002', role: 'client' };
const KEYS = [TEAM_A.key, TEAM_B.key];

const pathOf = (page: Page) => new URL(page.url()).pathname;

/** Opens /console in a fresh context, is sent to the login page, and logs in with the tenant's key. */
async function logIn(browser: Browser, origin: string, tenant: ConsoleTenant): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${origin}/console`);
  expect(pathOf(page)).toBe('/console/login');
  await page.getByLabel('API key').fill(tenant.key);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL('**/console');
  await page.locator('#who').getByText(tenant.name).waitFor();
  return { context, page };
}

/** CSP violations the page reports, and uncaught script errors: kept to assert none happened. */
function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  const isCspViolation = (text: string) => /Content Security Policy/i.test(text);
  page.on('console', (message) => void (isCspViolation(message.text()) && errors.push(message.text())));
  page.on('pageerror', (error) => void errors.push(error.message));
  return errors;
}

/** The short job also leaves a checkpoint, marked complete so the sync after the command takes it at once. */
function withCheckpoint(job: ReturnType<typeof metricsJob>): ReturnType<typeof metricsJob> {
  const write = [
    'import os',
    'entry = os.path.join(os.environ["CHECKPOINT_DIR"], "step-30")',
    'os.makedirs(entry, exist_ok=True)',
    'open(os.path.join(entry, "model.bin"), "w").write("weights-at-step-30")',
    'open(os.path.join(entry, ".complete"), "w").close()',
  ];
  return { ...job, script: { ...job.script, inline: `${job.script.inline}\n${write.join('\n')}\n` } };
}

const chartPoints = async (page: Page) => Number(await page.locator('#metrics-chart').getAttribute('data-points'));
const logLength = async (page: Page) => ((await page.locator('#log').textContent()) ?? '').length;

/** No key, in the page's markup or text: the pictures and the DOM show tenant names only. */
async function expectNoKeys(page: Page): Promise<void> {
  const html = await page.content();
  for (const key of KEYS) expect(html).not.toContain(key);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await expectNoKeys(page);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe('the job console in a browser', () => {
  let browser: Browser;
  let service: RunningService | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    service = await startService([TEAM_A, TEAM_B, { name: 'ops', key: 'console-test-key-ops-admin-0003', role: 'admin' }]);
  });

  afterAll(async () => {
    await browser?.close();
    await stopService(service);
    if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  it('lists the jobs, follows a running one live, cancels it, and keeps it from another tenant', async () => {
    const { origin } = service!;
    // `npm start`'s banner names the console beside Bull Board.
    expect(service!.output()).toMatch(new RegExp(`Console\\s+${origin}/console\\s`));
    const finished = await submitJob(origin, TEAM_A.key, withCheckpoint(metricsJob('warmup-run', 30, 0.02)));
    await waitFor(async () => (await jobStatus(origin, TEAM_A.key, finished)) === 'succeeded', {
      timeoutMs: 60_000,
      description: 'the short job to succeed',
    });
    const running = await submitJob(origin, TEAM_A.key, metricsJob('resnet-finetune', 2400, 0.25));

    const { context, page } = await logIn(browser, origin, TEAM_A);
    const errors = collectPageErrors(page);
    const row = page.locator(`tr[data-job-id="${running}"]`);
    await row.locator('[data-status="training"]').waitFor({ timeout: 60_000 });
    await page.locator(`tr[data-job-id="${finished}"] [data-status="succeeded"]`).waitFor();
    await row.locator('progress').waitFor({ timeout: 30_000 });
    // A short window for the list's picture: two rows need no 900 px of empty page below them.
    await page.setViewportSize({ width: 1280, height: 420 });
    await screenshot(page, 'console-jobs');
    await page.setViewportSize({ width: 1280, height: 900 });

    // The status filter narrows the list (the URL keeps it).
    await page.selectOption('#status-filter', 'succeeded');
    await row.waitFor({ state: 'detached' });
    await page.locator(`tr[data-job-id="${finished}"]`).waitFor();
    expect(new URL(page.url()).searchParams.get('status')).toBe('succeeded');
    await page.selectOption('#status-filter', '');
    await row.getByRole('link', { name: 'resnet-finetune' }).click();
    await page.waitForURL(`**/console/jobs/${running}`);

    // The chart and the log grow while the page is open, without a reload.
    await page.locator('#metrics-chart canvas').first().waitFor();
    const pointsBefore = await waitFor(async () => ((points) => points >= 3 && points)(await chartPoints(page)), {
      timeoutMs: 30_000,
      description: 'the chart to show its first points',
    });
    const logBefore = await waitFor(async () => ((length) => length > 0 && length)(await logLength(page)), {
      timeoutMs: 30_000,
      description: 'the log to show the first lines',
    });
    await waitFor(async () => (await chartPoints(page)) >= pointsBefore + 5, {
      timeoutMs: 30_000,
      description: 'the chart to gain points',
    });
    await waitFor(async () => (await logLength(page)) > logBefore, { timeoutMs: 30_000, description: 'the log to grow' });
    await expect(page.locator('.u-legend').getByText('loss', { exact: true }).count()).resolves.toBeGreaterThan(0);
    await page.locator('#stages').getByText('training', { exact: true }).waitFor();
    // Enough of the curve for the picture to show its shape.
    await waitFor(async () => (await chartPoints(page)) >= 60, { timeoutMs: 60_000, description: 'the chart to reach 60 points' });
    await screenshot(page, 'console-job');

    // Cancel asks first: dismissing leaves the job running; accepting cancels it.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.locator('#cancel-job').click();
    expect(await jobStatus(origin, TEAM_A.key, running)).toBe('training');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('#cancel-job').click();
    await page.locator('#summary [data-status="cancelled"]').waitFor();
    await page.locator('#cancel-job').waitFor({ state: 'detached' });
    expect(await jobStatus(origin, TEAM_A.key, running)).toBe('cancelled');
    await page.locator('#stages').getByText('cancelled', { exact: true }).waitFor({ timeout: 30_000 });

    // The finished job's checkpoint lists its file when opened, linked straight to S3 (not the API).
    await page.goto(`${origin}/console/jobs/${finished}`);
    const checkpoint = page.locator('details[data-checkpoint="step-30"]');
    await checkpoint.locator('summary').click();
    const link = checkpoint.getByRole('link', { name: 'model.bin' });
    await link.waitFor();
    const href = String(await link.getAttribute('href'));
    expect(new URL(href).origin).not.toBe(origin);
    const downloaded = await fetch(href);
    expect({ status: downloaded.status, body: await downloaded.text() }).toEqual({ status: 200, body: 'weights-at-step-30' });
    expect(errors).toEqual([]);
    await context.close();

    // Another client: not in its list, and its page for that job is "not found", as on /v1.
    const other = await logIn(browser, origin, TEAM_B);
    await other.page.locator('#no-jobs').waitFor();
    await other.page.goto(`${origin}/console/jobs/${running}`);
    await other.page.getByRole('heading', { name: 'Job not found' }).waitFor();
    expect(await other.page.content()).not.toContain('resnet-finetune');
    await other.page.goto(`${origin}/console/jobs/${finished}`);
    await other.page.getByRole('heading', { name: 'Job not found' }).waitFor();
    expect(await other.page.locator('#checkpoints').count()).toBe(0);
    await expectNoKeys(other.page);
    await other.context.close();
  });
});
