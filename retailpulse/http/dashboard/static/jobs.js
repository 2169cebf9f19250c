// The jobs list: newest first, a page of /api/jobs at a time, refreshed on every tick.

import { api } from './api.js';
import { h, setText } from './dom.js';
import { duration, jobSeconds, jobState, localTime, rate } from './format.js';
import { badge, progressBar, updateBadge, updateProgress } from './widgets.js';

const FILTERS = ['all', 'running', 'queued', 'completed', 'failed', 'cancelled'];
const PAGE_SIZES = [10, 25, 50, 100];

// Kept across visits to other views, so "back to jobs" returns to the same page and filter.
const state = { filter: 'all', pageSize: 25, cursors: [null], next: null };

export function jobsView(main) {
  const select = (id, label, options, value, onchange) => [
    h('label', { for: id }, label),
    h(
      'select',
      { id, onchange },
      options.map((o) => h('option', { value: o, selected: String(o) === String(value) }, o)),
    ),
  ];
  const rows = new Map();
  const tbody = h('tbody');
  const summary = h('p', { class: 'muted', id: 'jobs-summary', role: 'status' });
  const newer = h('button', { type: 'button', onclick: () => move(-1) }, '← Newer');
  const older = h('button', { type: 'button', onclick: () => move(1) }, 'Older →');
  const pageLabel = h('span', { class: 'muted' });

  main.replaceChildren(
    h('div', { class: 'title-row' }, h('h1', {}, 'Jobs'), h('a', { class: 'button', href: '#/submit' }, 'Submit a job')),
    h(
      'div',
      { class: 'controls' },
      select('status-filter', 'Status', FILTERS, state.filter, (e) => {
        state.filter = e.target.value;
        refresh();
      }),
      select('page-size', 'Per page', PAGE_SIZES, state.pageSize, (e) => {
        state.pageSize = Number(e.target.value);
        state.cursors = [null];
        refresh();
      }),
    ),
    h(
      'table',
      { class: 'jobs', 'aria-describedby': 'jobs-summary' },
      h(
        'thead',
        {},
        h('tr', {}, ['Job', 'Status', 'Progress', 'Submitted', 'Duration', 'Images/s'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      tbody,
    ),
    summary,
    h('nav', { class: 'pager', 'aria-label': 'Pages of jobs' }, newer, pageLabel, older),
  );

  function move(step) {
    if (step > 0 && state.next !== null) state.cursors.push(state.next);
    if (step < 0 && state.cursors.length > 1) state.cursors.pop();
    refresh();
  }

  function row(job) {
    const link = h('a', { href: `#/jobs/${job.job_id}` }, `Job ${job.job_id}`);
    const cells = {
      badge: badge(),
      progress: progressBar(),
      submitted: h('time'),
      duration: h('span'),
      rate: h('span'),
    };
    const td = (label, child) => h('td', { 'data-label': label }, child);
    const tr = h(
      'tr',
      { 'data-job': job.job_id },
      td('Job', link),
      td('Status', cells.badge),
      td('Progress', cells.progress),
      td('Submitted', cells.submitted),
      td('Duration', cells.duration),
      td('Images/s', cells.rate),
    );
    tr.cells_ = cells;
    return tr;
  }

  function update(tr, job) {
    const c = tr.cells_;
    updateBadge(c.badge, job);
    updateProgress(c.progress, job.progress);
    setText(c.submitted, localTime(job.submitted_at));
    c.submitted.setAttribute('datetime', job.submitted_at);
    setText(c.duration, duration(jobSeconds(job)));
    setText(c.rate, rate(job));
  }

  async function refresh() {
    const after = state.cursors[state.cursors.length - 1];
    const page = await api.jobs(state.pageSize, after);
    state.next = page.next;
    const shown = page.jobs.filter((j) => state.filter === 'all' || jobState(j) === state.filter);
    const keep = new Set(shown.map((j) => j.job_id));
    for (const [id, tr] of rows) {
      if (!keep.has(id)) {
        tr.remove();
        rows.delete(id);
      }
    }
    // Insert new rows where they belong without moving existing ones (a moved row
    // would lose the keyboard focus of a link in it).
    shown.forEach((job, index) => {
      let tr = rows.get(job.job_id);
      if (!tr) {
        tr = row(job);
        rows.set(job.job_id, tr);
      }
      update(tr, job);
      if (tbody.children[index] !== tr) tbody.insertBefore(tr, tbody.children[index] || null);
    });
    const filtered = state.filter === 'all' ? '' : ` (${shown.length} ${state.filter} on this page)`;
    setText(
      summary,
      page.jobs.length === 0 && state.cursors.length === 1
        ? 'No jobs yet. Submit one to see it here.'
        : `${page.jobs.length} ${page.jobs.length === 1 ? 'job' : 'jobs'} on this page${filtered}.`,
    );
    setText(pageLabel, `Page ${state.cursors.length}`);
    newer.disabled = state.cursors.length === 1;
    older.disabled = state.next === null;
  }

  return { refresh };
}
