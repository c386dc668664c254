/** Small helpers shared by the pages. Every text goes into the page as textContent, never as HTML. */

export const JOB_STATUSES = ['queued', 'provisioning', 'staging_in', 'training', 'staging_out', 'succeeded', 'failed', 'cancelled'];
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export const isTerminal = (status) => TERMINAL.has(status);

/** An element with attributes (`class`, `href`, data-*, ...) and children (nodes or text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

export function formatTime(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export const formatUsd = (usd) => (typeof usd === 'number' ? `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}` : '–');

export function formatBytes(bytes) {
  if (typeof bytes !== 'number') return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A transfer rate in formatBytes' units per second ("171.7 MiB/s"); the API's rate may be fractional. */
export const formatRate = (bytesPerSecond) => `${formatBytes(Math.round(Math.max(bytesPerSecond, 0)))}/s`;

/** Whether these transfer figures are the running stage's own (not the ones an earlier stage left). */
export const isTransferring = (job) => job.transfer?.stage === job.status;

/** "staging in · 1.2 GiB / 2.0 GiB · 171.7 MiB/s · 3 / 5 files", from the job's `transfer`. */
export function transferText(transfer) {
  if (!transfer) return '–';
  const total = transfer.bytesTotal > 0 ? formatBytes(transfer.bytesTotal) : '?';
  const files = `${transfer.filesDone} / ${transfer.files} files`;
  return [
    transfer.stage.replace('_', ' '),
    `${formatBytes(transfer.bytesDone)} / ${total}`,
    formatRate(transfer.bytesPerSecond),
    files,
  ].join(' · ');
}

/** A <progress> bar of the bytes done, when the transfer knows its total. */
export function transferBar(transfer) {
  if (!transfer || !(transfer.bytesTotal > 0)) return null;
  return el('progress', { max: transfer.bytesTotal, value: Math.min(transfer.bytesDone, transfer.bytesTotal) });
}

/** A number as a metric reads best: integers as they are, others to 4 significant digits. */
export const formatValue = (value) => (Number.isInteger(value) ? String(value) : Number(value).toPrecision(4));

/** How long the job has run: from submission to its end, or to now while it runs. */
export const jobDurationMs = (job) => (job.finishedAt ? Date.parse(job.finishedAt) : Date.now()) - Date.parse(job.createdAt);

export const statusBadge = (status) => el('span', { class: `status status-${status}`, 'data-status': status }, status.replace('_', ' '));

/** "step 120 / 300 · loss 0.4123", from the job's latest metrics record. */
export function progressText(progress) {
  if (!progress) return '–';
  const parts = [];
  if (typeof progress.step === 'number')
    parts.push(`step ${progress.step}${typeof progress.totalSteps === 'number' ? ` / ${progress.totalSteps}` : ''}`);
  if (typeof progress.epoch === 'number') parts.push(`epoch ${formatValue(progress.epoch)}`);
  if (typeof progress.loss === 'number') parts.push(`loss ${formatValue(progress.loss)}`);
  return parts.join(' · ') || '–';
}

/** A <progress> bar when the job says how many steps it will take. */
export function progressBar(progress) {
  const total = progress?.total_steps ?? progress?.totalSteps;
  if (typeof progress?.step !== 'number' || typeof total !== 'number' || total <= 0) return null;
  return el('progress', { max: total, value: Math.min(progress.step, total) });
}
