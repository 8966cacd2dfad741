// Shared page chrome: header, navigation, user bar and footer, injected around <main>.
import { api, redirect } from './api.js';
import { h, setMessage } from './dom.js';

export const PLATFORM = '校园统一支付平台';
const NAV = [
  ['fees', '当前费用', 'fees.html'],
  ['tuition', '学费缴费', 'tuition.html'],
  ['life', '生活缴费', 'life.html', '暂未开放'],
  ['transactions', '银行交易记录', 'transactions.html'],
  ['paid', '已交费信息', 'paid.html'],
  ['enrolment', '报名信息', 'enrolment.html'],
  ['profile', '个人信息', 'profile.html'],
];

function header(href) {
  return h('header', { class: 'site-header' },
    h('div', { class: 'container brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true', text: 'LUT' }),
      h('a', { href, class: 'brand-name', 'data-testid': 'brand' },
        '兰州理工大学', h('strong', { text: PLATFORM }))));
}

function footer() {
  return h('footer', { class: 'site-footer', 'data-testid': 'footer' },
    '甘肃省兰州市七里河区兰工坪路287号 (86-0931)-2973715');
}

async function logout() {
  try { await api('POST', '/api/logout', undefined, { auth: false }); } catch { /* leave anyway */ }
  sessionStorage.clear();
  window.location.replace('index.html');
}

function nav(active, forced) {
  const items = forced ? [] : NAV.map(([key, label, href, badge]) =>
    h('li', {}, h('a', { href, 'aria-current': key === active ? 'page' : null, 'data-testid': `nav-${key}` },
      label, badge ? h('small', { class: 'nav-badge', 'data-testid': `nav-${key}-badge` }, badge) : null)));
  items.push(h('li', { class: 'nav-logout' },
    h('button', { type: 'button', 'data-testid': 'nav-logout', onclick: logout }, '退出登录')));
  return h('nav', { class: 'site-nav', 'aria-label': '主导航' }, h('ul', { class: 'container' }, items));
}

function userBar(me) {
  const part = (label, value) => h('span', {}, `${label}: `, h('b', { text: value ?? '' }));
  return h('div', { class: 'container user-bar', 'data-testid': 'user-bar' },
    h('span', { class: 'label', text: '当前用户>>' }),
    part('编号', me.student_no), part('姓名', me.name), part('性别', me.gender),
    part('身份证号', me.id_card_masked), part('部门', me.department), part('班级', me.class_name));
}

// Pages without a session (login, forgot password): header and footer only.
export function initPublicPage() {
  const main = document.querySelector('main');
  main.before(header('index.html'));
  main.after(footer());
}

// Logged-in pages. Resolves with the current user (GET /api/me); redirects to the login page
// without a session and to the password page while the initial password must be changed.
export async function initPage({ forced = false } = {}) {
  const active = document.body.dataset.page || '';
  const main = document.querySelector('main');
  const head = header('home.html');
  main.before(head);
  main.after(footer());
  const me = await api('GET', '/api/me');
  if (me.must_change_password && !forced) return redirect('password.html?forced=1');
  if (!me.must_change_password && forced) return redirect('password.html');
  head.after(nav(active, forced), h('div', { class: 'user-bar-outer' }, userBar(me)));
  const flash = sessionStorage.getItem('flash');
  if (flash) {
    sessionStorage.removeItem('flash');
    const box = h('div', { role: 'status', 'data-testid': 'flash' });
    setMessage(box, flash, 'success');
    main.prepend(box);
  }
  return me;
}
