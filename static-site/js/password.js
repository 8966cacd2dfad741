// 密码修改: POST /api/password. With ?forced=1 this is the first-login forced change.
import { api } from './api.js';
import { clearErrors, setFieldError, setMessage, showError } from './dom.js';
import { initPage } from './layout.js';

const forced = new URLSearchParams(window.location.search).get('forced') === '1';
const form = document.getElementById('password-form');
const msg = document.getElementById('form-message');
const value = (name) => form.elements.namedItem(name).value;
document.getElementById('forced-notice').hidden = !forced;

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  setMessage(msg, '');
  const oldPassword = value('old_password');
  const newPassword = value('new_password');
  let ok = true;
  if (!oldPassword) { ok = false; setFieldError(form, 'old_password', '请输入原密码'); }
  if (!newPassword) { ok = false; setFieldError(form, 'new_password', '请输入新密码'); }
  else if (newPassword !== value('confirm_password')) { ok = false; setFieldError(form, 'confirm_password', '两次输入的新密码不一致'); }
  if (!ok) return;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('POST', '/api/password', { old_password: oldPassword, new_password: newPassword });
    sessionStorage.setItem('flash', '密码修改成功');
    window.location.replace('home.html');
  } catch (err) {
    showError(form, msg, err);
    button.disabled = false;
  }
});

initPage({ forced }).catch((err) => setMessage(msg, err.message, 'error'));
