// 缴费单: one order (GET /api/orders/{no}) with its countdown, 选择缴费方式, the QR code or the
// hand-over to the gateway, 「我已支付」, 更换支付方式, 取消缴费单 and the 支付成功 view.
// Also the return page after H5 payment: ?order_no=… or ?out_trade_no=… (first 19 characters).
import { api } from './api.js';
import { h, money, beijingTime, setMessage, findOrderNo } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');
const msg = document.getElementById('form-message');
const POLL_MS = 2000;
const PAYEE = '甘肃省财政厅';
const STATE_LABELS = { open: '待支付', paid: '已支付', closed: '已关闭' };
const ADVICE = '建议使用 Chrome、360、UC 等第三方浏览器打开本页面。';
const UA = navigator.userAgent;
const IN_WECHAT = /MicroMessenger/i.test(UA);
const IN_ALIPAY = /AlipayClient/i.test(UA);
const MOBILE_UA = /Mobi|Android|iPhone|iPad|iPod|HarmonyOS|Windows Phone/i.test(UA);

const params = new URLSearchParams(window.location.search);
const orderNo = findOrderNo((params.get('order_no') || params.get('out_trade_no') || '').slice(0, 19));
const path = (action = '') => `/api/orders/${encodeURIComponent(orderNo)}${action}`;

let order = null;
let deadline = 0; // Date.now() at which the order expires, from the server's seconds_left
let qr = null; // the QR code being shown: {channel, content, svg}
let choosing = true; // the channel buttons are shown (false while a QR code is shown)
let note = null; // [text, kind] under the action buttons
let busy = false;
let lastSignature = '';

