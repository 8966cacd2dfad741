// 系统公告: the list (login page, home) and the pop-up of the important ones before 学费缴费.
import { api } from './api.js';
import { h, beijingTime } from './dom.js';

// The current announcements (public route: works before login). Never throws: a page still
// works when they cannot be loaded.
export async function loadAnnouncements() {
  try {
    const res = await api('GET', '/api/announcements', undefined, { auth: false });
    return (res && res.announcements) || [];
  } catch {
    return [];
  }
}

const day = (iso) => beijingTime(iso).slice(0, 10);

function body(text) {
  return h('div', { class: 'ann-body', 'data-testid': 'announcement-body' }, text);
}

// A "系统公告" card: each title opens its text; important ones are marked.
export function announcementList(list, { open = false } = {}) {
  const card = h('section', { class: 'card announcements', 'data-testid': 'announcements', 'aria-labelledby': 'ann-title' },
    h('h2', { id: 'ann-title' }, '系统公告'));
  if (!list.length) {
    card.append(h('p', { class: 'muted', 'data-testid': 'no-announcements' }, '暂无公告。'));
    return card;
  }
  card.append(h('ul', { class: 'ann-list' }, list.map((a, i) => h('li', { 'data-testid': 'announcement', 'data-id': a.id },
    h('details', { open: open && i === 0 },
      h('summary', {},
        a.important ? h('span', { class: 'badge-warn ann-flag', text: '重要' }) : null,
        h('span', { class: 'ann-title', 'data-testid': 'announcement-title' }, a.title),
        h('span', { class: 'ann-date muted' }, day(a.published_at))),
      body(a.body))))));
  return card;
}

const ackKey = (a) => `ann-ack:${a.id}@${a.published_at}`;

// Shows the important announcements not yet acknowledged in this session in a modal that only
// 「我已阅读并知晓」 closes; resolves once they are acknowledged (at once when there are none).
export function acknowledgeImportant(list) {
  const pending = list.filter((a) => a.important && !sessionStorage.getItem(ackKey(a)));
  if (!pending.length) return Promise.resolve();
  return new Promise((resolve) => {
    const ack = h('button', { type: 'button', class: 'btn', 'data-testid': 'announcement-ack' }, '我已阅读并知晓');
    const dialog = h('dialog', { class: 'modal', 'data-testid': 'announcement-modal', 'aria-labelledby': 'modal-title' },
      h('h2', { id: 'modal-title' }, '系统公告'),
      h('p', { class: 'muted' }, '缴费前请阅读以下重要公告：'),
      pending.map((a) => h('article', { class: 'modal-item', 'data-testid': 'modal-announcement' },
        h('h3', {}, a.title, h('span', { class: 'ann-date muted' }, day(a.published_at))),
        body(a.body))),
      h('div', { class: 'actions' }, ack));
    // Esc does not dismiss it: it must be acknowledged.
    dialog.addEventListener('cancel', (ev) => ev.preventDefault());
    ack.addEventListener('click', () => {
      for (const a of pending) sessionStorage.setItem(ackKey(a), '1');
      dialog.close();
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    ack.focus();
  });
}
