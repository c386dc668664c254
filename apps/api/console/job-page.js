/**
 * One job: its summary, a Cancel button while it runs, its error, the stages' timeline, the metrics
 * chart, the live log, and its outputs and checkpoints. Live parts follow the job's stream (server-sent
 * events through the console's session: an EventSource cannot send a bearer key).
 */
import { ApiError, cancelJob, checkpointDownloadPath, getJson, jobPath, outputUrl, streamUrl } from './api.js';
import {
  el,
  formatBytes,
  formatDuration,
  formatTime,
  formatUsd,
  isTerminal,
  isTransferring,
  jobDurationMs,
  progressBar,
  progressText,
  statusBadge,
  transferBar,
  transferText,
} from './format.js';
import { createMetricsChart } from './metrics-chart.js';
import { createTimeline } from './timeline.js';

/** The page keeps the log's last half MiB: enough to read, small enough for a long run's tab. */
const LOG_KEPT_CHARS = 512 * 1024;
/** While the job runs, its cost and duration move: read the job this often besides its status changes. */
const JOB_REFRESH_MS = 10_000;
/** While a transfer runs its bytes move by the second, and no stream message says so: read the job this often then. */
const TRANSFER_REFRESH_MS = 2_000;

const section = (title, id, ...content) => el('section', { class: 'card', id }, el('h2', {}, title), ...content);

function createLogView() {
  const text = el('pre', { class: 'log', id: 'log', tabindex: '0' });
  const note = el('p', { class: 'muted', id: 'log-note' }, 'Nothing printed yet.');
  let printed = 0;
  function append(chunk) {
    // Follow the end only when the reader is already there: scrolling up to read must not be undone.
    const atEnd = text.scrollTop + text.clientHeight >= text.scrollHeight - 8;
    text.append(chunk);
    printed += chunk.length;
    if (text.textContent.length > LOG_KEPT_CHARS) text.textContent = text.textContent.slice(-LOG_KEPT_CHARS);
    note.textContent = `${printed.toLocaleString()} characters received${printed > LOG_KEPT_CHARS ? ' (the last 512 KiB shown)' : ''}.`;
    if (atEnd) text.scrollTop = text.scrollHeight;
  }
  return { root: el('div', {}, text, note), append };
}

function summaryList(job) {
  const entries = [
    ['Status', statusBadge(job.status)],
    ['Job id', el('span', { class: 'mono' }, job.id)],
    ['Tenant', job.createdBy ?? '–'],
    ['Created', formatTime(job.createdAt)],
    ['Finished', formatTime(job.finishedAt)],
    ['Duration', formatDuration(jobDurationMs(job))],
    ['Cost', `${formatUsd(job.cost.usd)}${job.cost.final ? '' : ' so far'}`],
    ['Progress', el('span', { id: 'job-progress' }, progressBar(job.progress), ' ', progressText(job.progress))],
    isTransferring(job)
      ? ['Transfer', el('span', { id: 'job-transfer' }, transferBar(job.transfer), ' ', transferText(job.transfer))]
      : ['Last transfer', el('span', { id: 'job-transfer' }, transferText(job.transfer))],
    ['Instance', job.instance ? `${job.instance.type} in ${job.instance.region} (${job.instance.status})` : '–'],
  ];
  return el(
    'dl',
    { class: 'summary' },
    entries.map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]),
  );
}

function errorPanel(job) {
  if (!job.error) return [];
  const { code, message, stage } = job.error;
  return [
    el('h2', {}, 'Error'),
    el('p', { class: 'error', role: 'alert' }, el('code', { id: 'error-code' }, code), ` in ${stage}: `, message),
  ];
}

function outputList(jobId, outputs) {
  if (outputs.length === 0) return el('p', { class: 'muted' }, 'No outputs yet: they are uploaded when training ends.');
  const item = (output) =>
    el(
      'li',
      {},
      el('a', { href: outputUrl(jobId, output.path), download: output.path.split('/').pop() }, output.path),
      ` ${formatBytes(output.size)}`,
    );
  return el('ul', { class: 'files', id: 'outputs' }, outputs.map(item));
}

