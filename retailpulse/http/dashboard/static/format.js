// Turning the API's numbers and timestamps into short readable text.

const pad = (n) => String(n).padStart(2, '0');

/** Local date and time of an ISO timestamp, e.g. "2024-05-01 14:03:09". */
export function localTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '–';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** Seconds a job has run: until it finished, or until now while it runs. */
export function jobSeconds(job, now = Date.now()) {
  const start = Date.parse(job.submitted_at);
  if (Number.isNaN(start)) return null;
  const end = job.finished_at ? Date.parse(job.finished_at) : now;
  return Math.max(0, (end - start) / 1000);
}

/** "0.42 s", "12.3 s", "4 min 05 s", "2 h 07 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`;
}

/** Images per second over the job's life so far. */
export function rate(job, now = Date.now()) {
  const seconds = jobSeconds(job, now);
  if (!seconds || !job.progress) return '–';
  const value = job.progress.done / seconds;
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export const count = (n) => Number(n).toLocaleString('en-US');

/** What a job is doing, as one word: queued, running, completed, failed or cancelled. */
export function jobState(job) {
  if (job.status === 'ongoing') return job.queued ? 'queued' : 'running';
  return job.status;
}
