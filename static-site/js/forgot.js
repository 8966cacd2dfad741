// 忘记密码: verify identity, then reset the password by security answer or SMS code.
import { api } from './api.js';
import { clearErrors, setFieldError, setMessage, showError, halfWidth } from './dom.js';
import { codeButton } from './code-button.js';
import { initPublicPage } from './layout.js';

initPublicPage();
const identityForm = document.getElementById('identity-form');
const resetForm = document.getElementById('reset-form');
const msg = document.getElementById('form-message');
const smsButton = document.getElementById('btn-sms');
const field = (form, name) => form.elements.namedItem(name);
let ticket = null;
// A phone on file: the security answer alone is not enough, it goes with the SMS code.
let hasPhone = false;

function showStep(n) {
  identityForm.hidden = n !== 1;
  resetForm.hidden = n !== 2;
  document.getElementById('done').hidden = n !== 3;
  for (const i of [1, 2, 3]) document.getElementById(`step-${i}`).classList.toggle('current', i === n);
}

function restart(message) {
  ticket = null;
  countdown.stop();
  resetForm.reset();
  clearErrors(resetForm);
  showStep(1);
  setMessage(msg, message, 'error');
}

function selectMethod(method) {
  document.getElementById('answer-box').hidden = method !== 'answer';
  document.getElementById('sms-box').hidden = method !== 'sms' && !(method === 'answer' && hasPhone);
}

identityForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(identityForm);
  setMessage(msg, '');
  const body = {
    student_no: halfWidth(field(identityForm, 'student_no').value),
    id_card: halfWidth(field(identityForm, 'id_card').value),
    name: field(identityForm, 'name').value.trim(),
  };
  const labels = { student_no: '请输入学号', id_card: '请输入身份证号', name: '请输入姓名' };
  const missing = Object.keys(body).filter((k) => !body[k]);
  if (missing.length) { missing.forEach((k) => setFieldError(identityForm, k, labels[k])); return; }
  try {
    const res = await api('POST', '/api/password/forgot', body, { auth: false });
    ticket = res.ticket;
    hasPhone = Boolean(res.phone_masked);
    const answerRadio = document.getElementById('method-answer');
    const smsRadio = document.getElementById('method-sms');
    answerRadio.disabled = !res.question;
    smsRadio.disabled = !res.phone_masked;
    answerRadio.parentElement.lastChild.textContent = !res.question ? ' 密保问题（未设置）'
      : hasPhone ? ' 密保问题＋短信验证码' : ' 密保问题';
    smsRadio.parentElement.lastChild.textContent = res.phone_masked ? ' 短信验证码' : ' 短信验证码（未绑定手机）';
    document.getElementById('question-text').textContent = res.question || '';
    document.getElementById('phone-text').textContent = res.phone_masked || '';
    if (!res.question && !res.phone_masked) {
      setMessage(msg, '该账号未设置密保问题，也未绑定手机号码，无法自助找回密码。请联系学院电话 2755282、2973633。', 'warn');
      return;
    }
    const method = res.question ? 'answer' : 'sms';
    (method === 'answer' ? answerRadio : smsRadio).checked = true;
    selectMethod(method);
    showStep(2);
  } catch (err) {
    showError(identityForm, msg, err);
  }
});

resetForm.addEventListener('change', (ev) => {
  if (ev.target.name === 'method') selectMethod(ev.target.value);
});

const countdown = codeButton(smsButton, msg, {
  async send() {
    clearErrors(resetForm);
    setMessage(msg, '');
    const res = await api('POST', '/api/password/forgot/sms', { ticket }, { auth: false });
    field(resetForm, 'code').focus();
    return res;
  },
  failed(err) {
    if (err.code === 'TICKET_EXPIRED') restart(err.message);
    else setMessage(msg, err.message, 'error');
  },
});

resetForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(resetForm);
  setMessage(msg, '');
  const method = field(resetForm, 'method').value;
  const newPassword = field(resetForm, 'new_password').value;
  const body = { ticket, method, new_password: newPassword };
  let ok = true;
  if (method === 'answer') {
    body.answer = field(resetForm, 'answer').value.trim();
    if (!body.answer) { ok = false; setFieldError(resetForm, 'answer', '请输入密保答案'); }
  }
  if (method === 'sms' || hasPhone) {
    body.code = halfWidth(field(resetForm, 'code').value);
    if (!body.code) { ok = false; setFieldError(resetForm, 'code', '请输入短信验证码'); }
  }
  if (!newPassword) { ok = false; setFieldError(resetForm, 'new_password', '请输入新密码'); }
  else if (newPassword !== field(resetForm, 'confirm_password').value) {
    ok = false; setFieldError(resetForm, 'confirm_password', '两次输入的新密码不一致');
  }
  if (!ok) return;
  try {
    await api('POST', '/api/password/forgot/reset', body, { auth: false });
    countdown.stop();
    resetForm.reset();
    setMessage(msg, '');
    showStep(3);
  } catch (err) {
    if (err.code === 'TICKET_EXPIRED') restart(err.message);
    else if (err.code === 'WRONG_ANSWER') { clearErrors(resetForm); setFieldError(resetForm, 'answer', err.message); }
    else if (err.code === 'CODE_INVALID' || err.code === 'CODE_EXPIRED') { clearErrors(resetForm); setFieldError(resetForm, 'code', err.message); }
    else showError(resetForm, msg, err);
  }
});
