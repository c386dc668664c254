/**
 * The job's metric series (loss and every other number its script prints) against step, drawn with
 * uPlot (loaded by index.html as the global `uPlot`, served from this origin). Points are read from
 * /metrics after the last step already drawn, so the chart grows without reading the series again.
 */
import { getJson, jobPath } from './api.js';
import { el, formatValue } from './format.js';

const COLORS = ['#2750b8', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0e7490', '#a16207', '#be185d'];
const HEIGHT = 320;
const PAGE_LIMIT = 1000;

const isLossLike = (name) => /loss/i.test(name);

/** Bookkeeping more than metrics (a constant, a staircase): in the legend, hidden until clicked. */
const HIDDEN_AT_FIRST = new Set(['total_steps', 'totalSteps', 'epoch']);

/** Loss-like series first (they share the left axis), then the others by name. */
function orderedNames(names) {
  return [...names].sort((a, b) => Number(isLossLike(b)) - Number(isLossLike(a)) || a.localeCompare(b));
}

/**
 * Loss-like series share one scale and the left axis. Every other series (accuracy, learning rate,
 * epoch, ...) gets a scale of its own, so a learning rate of 0.0003 is not a flat line under a loss of
 * 2: its values show in the legend as the cursor moves, and a click on its name hides it.
 */
function chartOptions(names, width) {
  const primary = names.find(isLossLike) ?? names[0];
  const scaleOf = (name) => (isLossLike(name) ? 'loss' : `series:${name}`);
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false } },
    axes: [{ label: 'step' }, { scale: scaleOf(primary), label: isLossLike(primary) ? 'loss' : primary }],
    series: [
      { label: 'step' },
      ...names.map((name, index) => ({
        label: name,
        scale: scaleOf(name),
        stroke: COLORS[index % COLORS.length],
        width: 2,
        spanGaps: true,
        show: !HIDDEN_AT_FIRST.has(name),
        value: (_plot, value) => (value === null || value === undefined ? '–' : formatValue(value)),
      })),
    ],
  };
}

export function createMetricsChart(jobId) {
  const plotArea = el('div', { class: 'plot' });
  const caption = el(
    'p',
    { class: 'muted', id: 'metrics-caption' },
    'No metrics yet. Each line the script prints as a JSON object with a numeric "step" is one point.',
  );
  const root = el('div', { class: 'chart', id: 'metrics-chart', 'data-points': '0' }, plotArea, caption);
  const steps = [];
  const seriesByName = new Map();
  let lastStep;
  let stride = 1;
  let plot = null;
  let plottedNames = '';

  function addPoints(points) {
    for (const point of points) {
      steps.push(point.step);
      for (const [name, series] of seriesByName) series.push(point.values[name] ?? null);
      for (const [name, value] of Object.entries(point.values)) {
        if (!seriesByName.has(name)) seriesByName.set(name, [...new Array(steps.length - 1).fill(null), value]);
      }
    }
  }

  const width = () => Math.max(320, plotArea.clientWidth || root.clientWidth || 800);

  function draw() {
    root.dataset.points = String(steps.length);
    if (steps.length === 0) return;
    const thinned = stride > 1 ? ` (the service keeps every ${stride}th record of this long run)` : '';
    caption.textContent = `${steps.length} points, up to step ${steps[steps.length - 1]}${thinned}. Click a name below to hide or show its series; each series but loss has its own scale.`;
    const names = orderedNames(seriesByName.keys());
    const data = [steps, ...names.map((name) => seriesByName.get(name))];
    if (plot && plottedNames === names.join('\n')) return plot.setData(data);
    // A series that appears mid-run needs a new chart: uPlot's series are fixed at creation.
    plot?.destroy();
    plottedNames = names.join('\n');
    plot = new window.uPlot(chartOptions(names, width()), data, plotArea);
  }

  async function readNewPoints() {
    for (;;) {
      const query = new URLSearchParams({ limit: String(PAGE_LIMIT) });
      if (lastStep !== undefined) query.set('after', String(lastStep));
      const page = await getJson(`${jobPath(jobId)}/metrics?${query}`);
      stride = page.stride;
      addPoints(page.data);
      if (page.data.length > 0) lastStep = page.data[page.data.length - 1].step;
      if (!page.hasMore || page.data.length === 0) return;
    }
  }

  // One read at a time; a wake-up during a read asks for one more read after it, not a second reader.
  let reading = null;
  let readAgain = false;
  function poll() {
    if (reading) {
      readAgain = true;
      return reading;
    }
    reading = (async () => {
      do {
        readAgain = false;
        await readNewPoints();
        draw();
      } while (readAgain);
    })()
      .catch((error) => {
        caption.textContent = `Could not read the metrics: ${error.message}`;
      })
      .finally(() => {
        reading = null;
      });
    return reading;
  }

  window.addEventListener('resize', () => plot?.setSize({ width: width(), height: HEIGHT }));
  return { root, poll };
}
