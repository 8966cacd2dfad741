// 学费缴费: the wizard of the manual's (四) — 选择学年 → 选择缴费项目 → 确认缴费信息 →
// 确认缴费或修改接收电子票据的手机号码 → POST /api/orders → 缴费单 (order.html).
import { api } from './api.js';
import {
  h, money, isZeroAmount, setMessage, clearErrors, setFieldError, showError, toFen, fromFen, findOrderNo, halfWidth,
} from './dom.js';
import { initPage } from './layout.js';
import { acknowledgeImportant, loadAnnouncements } from './announcements.js';

const content = document.getElementById('content');
const msg = document.getElementById('form-message');
const forms = [1, 2, 3, 4].map((n) => document.getElementById(`step-${n}`));
const [yearForm, itemsForm, confirmForm, phoneForm] = forms;
const byId = (id) => document.getElementById(id);

let years = []; // [{academic_year, owed: [item…] (something outstanding), payable: [item…]}]
let profile = null;
let year = null; // the chosen year
let picked = []; // the chosen items of that year, in the table's order

const sumOf = (items) => fromFen(items.reduce((s, i) => s + toFen(i.outstanding), 0));

function show(n, focus = true) {
  forms.forEach((form, i) => { form.hidden = i + 1 !== n; });
  for (const li of document.querySelectorAll('.steps li')) li.classList.toggle('current', Number(li.dataset.step) === n);
  setMessage(msg, '');
  if (focus) forms[n - 1].querySelector('h2').focus();
}

function fail(text) {
  setMessage(msg, text, 'error');
  msg.scrollIntoView({ block: 'nearest' });
}

// Step 1: the years with something payable today; the others are listed with the reason.
function renderYears() {
  const list = byId('year-list');
  list.replaceChildren(list.querySelector('legend'));
  const offered = years.filter((y) => y.payable.length);
  offered.forEach((y, i) => list.append(
    h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'year', value: y.academic_year, checked: i === 0, 'data-testid': 'year-option' }),
      h('span', { class: 'choice-main' }, `${y.academic_year} 学年`),
      h('span', { class: 'choice-amount' }, '可缴 ', h('b', { class: 'owed' }, money(sumOf(y.payable))), ' 元'))));
  const blocked = years.filter((y) => !y.payable.length).flatMap((y) => y.owed.map((item) => ({ y, item })));
  byId('year-blocked').replaceChildren(blocked.length ? h('div', { class: 'notes', 'data-testid': 'blocked-items' },
    h('p', {}, '以下欠费项目当前不能缴费：'),
    h('ul', {}, blocked.map(({ y, item }) =>
      h('li', {}, `${y.academic_year} 学年 ${item.name}：${money(item.outstanding)} 元（${item.not_payable_reason || '暂不可缴'}）`)))) : '');
}

// Step 2: every owed item of the year; payable ones checked, the others disabled with the reason.
function renderItems() {
  byId('items-year').textContent = `${year.academic_year} 学年`;
  byId('items-body').replaceChildren(...year.owed.map((item) => {
    const box = h('input', {
      type: 'checkbox', name: 'item', value: item.item_id, checked: item.payable, disabled: !item.payable,
      'aria-label': `${item.name} ${money(item.outstanding)} 元`, 'data-testid': `item-${item.item_id}`,
    });
    return h('tr', { class: item.payable ? null : 'not-payable', 'data-testid': 'item-row' },
      h('td', {}, box),
      h('td', {}, item.name, item.payable ? null
        : h('span', { class: 'badge-warn', 'data-testid': 'not-payable' }, item.not_payable_reason || '暂不可缴')),
      h('td', { class: 'narrow-hide' }, item.fee_type),
      h('td', { class: 'num owed' }, money(item.outstanding)),
      h('td', { class: 'narrow-hide' }, item.window_end));
  }));
  updateItemsTotal();
}

function checkedItems() {
  const ids = new Set([...itemsForm.querySelectorAll('input[name=item]:checked')].map((b) => b.value));
  return year.owed.filter((item) => item.payable && ids.has(item.item_id));
}

function updateItemsTotal() {
  byId('items-total').textContent = money(sumOf(checkedItems()));
}