/**
 * A checkpoint's links older than this (by this browser's clock, which may differ from the API's) are
 * fetched again before the browser follows one: well inside the few minutes they work.
 */
const LINK_FRESH_MS = 60_000;

/**
 * One checkpoint's files, each a link straight to S3 (the API presigns them for a few minutes). A
 * link clicked after that is fetched again first, so a page left open still downloads.
 */
async function showCheckpointFiles(jobId, name, area) {
  let download;
  let fetchedAt = Date.now();
  try {
    download = await getJson(checkpointDownloadPath(jobId, name));
  } catch (error) {
    return area.replaceChildren(el('p', { class: 'error' }, `Could not list the files: ${error.message}`));
  }
  const link = (file) => {
    const anchor = el('a', { href: file.url }, file.path);
    anchor.addEventListener('click', async (event) => {
      // A click with a modifier (new tab, save) keeps the browser's own handling, with the link as it is.
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      if (Date.now() - fetchedAt < LINK_FRESH_MS && Date.now() < Date.parse(download.expiresAt)) return;
      event.preventDefault();
      const fresh = await getJson(checkpointDownloadPath(jobId, name)).catch(() => null);
      const again = fresh?.files.find((candidate) => candidate.path === file.path);
      if (!again) return void showCheckpointFiles(jobId, name, area);
      download = fresh;
      fetchedAt = Date.now();
      anchor.setAttribute('href', again.url);
      window.location.assign(again.url);
    });
    return el('li', {}, anchor, ` ${formatBytes(file.size)}`);
  };
  area.replaceChildren(el('ul', { class: 'files' }, download.files.map(link)));
}

/**
 * The synced checkpoints; each lists its files (with download links) when opened, so a job with many
 * checkpoints costs one request per checkpoint looked at. `opened` keeps them open across re-renders.
 */
function checkpointList(jobId, checkpoints, opened) {
  if (checkpoints.length === 0) return el('p', { class: 'muted' }, 'No checkpoints synced.');
  const item = (checkpoint) => {
    const step = checkpoint.step === undefined ? '' : `, step ${checkpoint.step}`;
    const area = el('div', {}, el('p', { class: 'muted' }, 'Loading the files…'));
    const details = el(
      'details',
      { 'data-checkpoint': checkpoint.name },
      el(
        'summary',
        {},
        el('strong', {}, checkpoint.name),
        ` ${formatBytes(checkpoint.bytes)} in ${checkpoint.files} files${step}, ${formatTime(checkpoint.at)} `,
        el('span', { class: 'muted mono' }, checkpoint.uri),
      ),
      area,
    );
    details.addEventListener('toggle', () => {
      if (!details.open) return void opened.delete(checkpoint.name);
      opened.add(checkpoint.name);
      void showCheckpointFiles(jobId, checkpoint.name, area);
    });
    details.open = opened.has(checkpoint.name);
    return el('li', {}, details);
  };
  return el('ul', { class: 'files', id: 'checkpoints' }, checkpoints.map(item));
}

function notFound(view, error) {
  const missing = error instanceof ApiError && error.status === 404;
  document.title = 'Job not found · inno-train console';
  view.replaceChildren(
    el('h1', {}, missing ? 'Job not found' : 'Could not load the job'),
    el('p', { class: 'error', role: 'alert' }, missing ? 'There is no such job, or it is not one of yours.' : error.message),
    el('p', {}, el('a', { href: '/console' }, 'Back to the jobs')),
  );
}

