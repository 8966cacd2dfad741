// 报名信息: the student's enrolment record, read-only (GET /api/enrolment).
import { api } from './api.js';
import { h, setMessage } from './dom.js';
import { initPage } from './layout.js';

const content = document.getElementById('content');

async function enrolment() {
  try {
    return await api('GET', '/api/enrolment');
  } catch (err) {
    if (err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

async function main() {
  const [me, e] = await Promise.all([initPage(), enrolment()]);
  if (!e) {
    content.replaceChildren(h('p', { class: 'muted', 'data-testid': 'no-enrolment' },
      '暂无您的报名信息。如有疑问，请联系学院电话 2755282、2973633。'));
    return;
  }
  const rows = [
    ['student_no', '学号', e.student_no], ['name', '姓名', me.name], ['admission_year', '入学年份', `${e.admission_year}年`],
    ['level', '层次', e.level], ['major', '专业', e.major], ['study_mode', '学习形式', e.study_mode],
    ['study_centre', '学习中心', e.study_centre],
  ];
  content.replaceChildren(h('dl', { class: 'info-grid', 'data-testid': 'enrolment-info' },
    rows.flatMap(([key, label, value]) => [h('dt', {}, label), h('dd', { 'data-testid': `enrolment-${key}` }, value)])));
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  content.replaceChildren(box);
});
