// 学费缴费: lists what can be paid now. Online payment itself comes in a later release.
import { api } from './api.js';
import { h, money, isZeroAmount, setMessage } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');

async function main() {
  const [, fees] = await Promise.all([initPage(), api('GET', '/api/fees')]);
  content.replaceChildren();
  const payable = [];
  const blocked = [];
  for (const year of fees.years) {
    for (const item of year.items) {
      if (isZeroAmount(item.outstanding)) continue;
      (item.payable ? payable : blocked).push({ year: year.academic_year, item });
    }
  }
  if (!payable.length) {
    content.append(h('p', { class: 'card', 'data-testid': 'nothing-payable' }, '您当前没有可缴纳的项目。'));
  } else {
    content.append(h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'payable-table' },
      h('caption', {}, '可缴费项目'),
      h('thead', {}, h('tr', {}, ['学年', '收费项目', '收费类型', '欠费金额（元）', '收费终止'].map((c, i) => h('th', { class: i === 3 ? 'num' : null }, c)))),
      h('tbody', {}, payable.map(({ year, item }) => h('tr', {},
        h('td', {}, year), h('td', {}, item.name), h('td', {}, item.fee_type),
        h('td', { class: 'num owed' }, money(item.outstanding)), h('td', {}, item.window_end)))),
      h('tfoot', {}, h('tr', {}, h('td', { colspan: '3' }, '合计'),
        h('td', { class: 'num owed', 'data-testid': 'payable-outstanding' }, money(fees.payable_outstanding)), h('td', {}))))));
  }
  if (blocked.length) {
    content.append(h('div', { class: 'card', 'data-testid': 'blocked-items' },
      h('h2', {}, '以下欠费项目当前不能缴费'),
      h('ul', {}, blocked.map(({ year, item }) =>
        h('li', {}, `${year} 学年 ${item.name}：${money(item.outstanding)} 元（${item.not_payable_reason || '暂不可缴'}）`)))));
  }
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