export async function renderJobPage(view, jobId) {
  let job;
  try {
    job = await getJson(jobPath(jobId));
  } catch (error) {
    return notFound(view, error);
  }
  const summary = el('div', { id: 'summary' });
  const errorArea = el('div', { id: 'job-error' });
  const actions = el('div', { class: 'actions' });
  const streamNote = el('p', { class: 'muted', id: 'stream-note' });
  const files = el('div', { id: 'files' });
  const openedCheckpoints = new Set();
  const timeline = createTimeline();
  const chart = createMetricsChart(jobId);
  const log = createLogView();
  view.replaceChildren(
    el('p', {}, el('a', { href: '/console' }, '← Jobs')),
    el('div', { class: 'page-head' }, el('h1', { id: 'job-name' }, job.name ?? job.id), actions),
    el('section', { class: 'card' }, summary, errorArea, streamNote),
    section('Timeline', 'timeline-card', timeline.root),
    section('Metrics', 'metrics-card', chart.root),
    section('Log', 'log-card', log.root),
    section('Outputs and checkpoints', 'files-card', files),
  );

  function show(next) {
    job = next;
    document.title = `${job.name ?? job.id} · inno-train console`;
    summary.replaceChildren(summaryList(job));
    errorArea.replaceChildren(...errorPanel(job));
    timeline.setJob(job);
    renderCancel();
  }

  function renderCancel() {
    if (isTerminal(job.status)) return actions.replaceChildren();
    if (actions.querySelector('#cancel-job')) return;
    const button = el('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
    button.addEventListener('click', async () => {
      if (!window.confirm(`Cancel job ${job.name ?? job.id}? Its training stops and its instance is given back.`)) return;
      button.disabled = true;
      try {
        show(await cancelJob(jobId));
      } catch (error) {
        button.disabled = false;
        actions.append(el('span', { class: 'error', role: 'alert' }, ` Could not cancel: ${error.message}`));
      }
    });
    actions.replaceChildren(button);
  }

  async function refreshJob() {
    try {
      show(await getJson(jobPath(jobId)));
    } catch {
      // A failed read changes nothing on the page: the next status message or refresh tries again.
    }
  }
  async function loadFiles() {
    const [outputs, checkpoints] = await Promise.all([
      getJson(`${jobPath(jobId)}/outputs?limit=1000`),
      getJson(`${jobPath(jobId)}/checkpoints`),
    ]);
    files.replaceChildren(
      el('h3', {}, 'Outputs'),
      outputList(jobId, outputs.data),
      el('h3', {}, 'Checkpoints'),
      checkpointList(jobId, checkpoints.data, openedCheckpoints),
    );
  }

  show(job);
  void chart.poll();
  void loadFiles().catch((error) => files.replaceChildren(el('p', { class: 'error' }, `Could not list the files: ${error.message}`)));
  const ticker = setInterval(() => {
    if (isTerminal(job.status)) return clearInterval(ticker);
    summary.replaceChildren(summaryList(job));
    timeline.render();
  }, 1000);
  const refresher = setInterval(() => (isTerminal(job.status) ? clearInterval(refresher) : void refreshJob()), JOB_REFRESH_MS);
  const transferRefresher = setInterval(() => {
    if (isTerminal(job.status)) return clearInterval(transferRefresher);
    if (job.status === 'staging_in' || job.status === 'staging_out') void refreshJob();
  }, TRANSFER_REFRESH_MS);
  followStream(jobId, { timeline, chart, log, streamNote, refreshJob, loadFiles });
}

/** The job's live stream: each kind of message updates its part of the page. */
function followStream(jobId, parts) {
  const stream = new EventSource(streamUrl(jobId));
  const data = (message) => JSON.parse(message.data);
  stream.addEventListener('status', () => void parts.refreshJob());
  stream.addEventListener('progress', () => void parts.chart.poll());
  stream.addEventListener('log', (message) => parts.log.append(data(message).text));
  stream.addEventListener('event', (message) => {
    const event = data(message);
    parts.timeline.add(event);
    if (event.type === 'transfer' || event.type === 'settled') void parts.loadFiles().catch(() => undefined);
  });
  stream.addEventListener('end', () => {
    stream.close();
    parts.streamNote.textContent = 'The job is settled: nothing more will change.';
    void parts.refreshJob();
    void parts.chart.poll();
    void parts.loadFiles().catch(() => undefined);
  });
  stream.addEventListener('open', () => {
    parts.streamNote.textContent = 'Live: following the job as it runs.';
  });
  // EventSource reconnects by itself (with Last-Event-ID, so nothing repeats); CLOSED means it gave up.
  stream.addEventListener('error', () => {
    if (stream.readyState === EventSource.CLOSED) parts.streamNote.textContent = 'Live updates stopped; reload the page to resume.';
    else parts.streamNote.textContent = 'Reconnecting…';
  });
}
