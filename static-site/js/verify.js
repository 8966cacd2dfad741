// 票据查验 (verify.html): anyone checks an e-receipt by its 票据号 and 校验码 (POST
// /api/receipts/check, public). The receipt page's QR code opens this page with both filled in
// (?no=…&code=…), and the check runs at once.
import { api } from './api.js';
import { h, money, halfWidth, clearErrors, setFieldError, setMessage } from './dom.js';
import { initPublicPage } from './layout.js';

initPublicPage();
const form = document.getElementById('verify-form');
const msg = document.getElementById('form-message');
const result = document.getElementById('verify-result');
const field = (name) => form.elements.namedItem(name);

function row(label, value, testid) {
  return [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)];
}

function show(r) {
  const refunded = r.status === 'refunded';
  result.replaceChildren(
    h('h2', {}, '查验结果'),
    h('p', { class: `notice ${refunded ? 'warn' : 'success'}`, 'data-testid': 'verify-status' },
      refunded ? '票据真实有效，但本笔缴费已退款（已退款）' : '票据真实有效'),
    h('dl', { class: 'info-grid' },
      row('票据号', r.receipt_no, 'verify-receipt-no'),
      row('缴款人', r.payer_masked, 'verify-payer'),
      row('金额（小写）', `${money(r.total)} 元`, 'verify-total'),
      row('金额（大写）', r.total_capitals, 'verify-capitals'),
      row('收款单位', r.payee, 'verify-payee'),
      row('缴费日期', r.paid_on, 'verify-date'),
      row('票据状态', r.status_label, 'verify-state')),
    h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'verify-items' },
      h('caption', {}, '缴费项目'),
      h('thead', {}, h('tr', {}, h('th', {}, '学年'), h('th', {}, '收费项目'), h('th', { class: 'num' }, '金额（元）'))),
      h('tbody', {}, r.lines.map((l) => h('tr', {}, h('td', {}, l.academic_year), h('td', {}, l.name), h('td', { class: 'num' }, money(l.amount))))))));
  result.hidden = false;
}

async function check() {
  clearErrors(form);
  setMessage(msg, '');
  result.hidden = true;
  const body = { receipt_no: halfWidth(field('receipt_no').value), check_code: halfWidth(field('check_code').value) };
  if (!body.receipt_no) setFieldError(form, 'receipt_no', '请输入票据号');
  if (!body.check_code) setFieldError(form, 'check_code', '请输入校验码');
  if (!body.receipt_no || !body.check_code) return;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    show(await api('POST', '/api/receipts/check', body, { auth: false }));
  } catch (err) {
    setMessage(msg, err.message, 'error');
  } finally {
    button.disabled = false;
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  check();
});

const params = new URLSearchParams(window.location.search);
if (params.get('no')) field('receipt_no').value = params.get('no');
if (params.get('code')) field('check_code').value = params.get('code');
if (params.get('no') && params.get('code')) check();
