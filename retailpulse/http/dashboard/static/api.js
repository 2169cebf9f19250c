// The JSON API, as any client calls it. An API key, when the service wants one, is kept
// for this browser tab only (sessionStorage) and sent as a bearer token.

const KEY = 'retailpulse.apiKey';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || null;
  }
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** The path with its query string; parameters that are null or undefined are left out. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== false) query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function call(method, path, params, body) {
  const init = { method, headers: headers({ Accept: 'application/json' }), cache: 'no-store' };
  if (body !== undefined) {
    init.body = body;
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(url(path, params), init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  jobs: (limit, after) => call('GET', '/api/jobs', { limit, after }),
  status: (jobid) => call('GET', '/api/status', { jobid }),
  results: (jobid, params = {}) => call('GET', '/api/results', { jobid, ...params }),
  cancel: (jobid) => call('POST', '/api/cancel', { jobid }),
  retry: (jobid) => call('POST', '/api/retry', { jobid }),
  submit: (text) => call('POST', '/api/submit/', {}, text),
  service: () => call('GET', '/api/service'),
};

/** Where the CSV of a job's results is served (once the API has `format=csv`). */
export const csvUrl = (jobid) => url('/api/results', { jobid, format: 'csv' });
