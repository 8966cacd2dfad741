// A 「获取验证码」 button: asks for an SMS code, reports where it went, then waits 60 s (the
// server's resend interval) before another may be asked for.
import { setMessage } from './dom.js';

const RESEND_SECONDS = 60;

// send(): resolves to the server's answer ({phone_masked, expires_in_seconds}), or to null when
// it did not ask (a field is missing); failed(err) shows an error. Returns {stop}.
export function codeButton(button, msgEl, { send, failed }) {
  const label = button.textContent;
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    timer = null;
    button.disabled = false;
    button.textContent = label;
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    let res;
    try {
      res = await send();
    } catch (err) {
      button.disabled = false;
      failed(err);
      return;
    }
    if (!res) { button.disabled = false; return; }
    const minutes = Math.round((res.expires_in_seconds || 600) / 60);
    setMessage(msgEl, `验证码已发送至 ${res.phone_masked}，${minutes}分钟内有效`, 'success');
    let left = RESEND_SECONDS;
    button.textContent = `重新获取(${left}s)`;
    timer = setInterval(() => {
      left -= 1;
      if (left <= 0) stop();
      else button.textContent = `重新获取(${left}s)`;
    }, 1000);
  });
  return { stop };
}
