// The dashboard's entry point: picks the view from the URL's #fragment and refreshes the
// view and the service panel about once a second (polling the JSON API, nothing else).

import { ApiError, setApiKey } from './api.js';
import { setText } from './dom.js';
import { jobView } from './job.js';
import { jobsView } from './jobs.js';
import { servicePanel } from './service.js';
import { submitView } from './submit.js';

const TICK_MS = 1000;

const main = document.getElementById('main');
const connection = document.getElementById('connection');
const keyForm = document.getElementById('key-form');
const service = servicePanel();
let view = null;
let timer = null;
let generation = 0; // only the newest tick schedules the next, so loops never pile up

function route() {
  const hash = location.hash || '#/';
  if (!hash.startsWith('#/')) return false; // an in-page anchor such as the skip link
  const job = /^#\/jobs\/(\d{1,18})$/.exec(hash);
  if (job) view = jobView(main, Number(job[1]));
  else if (hash === '#/submit') view = submitView(main);
  else view = jobsView(main);
  const section = job ? 'jobs' : hash === '#/submit' ? 'submit' : 'jobs';
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = job ? `Job ${job[1]} · Retail Pulse` : hash === '#/submit' ? 'Submit · Retail Pulse' : 'Jobs · Retail Pulse';
  return true;
}

async function tick() {
  clearTimeout(timer);
  const mine = ++generation;
  const current = view;
  const results = await Promise.allSettled([current ? current.refresh() : null, service.refresh()]);
  const failure = results.find((r) => r.status === 'rejected');
  if (!failure) {
    setText(connection, 'Live');
    connection.className = 'connection connection-ok';
  } else if (failure.reason instanceof ApiError && failure.reason.status === 401) {
    setText(connection, 'API key needed');
    connection.className = 'connection connection-error';
    keyForm.hidden = false;
  } else {
    const why = failure.reason instanceof ApiError ? `HTTP ${failure.reason.status}` : 'unreachable';
    setText(connection, `Service ${why}; retrying`);
    connection.className = 'connection connection-error';
  }
  if (mine !== generation) return;
  // Hidden tabs poll ten times less: nobody is looking.
  timer = setTimeout(tick, document.hidden ? TICK_MS * 10 : TICK_MS);
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  setApiKey(keyForm.elements['api-key'].value.trim());
  keyForm.hidden = true;
  tick();
});

window.addEventListener('hashchange', () => {
  if (route()) {
    main.focus({ preventScroll: true });
    tick();
  }
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) tick();
});

route();
tick();
