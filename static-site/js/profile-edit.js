// 信息修改: PUT /api/profile. 【返回】 restores the values last loaded from the server. The
// phone changes apart (更换手机号码): the login password, then the code sent to the new number.
import { api } from './api.js';
import { codeButton } from './code-button.js';
import { clearErrors, setFieldError, setMessage, showError, halfWidth } from './dom.js';
import { initPage } from './layout.js';

const form = document.getElementById('edit-form');
const msg = document.getElementById('form-message');
const input = (name) => form.elements.namedItem(name);
let loaded = null;

function fill(profile) {
  loaded = profile;
  document.getElementById('phone-current').textContent = profile.phone_masked || '未登记';
  for (const name of ['email', 'postcode', 'address']) input(name).value = profile[name] ?? '';
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!loaded) return;
  const body = {};
  for (const name of ['email', 'postcode', 'address']) body[name] = input(name).value.trim();
  body.postcode = halfWidth(body.postcode);
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

const phoneForm = document.getElementById('phone-form');
const phoneInput = (name) => phoneForm.elements.namedItem(name);
const phoneCode = codeButton(document.getElementById('btn-phone-code'), msg, {
  async send() {
    clearErrors(phoneForm);
    setMessage(msg, '');
    const phone = halfWidth(phoneInput('phone').value);
    const password = phoneInput('password').value;
    if (!phone) setFieldError(phoneForm, 'phone', '请输入新手机号码');
    if (!password) setFieldError(phoneForm, 'password', '请输入登录密码');
    if (!phone || !password) return null;
    const res = await api('POST', '/api/profile/phone/code', { phone, password });
    phoneInput('code').focus();
    return res;
  },
  failed(err) { showError(phoneForm, msg, err); },
});

function showPhoneForm(show) {
  phoneForm.hidden = !show;
  form.hidden = show;
  phoneForm.reset();
  clearErrors(phoneForm);
  phoneCode.stop();
  if (show) phoneInput('phone').focus();
}

document.getElementById('btn-phone').addEventListener('click', () => { setMessage(msg, ''); showPhoneForm(true); });
document.getElementById('btn-phone-cancel').addEventListener('click', () => { setMessage(msg, ''); showPhoneForm(false); });

phoneForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(phoneForm);
  setMessage(msg, '');
  const phone = halfWidth(phoneInput('phone').value);
  const code = halfWidth(phoneInput('code').value);
  if (!phone) setFieldError(phoneForm, 'phone', '请输入新手机号码');
  if (!code) setFieldError(phoneForm, 'code', '请点击「获取验证码」，输入新号码收到的6位验证码');
  if (!phone || !code) return;
  const button = phoneForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const profile = await api('PUT', '/api/profile/phone', { phone, code });
    fill(profile);
    showPhoneForm(false);
    setMessage(msg, `手机号码已更换为 ${profile.phone_masked}`, 'success');
  } catch (err) {
    showError(phoneForm, msg, err);
  } finally {
    button.disabled = false;
  }
});

async function main() {
  const [, profile] = await Promise.all([initPage(), api('GET', '/api/profile')]);
  fill(profile);
}

main().catch((err) => setMessage(msg, err.message, 'error'));
