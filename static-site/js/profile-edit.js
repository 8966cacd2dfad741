// 信息修改: PUT /api/profile. 【返回】 restores the values last loaded from the server.
import { api } from './api.js';
import { clearErrors, setMessage, showError } from './dom.js';
import { initPage } from './layout.js';

const form = document.getElementById('edit-form');
const msg = document.getElementById('form-message');
const input = (name) => form.elements.namedItem(name);
let loaded = null;

function fill(profile) {
  loaded = profile;
  input('phone').value = '';
  input('phone').placeholder = profile.phone_masked || '请输入手机号码';
  for (const name of ['email', 'postcode', 'address']) input(name).value = profile[name] ?? '';
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!loaded) return;
  const body = {};
  const phone = input('phone').value.trim();
  if (phone) body.phone = phone; // omitted: keep the current phone
  for (const name of ['email', 'postcode', 'address']) body[name] = input(name).value.trim();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  clearErrors(form);
  setMessage(msg, '');
  try {
    fill(await api('PUT', '/api/profile', body));
    setMessage(msg, '保存成功', 'success');
  } catch (err) {
    showError(form, msg, err);
  } finally {
    button.disabled = false;
  }
});

document.getElementById('btn-reset').addEventListener('click', () => {
  if (!loaded) return;
  fill(loaded);
  clearErrors(form);
  setMessage(msg, '已还原为保存的个人信息', '');
});

async function main() {
  const [, profile] = await Promise.all([initPage(), api('GET', '/api/profile')]);
  fill(profile);
}

main().catch((err) => setMessage(msg, err.message, 'error'));