const secondsLeft = () => Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
const expired = () => order.state === 'open' && secondsLeft() === 0;
// The server names the channels (`channel_labels`; every attempt has its `channel_label`).
const channelLabel = (c) => (order.channel_labels || {})[c] || c;
const mmss = (s) => `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;

// 微信 in-app browser: only WeChat Pay — JSAPI (WeChat's own payment sheet) where the platform
// has it, else a QR code to long-press (H5 payment cannot run there); 支付宝 in-app browser:
// only Alipay; any other browser: every channel the server offers.
function offeredChannels() {
  return (order.channels || [])
    .filter((c) => (IN_WECHAT ? c === 'wechat' : IN_ALIPAY ? c === 'alipay' : true));
}

function deviceFor(channel) {
  if (IN_WECHAT && channel === 'wechat') return 'wechat'; // JSAPI (or its QR code), never H5
  return MOBILE_UA || window.innerWidth < 768 ? 'phone' : 'pc';
}

// WeChat's bridge, which its browser puts into the page (ready at once or after an event).
function wechatBridge() {
  return new Promise((resolve, reject) => {
    if (window.WeixinJSBridge) { resolve(window.WeixinJSBridge); return; }
    const timer = setTimeout(() => reject(new Error('未能调起微信支付，请在微信中打开本页面后重试')), 5000);
    document.addEventListener('WeixinJSBridgeReady', () => { clearTimeout(timer); resolve(window.WeixinJSBridge); }, { once: true });
  });
}

// 支付确认 → 输入支付密码 happen in WeChat's own sheet; its answer only says how the sheet
// closed: the order is paid when the gateway says so (asked at once with 「我已支付」's query).
async function payInWechat(params) {
  const bridge = await wechatBridge();
  const res = await new Promise((resolve) => bridge.invoke('getBrandWCPayRequest', params, resolve));
  const said = String((res && res.err_msg) || '');
  if (said.endsWith(':ok')) {
    note = ['支付完成，正在确认支付结果…', 'success'];
    apply(await api('POST', path('/check')));
  } else if (said.endsWith(':cancel')) {
    note = ['已取消支付。如需缴费，请重新点击【微信支付】。', 'warn'];
  } else {
    note = ['微信支付未完成，请重试或选择其他缴费方式。如已扣款切勿重复缴费，请点击「我已支付」查询。', 'error'];
  }
  render(true);
}

function row(label, value, testid) {
  return [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)];
}

function linesTable() {
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'order-lines' },
    h('caption', {}, '缴费项目'),
    h('thead', {}, h('tr', {}, h('th', {}, '学年'), h('th', {}, '收费项目'), h('th', { class: 'narrow-hide' }, '收费类型'), h('th', { class: 'num' }, '金额（元）'))),
    h('tbody', {}, order.lines.map((l) => h('tr', {}, h('td', {}, l.academic_year), h('td', {}, l.name),
      h('td', { class: 'narrow-hide' }, l.fee_type), h('td', { class: 'num' }, money(l.amount))))),
    h('tfoot', {}, h('tr', {}, h('td', { colspan: '2' }, '合计'), h('td', { class: 'narrow-hide' }),
      h('td', { class: 'num owed', 'data-testid': 'order-lines-total' }, money(order.total))))));
}

function summary() {
  const state = expired() ? '已过期' : STATE_LABELS[order.state] || order.state;
  return h('section', { class: 'card', 'data-testid': 'order-summary' },
    h('h2', {}, '缴费信息'),
    h('dl', { class: 'info-grid wide' },
      row('订单编号', order.order_no, 'order-no'),
      row('缴费状态', h('span', { class: `status status-${order.state}` }, state), 'order-state'),
      row('缴费金额', h('b', { class: 'owed' }, `${money(order.total)} 元`), 'order-total'),
      row('接收票据手机号', order.receipt_phone_masked || '', 'order-phone'),
      row('收款单位', h('b', { class: 'important' }, order.payee || PAYEE), 'order-payee'),
      row('创建时间', beijingTime(order.created_at), 'order-created'),
      order.state === 'open' ? row('剩余支付时间', h('b', { class: 'countdown', id: 'countdown' }, mmss(secondsLeft())), 'order-countdown') : null),
    linesTable());
}

function duplicateNotice() {
  const dup = (order.attempts || []).filter((a) => a.state === 'duplicate_paid');
  if (!dup.length) return null;
  return h('div', { class: 'notice error', role: 'alert', 'data-testid': 'duplicate-notice' },
    h('b', {}, '检测到重复支付，款项将原路退回（重复支付待退款）。'),
    ` 本缴费单已支付成功，以下支付为重复支付：${dup.map((a) => `${a.channel_label || channelLabel(a.channel)} ${money(a.amount)} 元（交易号 ${a.out_trade_no}）`).join('；')}。请勿再次缴费。`);
}

function successView() {
  const paid = (order.attempts || []).find((a) => a.state === 'paid');
  return h('section', { class: 'card pay-success', 'data-testid': 'pay-success' },
    h('h2', { class: 'success-title' }, h('span', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'), '支付成功'),
    h('dl', { class: 'info-grid' },
      row('订单编号', order.order_no, 'success-order-no'),
      row('金额', h('b', {}, `${money(paid ? paid.amount : order.total)} 元`), 'success-amount'),
      row('支付方式', paid ? paid.channel_label || channelLabel(paid.channel) : '—', 'success-channel'),
      row('支付时间', paid ? beijingTime(paid.paid_at) : '—', 'success-time'),
      row('收款单位', order.payee || PAYEE, 'success-payee')),
    h('p', { class: 'hint' }, `电子票据已开具，查看链接将以短信发送至 ${order.receipt_phone_masked || ''}。请妥善保存电子缴费信息以便备查。`),
    h('div', { class: 'actions' },
      h('a', { class: 'btn', href: `/receipts/${encodeURIComponent(order.order_no)}`, 'data-testid': 'link-receipt' }, '查看电子票据'),
      h('a', { class: 'btn btn-light', href: 'paid.html', 'data-testid': 'link-paid' }, '查看已交费信息'),
      h('a', { class: 'btn btn-light', href: 'home.html' }, '返回首页')));
}

function closedView() {
  return h('section', { class: 'card', 'data-testid': 'order-closed' },
    h('p', { class: 'notice warn' }, h('b', {}, '缴费单已关闭'), '（已取消或已过期，未完成支付）。如需缴费，请返回【学费缴费】重新选择缴费项目。'),
    h('a', { class: 'btn', href: 'tuition.html', 'data-testid': 'link-tuition' }, '返回学费缴费'));
}

function actionButton(label, action, testid, cls = 'btn') {
  return h('button', { type: 'button', class: cls, 'data-testid': testid, 'data-action': '', disabled: busy, onclick: action }, label);
}

function qrView() {
  const wechat = qr.channel === 'wechat';
  const box = h('div', { class: 'qr-code', 'data-testid': 'qr-code', 'data-qr-content': qr.content, 'data-channel': qr.channel });
  if (IN_WECHAT) {
    // WeChat recognises a long-pressed image, not inline SVG.
    box.append(h('img', { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qr.svg)}`, alt: '微信支付二维码' }));
  } else {
    const doc = new DOMParser().parseFromString(qr.svg || '', 'image/svg+xml');
    if (doc.documentElement.nodeName.toLowerCase() === 'svg') box.append(document.importNode(doc.documentElement, true));
    else box.append(h('p', { class: 'muted' }, '二维码加载失败，请点击【更换支付方式】重新选择'));
  }
  const how = IN_WECHAT ? '请长按识别二维码，完成微信支付'
    : qr.channel === 'alipay' ? '请使用支付宝 APP 扫一扫进行扫码支付'
      : wechat ? '请使用微信扫一扫进行支付' : '请使用云闪付或银行 APP 扫一扫进行支付';
  return h('div', { class: 'qr-panel', 'data-testid': 'qr-panel' },
    h('h3', {}, `${channelLabel(qr.channel)}扫码支付`),
    h('p', { class: 'amount-line' }, '支付金额：', h('b', { class: 'owed' }, `${money(order.total)} 元`)),
    box,
    h('p', { class: 'qr-how', 'data-testid': 'qr-how' }, how),
    h('p', { class: 'important', 'data-testid': 'payee-warning' }, `注意：请确认收款名称：${order.payee || PAYEE}`),
    h('p', { class: 'muted' }, '支付完成后本页面将自动显示支付结果。'));
}

