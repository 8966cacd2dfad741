// 银行交易记录: every payment attempt of the student (GET /api/transactions).
import { api } from './api.js';
import { h, td, money, beijingTime, setMessage } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');

function row(t) {
  return h('tr', { 'data-testid': 'transaction', 'data-status': t.status, 'data-out-trade-no': t.out_trade_no },
    td({}, '交易时间', beijingTime(t.created_at)),
    td({}, '支付方式', t.channel_label),
    td({ 'data-testid': 'transaction-out-trade-no' }, '商户订单号', t.out_trade_no),
    td({ 'data-testid': 'transaction-trade-no' }, '支付机构交易号', t.gateway_trade_no || '—'),
    td({}, '缴费单号', h('a', { href: `order.html?order_no=${encodeURIComponent(t.order_no)}` }, t.order_no)),
    td({ class: 'num' }, '金额（元）', money(t.amount)),
    td({}, '支付时间', t.paid_at ? beijingTime(t.paid_at) : '—'),
    td({}, '状态', h('span', { class: `status status-${t.status}`, 'data-testid': 'transaction-status' }, t.status_label)));
}

async function main() {
  const [, res] = await Promise.all([initPage(), api('GET', '/api/transactions')]);
  content.replaceChildren();
  if (!res.transactions.length) {
    content.append(h('p', { class: 'card muted', 'data-testid': 'no-transactions' }, '暂无银行交易记录。'));
    return;
  }
  content.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack-on-phone', 'data-testid': 'transactions-table' },
    h('caption', {}, `共 ${res.transactions.length} 笔交易`),
    h('thead', {}, h('tr', {},
      ['交易时间', '支付方式', '商户订单号', '支付机构交易号', '缴费单号'].map((c) => h('th', {}, c)),
      h('th', { class: 'num' }, '金额（元）'), h('th', {}, '支付时间'), h('th', {}, '状态'))),
    h('tbody', {}, res.transactions.map(row)))));
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
