// 个人信息: read-only view of GET /api/profile.
import { api } from './api.js';
import { h, orDash, setMessage } from './dom.js';
import { initPage } from './layout.js';

const FIELDS = [
  ['student_no', '编号'], ['name', '姓名'], ['gender', '性别'], ['id_card_masked', '身份证号'],
  ['department', '部门'], ['class_name', '班级'], ['phone_masked', '手机'], ['email', '邮箱'],
  ['postcode', '邮编'], ['address', '地址'],
];
const info = document.getElementById('info');

async function main() {
  const [, p] = await Promise.all([initPage(), api('GET', '/api/profile')]);
  info.replaceChildren(...FIELDS.flatMap(([key, label]) => [
    h('dt', {}, label),
    h('dd', { 'data-testid': `profile-${key}`, class: p[key] == null || p[key] === '' ? 'muted' : null }, orDash(p[key])),
  ]));
}

main().catch((err) => {
  const box = h('div', { role: 'alert' });
  setMessage(box, err.message, 'error');
  info.replaceWith(box);
});
