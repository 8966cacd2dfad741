// 当前费用: every fee item per academic year, with totals.
import { api } from './api.js';
import { h, money, setMessage } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');
const COLUMNS = ['学年', '收费项目', '收费类型', '应收金额', '已收金额', '欠费金额', '收费起始', '收费终止', '收费状态'];
const NUMERIC = new Set(['应收金额', '已收金额', '欠费金额']);

function itemRow(year, item) {
  return h('tr', { class: item.payable ? null : 'not-payable', 'data-testid': 'fee-item' },
    h('td', {}, year),
    h('td', {}, item.name,
      item.payable ? null : h('span', { class: 'badge-warn', 'data-testid': 'not-payable' }, item.not_payable_reason || '暂不可缴')),
    h('td', {}, item.fee_type),
    h('td', { class: 'num' }, money(item.due)),
    h('td', { class: 'num' }, money(item.paid)),
    h('td', { class: 'num owed' }, money(item.outstanding)),
    h('td', {}, item.window_start),
    h('td', {}, item.window_end),
    h('td', {}, h('span', { class: item.status === '收费' ? 'status status-on' : 'status status-off' }, item.status)));
}

function yearSection(year) {
  return h('section', { 'data-testid': 'fee-year', 'data-year': year.academic_year },
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', {}, `${year.academic_year} 学年`),
      h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { class: NUMERIC.has(c) ? 'num' : null }, c + (NUMERIC.has(c) ? '（元）' : ''))))),
      h('tbody', {}, year.items.map((item) => itemRow(year.academic_year, item))),
      h('tfoot', {}, h('tr', {},
        h('td', { colspan: '3' }, '本学年合计'),
        h('td', { class: 'num' }, money(year.due)),
        h('td', { class: 'num' }, money(year.paid)),
        h('td', { class: 'num owed' }, money(year.outstanding)),
        h('td', { colspan: '3' }))))));
}

async function main() {
  const [, fees] = await Promise.all([initPage(), api('GET', '/api/fees')]);
  content.replaceChildren();
  if (!fees.years.length) {
    content.append(h('p', { class: 'card muted' }, '暂无收费项目。'));
    return;
  }
  const stat = (label, value, testid) => h('div', {}, h('span', {}, label), h('strong', { 'data-testid': testid }, money(value)));
  content.append(h('div', { class: 'summary', 'data-testid': 'fee-totals' },
    stat('应收合计（元）', fees.total_due, 'total-due'),
    stat('已收合计（元）', fees.total_paid, 'total-paid'),
    stat('欠费合计（元）', fees.total_outstanding, 'total-outstanding'),
    stat('当前可缴（元）', fees.payable_outstanding, 'payable-outstanding')));
  content.append(...fees.years.map(yearSection));
  if (fees.years.some((y) => y.items.some((i) => !i.payable))) {
    content.append(h('p', { class: 'muted' }, '标有橙色标记的项目当前不能缴费（暂停收费或不在收费时间内）。'));
  }
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