function payPanel() {
  const panel = h('section', { class: 'card', 'data-testid': 'pay-panel' });
  if (expired()) {
    panel.append(h('p', { class: 'notice error', 'data-testid': 'order-expired' },
      h('b', {}, '缴费单已过期'), '，不能继续支付。请返回【学费缴费】重新选择缴费项目；如已扣款切勿重复缴费，请点击「我已支付」查询。'));
  } else {
    const offered = offeredChannels();
    panel.append(h('h2', {}, choosing ? '选择缴费方式' : '支付'));
    if (IN_WECHAT || IN_ALIPAY) {
      panel.append(h('p', { class: 'notice warn', 'data-testid': 'browser-advice' }, IN_WECHAT
        ? `当前在微信中打开，只能使用微信支付。如需使用支付宝或银联卡缴费，${ADVICE}`
        : `当前在支付宝中打开，只能使用支付宝支付。如需使用微信或银联卡缴费，${ADVICE}`));
    }
    if (choosing) {
      panel.append(offered.length
        ? h('div', { class: 'channels', role: 'group', 'aria-label': '缴费方式' }, offered.map((c) =>
          h('button', { type: 'button', class: `channel channel-${c}`, 'data-testid': `channel-${c}`, 'data-action': '', disabled: busy, onclick: () => pay(c) },
            h('span', { class: 'channel-icon', 'aria-hidden': 'true' }), channelLabel(c))))
        : h('p', { class: 'notice error', 'data-testid': 'no-channels' }, `当前没有可用的缴费方式。${IN_WECHAT || IN_ALIPAY ? ADVICE : '请稍后再试。'}`));
      panel.append(h('p', { class: 'hint' }, `确定支付金额 ${money(order.total)} 元无误后，选择缴费方式。`));
    }
    if (qr && !choosing) panel.append(qrView());
  }
  const buttons = [actionButton('我已支付', check, 'btn-check')];
  if (!expired() && qr && !choosing) buttons.push(actionButton('更换支付方式', () => { choosing = true; note = null; render(true); }, 'btn-change', 'btn btn-light'));
  buttons.push(expired() ? h('a', { class: 'btn btn-light', href: 'tuition.html' }, '返回学费缴费')
    : actionButton('取消缴费单', cancel, 'btn-cancel', 'btn btn-back'));
  panel.append(h('div', { class: 'actions' }, buttons));
  if (note) panel.append(h('p', { class: `notice ${note[1]}`, role: 'status', 'data-testid': 'check-result' }, note[0]));
  panel.append(h('p', { class: 'hint' }, '已完成支付但页面未显示支付成功时，请点击「我已支付」查询，切勿重复缴费。'));
  return panel;
}

