/** The jobs list: newest first, filtered by status, refreshed while the page is open. */
import { getJson } from './api.js';
import {
  el,
  formatDuration,
  formatTime,
  formatUsd,
  isTerminal,
  JOB_STATUSES,
  jobDurationMs,
  progressBar,
  progressText,
  statusBadge,
} from './format.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 3000;

/** The status filter as the URL keeps it (`?status=training`), so a filtered list can be bookmarked. */
function statusFilterOf(search) {
  const status = new URLSearchParams(search).get('status') ?? '';
  return JOB_STATUSES.includes(status) ? status : '';
}

function filterForm(selected, onChange) {
  const select = el(
    'select',
    { id: 'status-filter', name: 'status' },
    el('option', { value: '' }, 'every status'),
    JOB_STATUSES.map((status) => el('option', { value: status, selected: status === selected }, status.replace('_', ' '))),
  );
  select.addEventListener('change', () => onChange(select.value));
  return el('form', { class: 'filters', role: 'search' }, el('label', { for: 'status-filter' }, 'Status '), select);
}

function jobRow(job) {
  const name = job.name ?? job.id;
  return el(
    'tr',
    { 'data-job-id': job.id },
    el('td', {}, el('a', { href: `/console/jobs/${encodeURIComponent(job.id)}` }, name), el('div', { class: 'muted mono' }, job.id)),
    el('td', {}, statusBadge(job.status)),
    el('td', {}, formatTime(job.createdAt)),
    el('td', { class: 'num' }, formatDuration(jobDurationMs(job))),
    el('td', { class: 'num' }, formatUsd(job.cost?.usd)),
    el('td', {}, progressBar(job.progress), el('div', { class: 'muted' }, progressText(job.progress))),
  );
}

function jobsTable(jobs) {
  if (jobs.length === 0) return el('p', { class: 'muted', id: 'no-jobs' }, 'No jobs here yet.');
  const head = ['Job', 'Status', 'Created', 'Duration', 'Cost', 'Progress'].map((title) => el('th', { scope: 'col' }, title));
  return el('table', { class: 'jobs', id: 'jobs' }, el('thead', {}, el('tr', {}, head)), el('tbody', {}, jobs.map(jobRow)));
}

export function renderJobsPage(view) {
  let status = statusFilterOf(window.location.search);
  let timer = null;
  const listArea = el('div', { id: 'jobs-area' }, el('p', { class: 'muted' }, 'Loading…'));
  const note = el('p', { class: 'muted' });

  async function refresh() {
    clearTimeout(timer);
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (status) query.set('status', status);
    try {
      const page = await getJson(`/jobs?${query}`);
      listArea.replaceChildren(jobsTable(page.data));
      note.textContent = page.hasMore ? `The ${PAGE_SIZE} newest jobs are shown.` : '';
      // A list of finished jobs changes only when a new one comes: refresh less often then.
      const anyRunning = page.data.some((job) => !isTerminal(job.status));
      timer = setTimeout(refresh, anyRunning || page.data.length === 0 ? REFRESH_MS : REFRESH_MS * 4);
    } catch (error) {
      listArea.replaceChildren(el('p', { class: 'error', role: 'alert' }, `Could not load the jobs: ${error.message}`));
      timer = setTimeout(refresh, REFRESH_MS * 2);
    }
  }

  const onFilter = (value) => {
    status = value;
    const url = new URL(window.location.href);
    if (value) url.searchParams.set('status', value);
    else url.searchParams.delete('status');
    window.history.replaceState(null, '', url);
    listArea.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    void refresh();
  };

  document.title = 'Jobs · inno-train console';
  view.replaceChildren(el('div', { class: 'page-head' }, el('h1', {}, 'Jobs'), filterForm(status, onFilter)), listArea, note);
  void refresh();
}
