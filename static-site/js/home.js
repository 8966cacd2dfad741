// Home page after login: the student's arrears (欠费信息) from GET /api/fees.
import { api } from './api.js';
import { h, money, isZeroAmount, setMessage } from './dom.js';
import { initPage } from './layout.js';
import { announcementList, loadAnnouncements } from './announcements.js';

const content = document.getElementById('content');

async function main() {
  const [, fees, notices] = await Promise.all([initPage(), api('GET', '/api/fees'), loadAnnouncements()]);
  document.getElementById('announcements-slot').replaceChildren(announcementList(notices));
  content.replaceChildren();
  if (isZeroAmount(fees.total_outstanding)) {
    content.append(h('div', { class: 'card', 'data-testid': 'no-arrears' },
      h('p', { class: 'notice success', text: '您当前没有欠费' }),
      h('p', { class: 'muted' }, '已缴费情况可在【当前费用】中查看。'),
      h('a', { class: 'btn btn-light', href: 'fees.html' }, '查看当前费用')));
    return;
  }
  const summary = h('div', { class: 'card', 'data-testid': 'arrears-summary' },
    h('p', { class: 'muted' }, '欠费总额（元）'),
    h('p', { class: 'amount-big', 'data-testid': 'total-outstanding' }, money(fees.total_outstanding)));
  if (fees.payable_outstanding !== fees.total_outstanding) {
    summary.append(h('p', { 'data-testid': 'payable-outstanding' },
      `其中当前可缴纳 ${money(fees.payable_outstanding)} 元，其余项目暂停收费或不在收费时间内。`));
  }
  summary.append(h('div', { class: 'actions' },
    h('a', { class: 'btn', href: 'tuition.html' }, '学费缴费'),
    h('a', { class: 'btn btn-light', href: 'fees.html' }, '查看当前费用')));
  content.append(summary);

  const rows = [];
  for (const year of fees.years) {
    for (const item of year.items) {
      if (isZeroAmount(item.outstanding)) continue;
      rows.push(h('tr', { class: item.payable ? null : 'not-payable' },
        h('td', {}, year.academic_year),
        h('td', {}, item.name, item.payable ? null : h('span', { class: 'badge-warn', text: item.not_payable_reason || '暂不可缴' })),
        h('td', { class: 'num owed' }, money(item.outstanding))));
    }
    if (!isZeroAmount(year.outstanding)) {
      rows.push(h('tr', { class: 'year-total' },
        h('td', { colspan: '2' }, `${year.academic_year} 学年欠费小计`),
        h('td', { class: 'num' }, h('b', {}, money(year.outstanding)))));
    }
  }
  content.append(h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'arrears-table' },
    h('caption', {}, '各学年欠费明细'),
    h('thead', {}, h('tr', {}, h('th', {}, '学年'), h('th', {}, '收费项目'), h('th', { class: 'num' }, '欠费金额（元）'))),
    h('tbody', {}, rows))));
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