function attemptsTable() {
  const attempts = order.attempts || [];
  if (!attempts.length) return null;
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'attempts' },
    h('caption', {}, '支付记录'),
    h('thead', {}, h('tr', {}, ['交易号', '支付方式', '金额（元）', '状态', '发起时间', '支付时间'].map((c, i) => h('th', { class: i === 2 ? 'num' : null }, c)))),
    h('tbody', {}, attempts.map((a) => h('tr', { 'data-state': a.state },
      h('td', {}, a.out_trade_no), h('td', {}, a.channel_label || channelLabel(a.channel)),
      h('td', { class: 'num' }, money(a.amount)), h('td', {}, a.state_label || a.state),
      h('td', {}, beijingTime(a.created_at)), h('td', {}, a.paid_at ? beijingTime(a.paid_at) : '—'))))));
}

function signature() {
  return JSON.stringify([order.state, order.receipt_phone_masked, expired(), qr && qr.content, choosing, note,
    (order.attempts || []).map((a) => [a.out_trade_no, a.state]), order.channels]);
}

// Rebuilds the view when something shown changed (polling does not disturb an unchanged page).
function render(force = false) {
  const sig = signature();
  if (!force && sig === lastSignature) return;
  lastSignature = sig;
  if (order.state !== 'open') qr = null;
  const parts = [duplicateNotice()];
  if (order.state === 'paid') parts.push(successView(), h('section', { class: 'card' }, linesTable()));
  else if (order.state === 'closed') parts.push(closedView(), summary());
  else parts.push(summary(), payPanel());
  parts.push(attemptsTable());
  content.replaceChildren(...parts.filter(Boolean));
  document.querySelector('[data-testid=order-notes]').hidden = order.state === 'paid';
}

function apply(o) {
  order = o;
  deadline = Date.now() + Math.max(0, Number(o.seconds_left) || 0) * 1000;
  if (expired()) qr = null;
  render();
}

function setBusy(on) {
  busy = on;
  for (const b of content.querySelectorAll('[data-action]')) b.disabled = on;
}

async function refresh() {
  apply(await api('GET', path()));
}

function fail(err) {
  setMessage(msg, err.message || String(err), 'error');
  msg.scrollIntoView({ block: 'nearest' });
}

function submitForm(action) {
  const form = h('form', { method: action.method || 'POST', action: action.action, 'accept-charset': 'UTF-8', hidden: true },
    (action.fields || []).map(([name, value]) => h('input', { type: 'hidden', name, value })));
  document.body.append(form);
  form.submit();
}

