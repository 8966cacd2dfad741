// 密码修改: POST /api/password. With ?forced=1 this is the first login: the SMS code sent to
// the phone on file proves the student holds it, then the initial password is replaced.
import { api } from './api.js';
import { codeButton } from './code-button.js';
import { clearErrors, setFieldError, setMessage, showError, halfWidth } from './dom.js';
import { initPage } from './layout.js';

const forced = new URLSearchParams(window.location.search).get('forced') === '1';
const form = document.getElementById('password-form');
const msg = document.getElementById('form-message');
const value = (name) => form.elements.namedItem(name).value;
document.getElementById('forced-notice').hidden = !forced;
document.getElementById('code-box').hidden = !forced;
if (forced) {
  codeButton(document.getElementById('btn-code'), msg, {
    async send() {
      clearErrors(form);
      setMessage(msg, '');
      const res = await api('POST', '/api/password/code', {});
      form.elements.namedItem('code').focus();
      return res;
    },
    failed(err) { showError(form, msg, err); },
  });
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  setMessage(msg, '');
  const oldPassword = value('old_password');
  const newPassword = value('new_password');
  let ok = true;
  const code = halfWidth(value('code'));
  if (!oldPassword) { ok = false; setFieldError(form, 'old_password', '请输入原密码'); }
  if (forced && !code) { ok = false; setFieldError(form, 'code', '请点击「获取验证码」，输入手机收到的6位验证码'); }
  if (!newPassword) { ok = false; setFieldError(form, 'new_password', '请输入新密码'); }
  else if (newPassword !== value('confirm_password')) { ok = false; setFieldError(form, 'confirm_password', '两次输入的新密码不一致'); }
  if (!ok) return;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const body = { old_password: oldPassword, new_password: newPassword };
    if (forced) body.code = code;
    await api('POST', '/api/password', body);
    sessionStorage.setItem('flash', forced ? '首次登录验证完成，密码已修改' : '密码修改成功');
    window.location.replace('home.html');
  } catch (err) {
    showError(form, msg, err);
    button.disabled = false;
  }
});

initPage({ forced }).catch((err) => setMessage(msg, err.message, 'error'));
