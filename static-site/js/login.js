// Login page (index.html).
import { api } from './api.js';
import { h, setMessage, halfWidth } from './dom.js';
import { initPublicPage } from './layout.js';
import { announcementList, loadAnnouncements } from './announcements.js';

initPublicPage();
loadAnnouncements().then((list) => {
  document.getElementById('announcements-slot').replaceChildren(announcementList(list));
});
// 手机访问: the site's address as a QR code (drawn by the server), for a phone to scan.
api('GET', '/api/site', undefined, { auth: false }).then((site) => {
  const doc = new DOMParser().parseFromString(site.qr_svg || '', 'image/svg+xml');
  if (doc.documentElement.nodeName.toLowerCase() !== 'svg') return;
  document.getElementById('site-qr-code').replaceChildren(document.importNode(doc.documentElement, true));
  document.querySelector('[data-testid=site-url]').textContent = site.url;
  document.querySelector('[data-testid=site-qr]').hidden = false;
}).catch(() => {}); // without it the page works as before
const form = document.getElementById('login-form');
const msg = document.getElementById('login-message');
const params = new URLSearchParams(window.location.search);
if (params.get('expired')) setMessage(msg, '您尚未登录或登录已超时，请重新登录', 'warn');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const username = halfWidth(form.username.value);
  const password = form.password.value;
  if (!username || !password) {
    setMessage(msg, '请输入用户名和密码', 'error');
    (username ? form.password : form.username).focus();
    return;
  }
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  setMessage(msg, '');
  try {
    const res = await api('POST', '/api/login', { username, password }, { auth: false });
    sessionStorage.clear();
    window.location.assign(res && res.must_change_password ? 'password.html?forced=1' : 'home.html');
  } catch (err) {
    if (err.code === 'INITIAL_PASSWORD_EXPIRED') {
      // The initial password no longer opens the account: recovery (identity + phone) does.
      setMessage(msg, err.message, 'warn');
      msg.append(' ', h('a', { href: 'forgot.html', 'data-testid': 'expired-forgot-link' }, '前往找回密码'));
    } else {
      setMessage(msg, err.message, err.code === 'NO_PHONE_FOR_FIRST_LOGIN' ? 'warn' : 'error');
    }
    form.password.value = '';
    form.password.focus();
    button.disabled = false;
  }
});
