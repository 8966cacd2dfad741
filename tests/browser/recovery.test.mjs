// 忘记密码 in the browser (issue #12, item 4): for a student with a phone on file the security
// answer comes with the SMS code; the reset ends the sessions opened with the old password.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 MOTO_ENDPOINT=http://127.0.0.1:4566 node --test recovery.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, openBrowser, shot, url, byId, visible, signIn, smsSentTo, codeSentTo } from './harness.mjs';

// 周八 of the demo data, after records.test.mjs (which runs first and changes her initial
// password to Campus2026r); this test runs last, as it changes her password again.
const ZHOU = {
  no: '2021010105', id: '620103200005054523', name: '周八', initial: '05054523', changed: 'Campus2026r', phone: '+8613512345678',
};
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: IPHONE };

async function identity(page) {
  await page.goto(url('forgot.html'));
  await page.getByLabel('学号').fill(ZHOU.no);
  await page.getByLabel('身份证号').fill(ZHOU.id);
  await page.getByLabel('姓名').fill(ZHOU.name);
  await byId(page, 'btn-identity').click();
  await visible(byId(page, 'input-answer'));
}

test('周八 recovers her password with her answer and the SMS code; her old session ends', { timeout: 120000 }, async () => {
  // Logged in with the old password (and the question set) in one browser …
  const old = await openBrowser({ viewport: { width: 1280, height: 900 } });
  await signIn(old.page, ZHOU.no, ZHOU.initial, ZHOU.changed);
  const set = await old.page.request.put(url('api/security-question'), {
    headers: { origin: BASE }, data: { password: ZHOU.changed, question: '我的小学名称？', answer: '七里河小学' },
  });
  assert.equal(set.status(), 204);

  // … a phone-sized browser sees both the answer and the code asked for …
  const phone = await openBrowser(PHONE);
  await identity(phone.page);
  await visible(byId(phone.page, 'input-code'));
  assert.match(await byId(phone.page, 'method-answer').locator('..').innerText(), /密保问题＋短信验证码/);
  await shot(phone.page, 'recovery-phone-answer-and-code');
  assert.deepEqual(phone.errors, []);
  await phone.close();

  // … and on a desktop the recovery goes through with both.
  const { page, errors, close } = await openBrowser({ viewport: { width: 1280, height: 900 } });
  await identity(page);
  assert.equal(await byId(page, 'question-text').innerText(), '我的小学名称？');
  await byId(page, 'input-answer').fill('七里河小学');
  await page.getByLabel('新密码', { exact: true }).fill('Found2026zb');
  await page.getByLabel('确认新密码').fill('Found2026zb');
  await byId(page, 'btn-reset-password').click();
  await visible(byId(page, 'error-code'));
  assert.equal(await byId(page, 'error-code').innerText(), '请输入短信验证码', 'the answer alone is not sent');
  const before = (await smsSentTo(ZHOU.phone)).length;
  await byId(page, 'btn-sms').click();
  await visible(page.getByText('验证码已发送至 135****5678'));
  await byId(page, 'input-code').fill(await codeSentTo(ZHOU.phone, '找回密码', before));
  await shot(page, 'recovery-desktop-answer-and-code');
  await byId(page, 'btn-reset-password').click();
  await visible(byId(page, 'reset-done'));
  await shot(page, 'recovery-desktop-done');
  assert.deepEqual(errors, []);
  await close();

  // The session opened with the old password is over.
  await old.page.goto(url('home.html'));
  await old.page.waitForURL(/\/index\.html\?expired=1$/);
  await old.close();
});