// Step 3: 缴费金额 and 确认缴费信息.
function renderConfirm() {
  byId('confirm-total').textContent = money(sumOf(picked));
  byId('confirm-body').replaceChildren(...picked.map((item) => h('tr', {},
    h('td', {}, year.academic_year), h('td', {}, item.name), h('td', { class: 'narrow-hide' }, item.fee_type),
    h('td', { class: 'num' }, money(item.outstanding)))));
}

// Step 4: the phone on file, or a new one for this order's e-receipt.
function phoneMode() {
  if (!profile.phone_masked) return 'change';
  return phoneForm.elements.namedItem('phone_mode').value;
}

function renderPhone() {
  byId('phone-total').textContent = money(sumOf(picked));
  byId('profile-phone').textContent = profile.phone_masked || '未登记手机号码，请填写';
  byId('phone-choice').hidden = !profile.phone_masked;
  byId('phone-field').hidden = phoneMode() !== 'change';
}

function wantPhoneField() {
  if (profile.phone_masked) phoneForm.querySelector('input[value=change]').checked = true;
  byId('phone-field').hidden = false;
}

yearForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const chosen = yearForm.querySelector('input[name=year]:checked');
  year = chosen && years.find((y) => y.academic_year === chosen.value);
  if (!year) { fail('请选择需要缴费的学年'); return; }
  renderItems();
  show(2);
});

itemsForm.addEventListener('change', () => {
  clearErrors(itemsForm);
  updateItemsTotal();
});

itemsForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearErrors(itemsForm);
  picked = checkedItems();
  if (!picked.length) { setFieldError(itemsForm, 'items', '请至少选择一个缴费项目'); return; }
  renderConfirm();
  show(3);
});

confirmForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  renderPhone();
  show(4);
});

phoneForm.addEventListener('change', (ev) => {
  if (ev.target.name === 'phone_mode') {
    byId('phone-field').hidden = phoneMode() !== 'change';
    clearErrors(phoneForm);
  }
});

for (const button of document.querySelectorAll('[data-back]')) {
  button.addEventListener('click', () => show(Number(button.dataset.back)));
}

phoneForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(phoneForm);
  setMessage(msg, '');
  const body = { items: picked.map((item) => ({ academic_year: year.academic_year, item_id: item.item_id })) };
  if (phoneMode() === 'change') {
    const phone = halfWidth(phoneForm.elements.namedItem('phone').value);
    if (!phone) {
      setFieldError(phoneForm, 'phone', '请填写接收电子票据的手机号码');
      phoneForm.elements.namedItem('phone').focus();
      return;
    }
    body.phone = phone; // omitted: the phone on file receives the e-receipt
  }
  const button = byId('step-4').querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const order = await api('POST', '/api/orders', body);
    window.location.assign(`order.html?order_no=${encodeURIComponent(order.order_no)}`);
  } catch (err) {
    button.disabled = false;
    if (err.code === 'ORDER_IN_PROGRESS') {
      fail(err.message);
      const no = findOrderNo(err.message);
      if (no) {
        msg.append(' ', h('a', { href: `order.html?order_no=${encodeURIComponent(no)}`, 'data-testid': 'blocking-order-link' },
          `查看缴费单 ${no}`));
      }
    } else if (err.fields && Object.keys(err.fields).length) {
      if (err.fields.phone) wantPhoneField();
      showError(phoneForm, msg, err);
      msg.scrollIntoView({ block: 'nearest' });
    } else {
      fail(err.message);
    }
  }
});

async function main() {
  const [, fees, me, notices] = await Promise.all([initPage(), api('GET', '/api/fees'), api('GET', '/api/profile'), loadAnnouncements()]);
  profile = me;
  // 缴费前请关注本系统中的【系统公告】: the important ones are acknowledged before the wizard.
  await acknowledgeImportant(notices);
  years = fees.years.map((y) => {
    const owed = y.items.filter((item) => !isZeroAmount(item.outstanding));
    return { academic_year: y.academic_year, owed, payable: owed.filter((item) => item.payable) };
  });
  content.replaceChildren();
  if (!years.some((y) => y.payable.length)) {
    content.append(h('p', { class: 'card', 'data-testid': 'nothing-payable' }, '您当前没有可缴纳的项目。'));
    document.querySelector('.steps').hidden = true;
    renderYears();
    const blocked = byId('year-blocked').firstChild;
    if (blocked) content.append(h('div', { class: 'card' }, blocked));
    return;
  }
  renderYears();
  show(1, false);
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
