// Small pieces used by several views: the status badge and the progress bar.

import { h, setText } from './dom.js';
import { count, jobState } from './format.js';

const KNOWN = new Set(['queued', 'running', 'completed', 'failed', 'cancelled']);

/** A badge whose text says the state; the colour only repeats it. */
export function badge() {
  return h('span', { class: 'badge' });
}

export function updateBadge(el, job) {
  const state = jobState(job);
  setText(el, state);
  el.className = `badge badge-${KNOWN.has(state) ? state : 'unknown'}`;
}

/** A bar of measured (green), failed (red) and waiting (grey) images, with the numbers. */
export function progressBar() {
  const measured = h('span', { class: 'bar-measured' });
  const failed = h('span', { class: 'bar-failed' });
  const bar = h('div', { class: 'bar', role: 'img' }, measured, failed);
  const label = h('span', { class: 'bar-text' });
  const el = h('div', { class: 'progress' }, bar, label);
  el.parts = { bar, measured, failed, label };
  return el;
}

export function updateProgress(el, progress) {
  const { total = 0, done = 0, failed = 0 } = progress || {};
  const { bar, measured, failed: failedPart, label } = el.parts;
  const share = (n) => (total > 0 ? `${(100 * n) / total}%` : '0%');
  measured.style.width = share(done - failed);
  failedPart.style.width = share(failed);
  const text = `${count(done)} / ${count(total)} done` + (failed ? `, ${count(failed)} failed` : '');
  setText(label, text);
  bar.setAttribute('aria-label', text);
}
