// The service panel: pipeline figures and an inline SVG chart of images per second.

import { api } from './api.js';
import { setText, svg } from './dom.js';
import { count } from './format.js';

const W = 320;
const H = 120;
const PAD = { left: 34, right: 6, top: 8, bottom: 18 };

export function servicePanel() {
  const el = (id) => document.getElementById(id);
  const slots = el('svc-slots');
  const downloaders = el('svc-downloaders');
  const jobs = el('svc-jobs');
  const pending = el('svc-pending');
  const rateNow = el('svc-rate');
  const chart = makeChart(el('svc-chart'));

  async function refresh() {
    const figures = await api.service();
    const { gpu_slots: g, downloaders: d } = figures;
    setText(slots, `${count(g.busy)} busy, ${count(g.free)} free`);
    setText(downloaders, `${count(d.busy)} busy of ${count(d.busy + d.idle)}`);
    setText(jobs, `${count(figures.jobs.running)} running, ${count(figures.jobs.queued)} queued`);
    setText(pending, count(figures.images_pending));
    const rates = figures.throughput.images_per_second;
    setText(rateNow, rates.length ? formatRate(rates[rates.length - 1]) : '–');
    chart.update(figures.throughput);
  }

  return { refresh };
}

function makeChart(container) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const title = svg('title');
  const area = svg('path', { class: 'chart-area' });
  const line = svg('path', { class: 'chart-line' });
  const failed = svg('path', { class: 'chart-failed' });
  const top = svg('text', { x: PAD.left - 4, y: PAD.top + 4, class: 'chart-label', 'text-anchor': 'end' });
  const axis = svg('g', { class: 'chart-axis' });
  for (const [text, x, anchor] of [['−10 min', PAD.left, 'start'], ['−5 min', PAD.left + plotW / 2, 'middle'], ['now', W - PAD.right, 'end']]) {
    axis.append(svg('text', { x, y: H - 4, class: 'chart-label', 'text-anchor': anchor }, text));
  }
  const root = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg', 'aria-labelledby': 'svc-chart-title' },
    title,
    svg('line', { x1: PAD.left, x2: W - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH, class: 'chart-grid' }),
    svg('line', { x1: PAD.left, x2: W - PAD.right, y1: PAD.top, y2: PAD.top, class: 'chart-grid' }),
    svg('text', { x: PAD.left - 4, y: PAD.top + plotH, class: 'chart-label', 'text-anchor': 'end' }, '0'),
    area,
    line,
    failed,
    top,
    axis,
  );
  title.setAttribute('id', 'svc-chart-title');
  container.replaceChildren(root);

  function update(series) {
    const values = series.images_per_second || [];
    const fails = series.failed_per_second || [];
    const peak = Math.max(1, ...values);
    const scale = niceCeiling(peak);
    const n = Math.max(values.length, 2);
    const x = (i) => PAD.left + (plotW * i) / (n - 1);
    const y = (v) => PAD.top + plotH - (plotH * v) / scale;
    const points = (list) => list.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
    const d = points(values);
    line.setAttribute('d', d);
    area.setAttribute('d', values.length ? `${d}L${x(values.length - 1).toFixed(1)},${y(0)}L${x(0)},${y(0)}Z` : '');
    failed.setAttribute('d', fails.some((v) => v > 0) ? points(fails) : '');
    setText(top, formatRate(scale));
    const last = values.length ? values[values.length - 1] : 0;
    setText(
      title,
      `Images per second over the last 10 minutes: ${formatRate(last)} in the last ${series.step_seconds} s, peak ${formatRate(Math.max(0, ...values))}.`,
    );
  }

  return { update };
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function formatRate(value) {
  return value >= 10 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '');
}
