// 密保修改: step 1 verifies the login password, step 2 sets a new question and answer.
// The verified password stays in memory only, to re-send it with PUT /api/security-question.
import { api } from './api.js';
import { clearErrors, setFieldError, setMessage, showError } from './dom.js';
import { initPage } from './layout.js';

const verifyForm = document.getElementById('verify-form');
const questionForm = document.getElementById('question-form');
const msg = document.getElementById('form-message');
const currentQuestion = document.getElementById('current-question');
let password = null;

function showStep(n) {
  verifyForm.hidden = n !== 1;
  questionForm.hidden = n !== 2;
  document.getElementById('step-1').classList.toggle('current', n === 1);
  document.getElementById('step-2').classList.toggle('current', n === 2);
}

verifyForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(verifyForm);
  setMessage(msg, '');
  const value = verifyForm.elements.namedItem('password').value;
  if (!value) { setFieldError(verifyForm, 'password', '请输入登录密码'); return; }
  try {
    await api('POST', '/api/security-question/verify', { password: value });
    const { question } = await api('GET', '/api/security-question');
    password = value;
    verifyForm.reset();
    currentQuestion.textContent = question || '尚未设置密保问题';
    showStep(2);
    questionForm.elements.namedItem('question').focus();
  } catch (err) {
    showError(verifyForm, msg, err);
  }
});

questionForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors(questionForm);
  setMessage(msg, '');
  const question = questionForm.elements.namedItem('question').value.trim();
  const answer = questionForm.elements.namedItem('answer').value.trim();
  let ok = true;
  if (!question) { ok = false; setFieldError(questionForm, 'question', '请输入新密保问题'); }
  if (!answer) { ok = false; setFieldError(questionForm, 'answer', '请输入密保答案'); }
  if (!ok) return;
  try {
    await api('PUT', '/api/security-question', { password, question, answer });
    currentQuestion.textContent = question;
    questionForm.reset();
    setMessage(msg, '密保修改成功', 'success');
  } catch (err) {
    if (err.fields && err.fields.password) {
      // The kept password is no longer valid (e.g. changed meanwhile): verify again.
      password = null;
      showStep(1);
      showError(verifyForm, msg, err);
    } else {
      showError(questionForm, msg, err);
    }
  }
});

initPage().catch((err) => setMessage(msg, err.message, 'error'));
