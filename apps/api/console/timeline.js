/**
 * The job's stages as a timeline: every status it went through (from its `status` events), when it
 * entered each and how long it stayed, as a bar and a table; and every event, folded away below.
 */
import { el, formatDuration, formatTime, isTerminal, statusBadge } from './format.js';

const EVENTS_SHOWN = 500;

export function createTimeline() {
  const bar = el('div', { class: 'timeline-bar', 'aria-hidden': 'true' });
  const rows = el('tbody');
  const head = el(
    'tr',
    {},
    ['Stage', 'Entered', 'Duration'].map((title) => el('th', { scope: 'col' }, title)),
  );
  const eventList = el('ol', { class: 'events' });
  const root = el(
    'div',
    { id: 'timeline' },
    bar,
    el('table', { class: 'stages', id: 'stages' }, el('thead', {}, head), rows),
    el('details', {}, el('summary', {}, 'Every event'), eventList),
  );
  const statusMarks = [];
  let job = null;

  /** Each stage with its start and end (ms); the current one ends now, a final status has no length. */
  function stages() {
    const marks = [{ status: 'queued', at: Date.parse(job.createdAt) }, ...statusMarks];
    const merged = marks.filter((mark, index) => index === 0 || mark.status !== marks[index - 1].status);
    const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
    return merged.map((mark, index) => {
      const next = merged[index + 1];
      return { ...mark, until: next ? next.at : isTerminal(mark.status) ? null : end };
    });
  }

  function render() {
    if (!job) return;
    const list = stages();
    bar.replaceChildren(
      ...list
        .filter((stage) => stage.until !== null)
        .map((stage) => {
          const segment = el('div', { class: `segment status-${stage.status}`, title: stage.status }, stage.status.replace('_', ' '));
          // A style property, not a style attribute: the page's CSP allows no inline style attributes.
          segment.style.flexGrow = String(Math.max(1, stage.until - stage.at));
          return segment;
        }),
    );
    rows.replaceChildren(
      ...list.map((stage) =>
        el(
          'tr',
          {},
          el('td', {}, statusBadge(stage.status)),
          el('td', {}, formatTime(new Date(stage.at).toISOString())),
          el('td', { class: 'num' }, stage.until === null ? 'final' : formatDuration(stage.until - stage.at)),
        ),
      ),
    );
  }

  function add(event) {
    if (event.type === 'status' && typeof event.data?.status === 'string') {
      statusMarks.push({ status: event.data.status, at: Date.parse(event.at) });
      render();
    }
    const text = `${formatTime(event.at)} · ${event.type} · ${event.stage} · ${event.message}`;
    eventList.append(el('li', { class: `event event-${event.type}` }, text));
    while (eventList.childElementCount > EVENTS_SHOWN) eventList.firstElementChild.remove();
  }

  function setJob(next) {
    job = next;
    render();
  }

  return { root, add, setJob, render };
}
