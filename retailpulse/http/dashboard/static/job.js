// One job's view: status, progress, failed stores, its images a page at a time, CSV, cancel,
// and retrying a failed job's failed images.
//
// Written against /api/results with `limit`/`after`/`next`, `failed=true`, `format=csv` and
// `store_name`/`area_code` per image; when an answer has no `next` (an API without paging)
// the whole list came back, and it is paged, filtered and turned into CSV here instead.

import { api, ApiError, csvUrl } from './api.js';
import { h, safeLink, setChildren, setText } from './dom.js';
import { count, duration, jobSeconds, localTime, rate } from './format.js';
import { badge, progressBar, updateBadge, updateProgress } from './widgets.js';

const PAGE = 50;
const FULL_LIST_EVERY = 3; // ticks between reloads of a whole list from an API without paging

export function jobView(main, jobId) {
  const title = h('h1', {}, `Job ${jobId}`);
  const state = badge();
  const progress = progressBar();
  const facts = h('dl', { class: 'facts' });
  const notice = h('p', { class: 'notice', role: 'status', hidden: true });
  const cancelButton = h('button', { type: 'button', class: 'danger', hidden: true, onclick: askCancel }, 'Cancel job…');
  const retryButton = h('button', { type: 'button', hidden: true, onclick: doRetry }, 'Retry failed images');
  const csvLink = h('a', { class: 'button', href: csvUrl(jobId), download: `job-${jobId}.csv` }, 'Download CSV');
  const storesSection = h('section', { 'aria-labelledby': 'stores-title', hidden: true });
  const failedOnly = h('input', { type: 'checkbox', id: 'failed-only', onchange: () => resetImages() });
  const imageRows = h('tbody');
  const imageSummary = h('p', { class: 'muted', id: 'images-summary', role: 'status' });
  const prev = h('button', { type: 'button', onclick: () => movePage(-1) }, '← Previous');
  const next = h('button', { type: 'button', onclick: () => movePage(1) }, 'Next →');
  const pageLabel = h('span', { class: 'muted' });
  const dialog = cancelDialog(jobId, doCancel);

  main.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All jobs')),
    h('div', { class: 'title-row' }, title, state, h('div', { class: 'actions' }, cancelButton, retryButton, csvLink)),
    notice,
    progress,
    facts,
    storesSection,
    h(
      'section',
      { 'aria-labelledby': 'images-title' },
      h('h2', { id: 'images-title' }, 'Images'),
      h('div', { class: 'controls' }, failedOnly, h('label', { for: 'failed-only' }, 'Failed only')),
      h(
        'table',
        { class: 'images', 'aria-describedby': 'images-summary' },
        h('thead', {}, h('tr', {}, ['#', 'Store', 'Image URL', 'Size', 'Perimeter', 'Outcome'].map((t) => h('th', { scope: 'col' }, t)))),
        imageRows,
      ),
      imageSummary,
      h('nav', { class: 'pager', 'aria-label': 'Pages of images' }, prev, pageLabel, next),
    ),
    dialog,
  );

  let status = null;
  let paged = null; // true: the API pages; false: it sent the whole list; null: not known yet
  let cursors = [null];
  let nextCursor = null;
  let fullList = null; // every image, from an API without paging
  let localPage = 0;
  let ticks = 0;
  let imagesLoadedFinal = false;
  const storeInfo = new Map(); // store_id -> {store_name, area_code}, from the images seen

  function showNotice(text, kind = 'info') {
    notice.hidden = !text;
    notice.className = `notice notice-${kind}`;
    setText(notice, text || '');
  }

  function renderStatus() {
    updateBadge(state, status);
    updateProgress(progress, status.progress);
    cancelButton.hidden = status.status !== 'ongoing';
    retryButton.hidden = status.status !== 'failed';
    const fact = (term, value) => h('div', {}, h('dt', {}, term), h('dd', {}, value));
    setChildren(
      facts,
      fact('Submitted', localTime(status.submitted_at)),
      fact('Finished', status.finished_at ? localTime(status.finished_at) : '–'),
      fact('Duration', duration(jobSeconds(status))),
      fact('Images/s', rate(status)),
      fact('Images', `${count(status.progress.total)} (${count(status.progress.failed)} failed)`),
    );
    renderStores();
  }

  function renderStores() {
    const errors = status.error || [];
    storesSection.hidden = errors.length === 0;
    if (errors.length === 0) return;
    const named = (e, key) => e[key] ?? storeInfo.get(e.store_id)?.[key] ?? null;
    const withNames = errors.some((e) => named(e, 'store_name') !== null || named(e, 'area_code') !== null);
    const heads = withNames ? ['Store', 'Name', 'Area', 'Reason'] : ['Store', 'Reason'];
    setChildren(
      storesSection,
      h('h2', { id: 'stores-title' }, `Failed stores (${errors.length})`),
      h(
        'table',
        { class: 'stores' },
        h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)))),
        h(
          'tbody',
          {},
          errors.map((e) =>
            h(
              'tr',
              {},
              h('td', { 'data-label': 'Store' }, e.store_id),
              withNames && h('td', { 'data-label': 'Name' }, named(e, 'store_name') ?? '–'),
              withNames && h('td', { 'data-label': 'Area' }, named(e, 'area_code') ?? '–'),
              h('td', { 'data-label': 'Reason', class: 'reason' }, e.error),
            ),
          ),
        ),
      ),
    );
  }

  function outcome(image) {
    if (image.error !== null && image.error !== undefined) return h('span', { class: 'outcome-failed' }, 'failed: ', image.error);
    if (image.width !== null && image.width !== undefined) return h('span', { class: 'outcome-ok' }, 'measured');
    return h('span', { class: 'muted' }, status && status.status !== 'ongoing' ? 'not processed' : 'waiting');
  }

  function renderImages(images, firstNumber) {
    for (const image of images) {
      if (image.store_name !== undefined) storeInfo.set(image.store_id, image);
    }
    setChildren(
      imageRows,
      images.map((image, i) => {
        const store = [image.store_id];
        if (image.store_name) store.push(h('br'), h('span', { class: 'muted' }, image.store_name, image.area_code ? ` · ${image.area_code}` : ''));
        return h(
          'tr',
          {},
          h('td', { 'data-label': '#' }, image.number ?? firstNumber + i),
          h('td', { 'data-label': 'Store', class: 'store' }, store),
          h('td', { 'data-label': 'Image URL', class: 'url' }, safeLink(image.image_url)),
          h('td', { 'data-label': 'Size' }, image.width !== null && image.width !== undefined ? `${image.width} × ${image.height}` : '–'),
          h('td', { 'data-label': 'Perimeter' }, image.perimeter ?? '–'),
          h('td', { 'data-label': 'Outcome' }, outcome(image)),
        );
      }),
    );
    if (images.length === 0) imageRows.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, failedOnly.checked ? 'No failed images.' : 'No images.')));
    renderStores();
  }

  async function loadImages() {
    const after = cursors[cursors.length - 1];
    const answer = await api.results(jobId, { limit: PAGE, after, failed: failedOnly.checked || null });
    paged = 'next' in answer;
    if (paged) {
      nextCursor = answer.next;
      renderImages(answer.images, (cursors.length - 1) * PAGE + 1);
      setText(imageSummary, `${answer.images.length} images on this page${failedOnly.checked ? ' (failed only)' : ''}.`);
      setText(pageLabel, `Page ${cursors.length}`);
      prev.disabled = cursors.length === 1;
      next.disabled = nextCursor === null;
    } else {
      csvLink.href = '#';
      csvLink.removeAttribute('download');
      fullList = answer.images.map((image, i) => ({ ...image, number: i + 1 }));
      renderLocalPage();
    }
  }

  function renderLocalPage() {
    const list = failedOnly.checked ? fullList.filter((i) => i.error !== null) : fullList;
    const pages = Math.max(1, Math.ceil(list.length / PAGE));
    localPage = Math.min(localPage, pages - 1);
    renderImages(list.slice(localPage * PAGE, (localPage + 1) * PAGE), localPage * PAGE + 1);
    setText(imageSummary, `${count(list.length)} ${failedOnly.checked ? 'failed images' : 'images'}.`);
    setText(pageLabel, `Page ${localPage + 1} of ${pages}`);
    prev.disabled = localPage === 0;
    next.disabled = localPage >= pages - 1;
  }

  function movePage(step) {
    if (paged === false) {
      localPage = Math.max(0, localPage + step);
      renderLocalPage();
      return;
    }
    if (step > 0 && nextCursor !== null) cursors.push(nextCursor);
    if (step < 0 && cursors.length > 1) cursors.pop();
    loadImages().catch(report);
  }

  function resetImages() {
    cursors = [null];
    localPage = 0;
    if (paged === false && fullList) renderLocalPage();
    else loadImages().catch(report);
  }

  function report(error) {
    showNotice(error instanceof ApiError ? `The service answered: ${error.message}` : `Could not reach the service (${error.message}).`, 'error');
  }

  // The CSV of an API without `format=csv`, built here from the whole list.
  csvLink.addEventListener('click', (event) => {
    if (paged !== false || !fullList) return;
    event.preventDefault();
    const columns = ['store_id', 'image_url', 'width', 'height', 'perimeter', 'error'];
    const cell = (v) => (v === null || v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);
    const lines = [columns.join(','), ...fullList.map((i) => columns.map((c) => cell(i[c])).join(','))];
    const blob = new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' });
    const link = h('a', { href: URL.createObjectURL(blob), download: `job-${jobId}.csv` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });

  function askCancel() {
    dialog.showModal();
  }

  async function doCancel() {
    try {
      const answer = await api.cancel(jobId);
      showNotice(
        answer.cancelled
          ? 'Cancelled: no new images are handed out; those in flight finish, then the job ends.'
          : 'The job had already ended; nothing to cancel.',
      );
      status = answer;
      renderStatus();
    } catch (error) {
      report(error);
    }
  }

  async function doRetry() {
    retryButton.disabled = true;
    try {
      status = await api.retry(jobId);
      showNotice('Retrying: the failed images are downloaded again; measured ones keep their results.');
      imagesLoadedFinal = false;
      renderStatus();
      resetImages();
    } catch (error) {
      report(error);
    } finally {
      retryButton.disabled = false;
    }
  }

  async function refresh() {
    try {
      status = await api.status(jobId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        if (!title.isConnected) return; // the user has moved on to another view
        setChildren(main, h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All jobs')), h('h1', {}, `Job ${jobId}`), h('p', { class: 'notice notice-error' }, `There is no job ${jobId} (never submitted, or removed after the retention period).`));
        return;
      }
      throw error;
    }
    renderStatus();
    const ongoing = status.status === 'ongoing';
    // Images: every tick while the job runs (an API without paging: every few ticks), and
    // once more after it ends; then they no longer change.
    if (imagesLoadedFinal) return;
    if (!ongoing) imagesLoadedFinal = true;
    if (paged === false && ongoing && ticks++ % FULL_LIST_EVERY !== 0) return;
    await loadImages();
  }

  return { refresh };
}

function cancelDialog(jobId, onConfirm) {
  const dialog = h('dialog', { 'aria-labelledby': 'cancel-title', class: 'confirm' });
  const keep = h('button', { type: 'button', onclick: () => dialog.close() }, 'Keep running');
  const confirm = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      onclick: () => {
        dialog.close();
        onConfirm();
      },
    },
    `Cancel job ${jobId}`,
  );
  dialog.append(
    h('h2', { id: 'cancel-title' }, `Cancel job ${jobId}?`),
    h('p', {}, 'No more images are handed out. Images already in flight finish and keep their results. This cannot be undone.'),
    h('div', { class: 'actions' }, keep, confirm),
  );
  return dialog;
}
