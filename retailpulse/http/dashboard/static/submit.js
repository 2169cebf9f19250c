// Submit a job: paste the payload or pick a .json file. The service validates it; a 400
// names the field, shown right under the payload together with the value found there.

import { api, ApiError } from './api.js';
import { h, setChildren } from './dom.js';

const EXAMPLE = {
  count: 1,
  visits: [
    {
      store_id: 'S00339218',
      image_url: ['https://www.gstatic.com/webp/gallery/2.jpg'],
      visit_time: '2024-05-01T10:00:00Z',
    },
  ],
};

export function submitView(main) {
  const payload = h('textarea', {
    id: 'payload',
    name: 'payload',
    rows: 14,
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'payload-help payload-error',
    placeholder: '{"count": 1, "visits": [{"store_id": "...", "image_url": ["https://..."], "visit_time": "..."}]}',
  });
  const file = h('input', { type: 'file', id: 'payload-file', accept: '.json,application/json' });
  const error = h('div', { id: 'payload-error', class: 'field-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Submit job');
  const form = h(
    'form',
    { class: 'submit-form', novalidate: true },
    h('label', { for: 'payload' }, 'Payload (JSON)'),
    h('p', { id: 'payload-help', class: 'muted' }, 'The body of POST /api/submit/: "count" and "visits", each visit with "store_id", "image_url" (a list) and "visit_time".'),
    payload,
    error,
    h(
      'div',
      { class: 'controls' },
      h('label', { for: 'payload-file' }, 'Or pick a .json file'),
      file,
      h('button', { type: 'button', onclick: () => fill(JSON.stringify(EXAMPLE, null, 2)) }, 'Insert an example'),
    ),
    h('div', { class: 'actions' }, submit),
  );
  main.replaceChildren(h('h1', {}, 'Submit a job'), form);

  function fill(text) {
    payload.value = text;
    clearError();
    payload.focus();
  }

  function clearError() {
    error.hidden = true;
    payload.removeAttribute('aria-invalid');
  }

  file.addEventListener('change', async () => {
    const picked = file.files && file.files[0];
    if (picked) fill(await picked.text());
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    submit.disabled = true;
    try {
      const created = await api.submit(payload.value);
      location.hash = `#/jobs/${created.job_id}`;
    } catch (err) {
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });

  function showError(err) {
    const field = err instanceof ApiError ? err.field : null;
    const message = err instanceof ApiError ? err.message : `Could not reach the service (${err.message}).`;
    const parts = [];
    if (field) parts.push(h('strong', { class: 'field-name' }, field), ': ');
    parts.push(message);
    const found = field ? valueAt(payload.value, field) : undefined;
    const where = found === undefined ? null : h('p', {}, 'Value there: ', h('code', {}, found));
    setChildren(error, h('p', {}, parts), where);
    error.dataset.field = field || '';
    error.hidden = false;
    payload.setAttribute('aria-invalid', 'true');
    payload.focus();
  }

  return { refresh: () => Promise.resolve() };
}

/** The JSON text of the value at a field path such as `visits[0].image_url[1]`, if any. */
function valueAt(text, path) {
  if (path === 'body') return undefined; // the whole body: the message says it all
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const steps = path.match(/[^.[\]]+|\[\d+\]/g) || [];
  for (const step of steps) {
    if (value === null || typeof value !== 'object') return undefined;
    const key = step.startsWith('[') ? Number(step.slice(1, -1)) : step;
    if (!(key in value)) return undefined;
    value = value[key];
  }
  const shown = JSON.stringify(value);
  return shown === undefined || shown.length > 300 ? undefined : shown;
}
