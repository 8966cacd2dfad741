// 已交费信息: paid records by fee type (GET /api/paid?type=…), each with 明细 (GET /api/paid/{id})
// and 票据查询.
import { api } from './api.js';
import { h, td, money, beijingTime, setMessage } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');
const select = document.getElementById('fee-type');
const COLUMNS = 8;

function receiptCell(r) {
  if (r.receipt_url) return h('a', { href: r.receipt_url, 'data-testid': 'receipt-link' }, '票据查询');
  return h('span', { class: 'muted', 'data-testid': 'receipt-offline' }, r.receipt_no ? `票据号 ${r.receipt_no}` : '请向财务处查询');
}

function detail(d) {
  const facts = d.source === 'online'
    ? [['缴费单号', d.order_no], ['商户订单号', d.out_trade_no], ['支付机构交易号', d.gateway_trade_no || '—']]
    : [['缴费凭证号', d.reference], ['票据号', d.receipt_no || '—']];
  return h('div', { class: 'detail', 'data-testid': 'paid-detail' },
    h('dl', { class: 'info-grid' }, [['缴费方式', `${d.source_label}（${d.method_label}）`], ...facts, ['缴费时间', beijingTime(d.paid_at)]]
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('table', { 'data-testid': 'paid-lines' },
      h('thead', {}, h('tr', {}, h('th', {}, '学年'), h('th', {}, '收费项目'), h('th', {}, '收费类型'), h('th', { class: 'num' }, '金额（元）'))),
      h('tbody', {}, d.lines.map((l) => h('tr', { 'data-testid': 'paid-line' },
        h('td', {}, l.academic_year), h('td', {}, l.name), h('td', {}, l.fee_type), h('td', { class: 'num' }, money(l.amount))))),
      h('tfoot', {}, h('tr', {}, h('td', { colspan: '3' }, '合计'), h('td', { class: 'num' }, money(d.total))))));
}

function recordRows(r) {
  const open = h('button', { type: 'button', class: 'link-button', 'aria-expanded': 'false', 'data-testid': 'btn-detail' }, '明细');
  const tr = h('tr', { 'data-testid': 'paid-record', 'data-id': r.id, 'data-source': r.source },
    td({}, '缴费时间', beijingTime(r.paid_at)),
    td({}, '缴费方式', r.source_label, h('br'), h('span', { class: 'muted' }, r.method_label)),
    td({ 'data-testid': 'paid-number' }, '缴费单号/凭证号', r.order_no || r.reference),
    td({}, '学年', r.academic_years.join('、')),
    td({}, '收费类型', r.fee_types.join('、')),
    td({ class: 'num', 'data-testid': 'paid-amount' }, '金额（元）', money(r.amount),
      ...(r.refunded ? [h('br'), h('span', { class: 'tag-refunded', 'data-testid': 'paid-refunded' }, r.status_label)] : [])),
    // (Phones show the links without a label.)
    td({}, '', open),
    td({}, '', receiptCell(r)));
  const more = h('tr', { class: 'detail-row', hidden: true }, h('td', { colspan: String(COLUMNS) }));
  open.addEventListener('click', async () => {
    const showing = !more.hidden;
    more.hidden = showing;
    open.setAttribute('aria-expanded', String(!showing));
    if (showing || more.dataset.loaded) return;
    const cell = more.firstChild;
    cell.replaceChildren(h('p', { class: 'loading' }, '正在加载…'));
    try {
      cell.replaceChildren(detail(await api('GET', `/api/paid/${encodeURIComponent(r.id)}`)));
      more.dataset.loaded = '1';
    } catch (err) {
      const box = h('div', { role: 'alert' });
      setMessage(box, err.message, 'error');
      cell.replaceChildren(box);
    }
  });
  return [tr, more];
}

async function load() {
  const type = select.value;
  const res = await api('GET', `/api/paid${type ? `?type=${encodeURIComponent(type)}` : ''}`);
  content.replaceChildren();
  if (!res.records.length) {
    content.append(h('p', { class: 'card muted', 'data-testid': 'no-paid' }, type ? '该费用类型暂无已缴费记录。' : '暂无已缴费记录。'));
    return;
  }
  content.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack-on-phone', 'data-testid': 'paid-table' },
    h('caption', {}, `${type === '学费' ? '学费' : type ? '其他费用' : '全部'}已缴费记录`),
    h('thead', {}, h('tr', {}, ['缴费时间', '缴费方式', '缴费单号/凭证号', '学年', '收费类型'].map((c) => h('th', {}, c)),
      h('th', { class: 'num' }, '金额（元）'), h('th', {}, '明细'), h('th', {}, '票据查询'))),
    h('tbody', {}, res.records.flatMap(recordRows)),
    h('tfoot', {}, h('tr', {}, h('td', { colspan: '5' }, '合计'), td({ class: 'num', 'data-testid': 'paid-total' }, '合计（元）', money(res.total)),
      h('td', { colspan: '2', class: 'empty' }))))));
}

function fail(err) {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
}

const params = new URLSearchParams(window.location.search);
if ([...select.options].some((o) => o.value === params.get('type'))) select.value = params.get('type');

select.addEventListener('change', () => {
  const url = new URL(window.location.href);
  if (select.value) url.searchParams.set('type', select.value); else url.searchParams.delete('type');
  window.history.replaceState(null, '', url);
  content.replaceChildren(h('p', { class: 'loading' }, '正在加载…'));
  load().catch(fail);
});

Promise.all([initPage(), load()]).catch(fail);
