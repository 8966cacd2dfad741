// Accounts in the browser (issue #12): a student with no phone on file is sent to the college
// at the first login; the phone changes only with the login password and the code sent to
// the new number, and the replaced number is told. Desktop and phone sizes.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 MOTO_ENDPOINT=http://127.0.0.1:4566 node --test site_accounts.test.mjs
// Runs after site.test.mjs (node --test runs files in name order: hence this name), which completes the first logins of 张三 (Campus2026a, desktop) and
// 李四 (Campus2026b, phone size); uses 郑十 (no phone on file), who never logs in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBrowser, shot, url, byId, visible, signIn, smsSentTo, codeSentTo, DEMO_PHONES } from './harness.mjs';

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: IPHONE };

async function noSidewaysScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the screen`);
}

for (const [size, options] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`${size}: a first login without a phone on file is sent to the college`, { timeout: 60000 }, async () => {
    const { page, errors, close } = await openBrowser(options);
    try {
      await page.goto(url('index.html'));
      await page.getByLabel('用户名').fill('2021010107');
      await page.getByLabel('密码', { exact: true }).fill('02182716');
      await page.getByRole('button', { name: '登录' }).click();
      await visible(byId(page, 'login-message'));
      const message = await byId(page, 'login-message').innerText();
      assert.match(message, /未登记手机号码/);
      assert.match(message, /2755282/);
      assert.match(page.url(), /index\.html/);
      await noSidewaysScroll(page, 'the login page');
      await shot(page, `first-login-no-phone-${size}`);
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
}

// Changes the phone of `who` to `to` on 个人信息修改: a wrong password first, then the code.
async function changePhone(page, who, to, size) {
  await page.goto(url('profile-edit.html'));
  await page.waitForFunction(() => document.getElementById('phone-current').textContent.includes('*'));
  assert.equal(await page.getByLabel('新手机号码').isVisible(), false, 'no phone field on the profile form');
  await byId(page, 'btn-phone').click();
  await visible(page.getByLabel('新手机号码'));
  await page.getByLabel('新手机号码').fill(to);
  // (moto keeps every SMS of its lifetime: count from here.)
  const sentBefore = (await smsSentTo(`+86${to}`)).length;
  await page.getByLabel('登录密码').fill('Wrong2026x');
  await byId(page, 'btn-phone-code').click();
  await visible(byId(page, 'error-password'));
  assert.equal(await byId(page, 'error-password').innerText(), '密码不正确');
  assert.equal((await smsSentTo(`+86${to}`)).length, sentBefore, 'no code without the password');
  await page.getByLabel('登录密码').fill(who.password);
  await byId(page, 'btn-phone-code').click();
  await visible(page.getByText(`验证码已发送至 ${to.slice(0, 3)}****${to.slice(7)}`));
  await page.getByLabel('新号码收到的验证码').fill(await codeSentTo(`+86${to}`, '更换绑定手机', sentBefore));
  await noSidewaysScroll(page, 'the phone change');
  await shot(page, `phone-change-${size}`);
  const old = DEMO_PHONES[who.no];
  const toldBefore = (await smsSentTo(old)).length;
  await byId(page, 'btn-phone-save').click();
  await visible(page.getByText(`手机号码已更换为 ${to.slice(0, 3)}****${to.slice(7)}`));
  assert.equal(await byId(page, 'phone-current').innerText(), `${to.slice(0, 3)}****${to.slice(7)}`);
  await shot(page, `phone-changed-${size}`);
  // The replaced number is told, masked.
  let told = [];
  for (let i = 0; i < 50 && told.length === 0; i += 1) {
    told = (await smsSentTo(old)).slice(toldBefore);
    if (told.length === 0) await page.waitForTimeout(100);
  }
  assert.match(told[0], new RegExp(`更换为${to.slice(0, 3)}\\*{4}${to.slice(7)}`));
}

const CHANGES = [
  ['desktop', DESKTOP, { no: '2021010101', name: '张三', initial: '03151235', password: 'Campus2026a' }, '13987650011'],
  ['phone', PHONE, { no: '2021010102', name: '李四', initial: '0708456X', password: 'Campus2026b' }, '13987650012'],
];
for (const [size, options, who, to] of CHANGES) {
  test(`${size}: ${who.name} changes the phone with the password and the code to the new number`, { timeout: 90000 }, async () => {
    const { page, errors, close } = await openBrowser(options);
    try {
      await signIn(page, who.no, who.initial, who.password);
      await changePhone(page, who, to, size);
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
}