async function pay(channel) {
  if (busy) return;
  setBusy(true);
  setMessage(msg, '');
  note = null;
  try {
    const res = await api('POST', path('/pay'), { channel, device: deviceFor(channel) });
    const action = res.action || {};
    if (action.type === 'redirect') {
      window.location.assign(action.url);
      return;
    }
    if (action.type === 'form') {
      submitForm(action);
      return;
    }
    if (action.type === 'jsapi') {
      await payInWechat(action.params);
      return;
    }
    if (action.type !== 'qr') throw new Error('暂不支持该支付方式，请选择其他支付方式');
    qr = { channel, content: action.content, svg: res.qr_svg };
    choosing = false;
    render(true);
    content.querySelector('[data-testid=qr-panel]')?.scrollIntoView({ block: 'nearest' });
    refresh().catch(() => {}); // the new attempt into 支付记录
  } catch (err) {
    if (err.code === 'PAYER_REQUIRED') {
      // WeChat names the payer first (its silent authorization), then brings us back here.
      try {
        window.location.assign((await api('POST', path('/payer'), { channel })).authorize_url);
        return;
      } catch (e) {
        err = e; // its own failure is what the student is told
      }
    }
    if (err.code === 'ORDER_NOT_OPEN' || err.code === 'CHANNEL_UNAVAILABLE') {
      qr = null;
      await refresh().catch(() => {});
    }
    if (!order || order.state !== 'paid') fail(err);
  } finally {
    setBusy(false);
  }
}

async function check() {
  if (busy) return;
  setBusy(true);
  setMessage(msg, '');
  try {
    const o = await api('POST', path('/check'));
    note = o.state === 'paid' ? ['查询结果：支付成功', 'success']
      : o.state === 'closed' ? ['查询结果：缴费单已关闭，未查询到支付成功的交易', 'warn']
        : ['暂未查询到支付成功的交易。如已扣款切勿重复缴费，请稍后再次点击「我已支付」查询。', 'warn'];
    apply(o);
  } catch (err) {
    fail(err);
  } finally {
    setBusy(false);
  }
}

async function cancel() {
  if (busy || !window.confirm('确定取消该缴费单吗？取消后如需缴费，请重新选择缴费项目。')) return;
  setBusy(true);
  setMessage(msg, '');
  try {
    apply(await api('POST', path('/cancel')));
  } catch (err) {
    fail(err);
    await refresh().catch(() => {});
  } finally {
    setBusy(false);
  }
}

// Polls while a payment may be under way: a QR code on screen, or an attempt not closed — still
// created (e.g. back from the H5 cashier before the gateway's notification arrived), or already
// paid while the order still read open (the order and its attempts are separate reads, so one
// answer can straddle the payment's commit; the next poll sees the order paid).
function shouldPoll() {
  return order && order.state === 'open' && !expired() && (qr || (order.attempts || []).some((a) => a.state !== 'closed'));
}

let polling = false;
async function poll() {
  if (polling || busy || document.hidden || !shouldPoll()) return;
  polling = true;
  try { await refresh(); } catch { /* try again on the next tick */ } finally { polling = false; }
}

async function main() {
  if (!orderNo) {
    await initPage();
    content.replaceChildren(h('div', { class: 'card', 'data-testid': 'order-missing' },
      h('p', { class: 'notice error' }, '缴费单编号无效，请返回【学费缴费】重新选择缴费项目。'),
      h('a', { class: 'btn', href: 'tuition.html' }, '返回学费缴费')));
    return;
  }
  const [, o] = await Promise.all([initPage(), api('GET', path())]);
  // Back from WeChat's authorization: pay on at once (once), or say it did not work.
  const resume = params.get('pay');
  if (params.get('payer') === 'failed') note = ['微信授权未完成，请重新点击【微信支付】；如仍失败，请使用其他浏览器扫码支付。', 'warn'];
  if (resume || params.has('payer')) window.history.replaceState(null, '', `order.html?order_no=${encodeURIComponent(orderNo)}`);
  apply(o);
  if (resume === 'wechat' && IN_WECHAT && order.state === 'open' && !expired()) pay('wechat');
  setInterval(() => {
    const countdown = document.getElementById('countdown');
    if (countdown) countdown.textContent = mmss(secondsLeft());
    if (order.state === 'open') render(); // re-renders once, when the order expires
  }, 1000);
  setInterval(poll, POLL_MS);
  const again = () => { if (!document.hidden && order && order.state === 'open') refresh().catch(() => {}); };
  document.addEventListener('visibilitychange', again);
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) again(); });
}

main().catch((err) => {
  const box = h('div', { role: 'alert', 'data-testid': 'order-error' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box, h('p', {}, h('a', { href: 'tuition.html' }, '返回学费缴费')));
});
