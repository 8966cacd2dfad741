// Browser test of the campus-pay student site, run against a server with freshly seeded demo data.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 node --test site.test.mjs
// Uses Debian's Chromium (/usr/bin/chromium) through playwright-core; no browser download.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBrowser, shot, url, byId, visible, completeFirstLogin } from './harness.mjs';

const navLink = (page, name) => page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name, exact: true });
const amount = (text) => text.replace(/[^\d.]/g, '');

async function login(page, username, password) {
  await page.goto(url('index.html'));
  await page.getByLabel('用户名').fill(username);
  await page.getByLabel('密码', { exact: true }).fill(password);
  await page.getByRole('button', { name: '登录' }).click();
}

async function forcedPasswordChange(page, username, oldPassword, newPassword, shotName) {
  await page.waitForURL(/\/password\.html\?forced=1$/);
  await visible(page.getByText('首次登录，请先验证学院登记的手机号码'));
  // Only 退出登录 is offered until the initial password is changed.
  await visible(byId(page, 'nav-logout'));
  assert.equal(await navLink(page, '当前费用').count(), 0, 'nav must be hidden during the forced change');
  await completeFirstLogin(page, username, oldPassword, newPassword, shotName);
}

test('student with arrears: first login, fees, profile edit, logout', { timeout: 120000 }, async () => {
  const { page, errors, close } = await openBrowser({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(url('index.html'));
    await visible(page.getByText('在校生用户名为学号，密码为身份证号后8位（末尾X大写）'));
    await visible(page.getByRole('link', { name: '忘记密码' }));
    // 手机访问: the site's own address as a QR code, as the reference's login page shows it.
    await visible(byId(page, 'site-qr'));
    assert.equal(await byId(page, 'site-url').innerText(), `${new URL(url('')).origin}/`);
    assert.equal(await page.locator('#site-qr-code svg').count(), 1);
    await shot(page, 'login-desktop');

    // A wrong password shows the server's message and stays on the login page.
    await login(page, '2021010101', 'wrong-password');
    await visible(byId(page, 'login-message'));
    assert.match(await byId(page, 'login-message').innerText(), /\S/);
    assert.match(page.url(), /index\.html/);

    await login(page, '2021010101', '03151235');
    await page.waitForURL(/\/password\.html\?forced=1$/, { timeout: 15000 }).catch(() => {
      throw new Error('login as 2021010101/03151235 did not reach the forced password change — is the demo data freshly seeded?');
    });
    await shot(page, 'password-forced');
    await forcedPasswordChange(page, '2021010101', '03151235', 'Campus2026a', 'password-forced-code');

    // Home: arrears with a non-zero total, user bar with the masked ID card.
    await visible(page.getByText('首次登录验证完成，密码已修改'));
    const total = byId(page, 'total-outstanding');
    await visible(total);
    assert.ok(Number(amount(await total.innerText())) > 0, 'outstanding total must be non-zero');
    const userBar = await byId(page, 'user-bar').innerText();
    assert.match(userBar, /当前用户>>/);
    assert.match(userBar, /张三/);
    assert.match(userBar, /2021010101/);
    assert.ok(!userBar.includes('620102199903151235'), 'ID card number must be masked');
    await shot(page, 'home-arrears');

    // 当前费用: the three academic years.
    await navLink(page, '当前费用').click();
    await page.waitForURL(/\/fees\.html$/);
    await visible(byId(page, 'fee-year').first());
    const years = await byId(page, 'fee-year').evaluateAll((els) => els.map((e) => e.dataset.year));
    // The demo data owes the current academic year (starting 1 September, Beijing time) and
    // the two before it.
    const beijing = new Date(Date.now() + 8 * 3600 * 1000);
    const cur = beijing.getUTCMonth() >= 8 ? beijing.getUTCFullYear() : beijing.getUTCFullYear() - 1;
    const expected = [cur - 2, cur - 1, cur].map((y) => `${y}-${y + 1}`);
    assert.deepEqual([...years].sort(), expected);
    for (const y of years) await visible(page.getByRole('table', { name: `${y} 学年` }));
    await visible(page.getByText('收费状态：收费：当前正在收费；停止：当前暂停缴费。'));
    await shot(page, 'fees');

    // 个人信息 → 个人信息修改: server-side field error, then a valid save.
    await navLink(page, '个人信息').click();
    await page.waitForURL(/\/profile\.html$/);
    await visible(page.getByText('请先确认个人信息无误后再进行缴费，避免误交费。'));
    await page.getByRole('link', { name: '个人信息修改' }).click();
    await page.waitForURL(/\/profile-edit\.html$/);
    // The form works once the profile is loaded (the masked phone shows).
    await page.waitForFunction(() => document.getElementById('phone-current').textContent.includes('*'));
    const postcode = page.getByLabel('邮编');
    const email = page.getByLabel('邮箱');
    await postcode.fill('12ab');
    await page.getByRole('button', { name: '保存' }).click();
    await visible(byId(page, 'error-postcode'));
    assert.match(await byId(page, 'error-postcode').innerText(), /邮编/);
    assert.equal(await postcode.getAttribute('aria-invalid'), 'true');
    await shot(page, 'profile-edit-error');

    await postcode.fill('730050');
    await email.fill('zhangsan@example.com');
    await page.getByRole('button', { name: '保存' }).click();
    await visible(page.getByText('保存成功'));
    assert.equal(await byId(page, 'error-postcode').isVisible(), false, 'field error must clear after a valid save');

    await page.goto(url('profile.html'));
    await visible(byId(page, 'profile-postcode'));
    assert.equal(await byId(page, 'profile-postcode').innerText(), '730050');
    assert.equal(await byId(page, 'profile-email').innerText(), 'zhangsan@example.com');
    assert.ok(!(await byId(page, 'profile-id_card_masked').innerText()).includes('199903151235'));
    await shot(page, 'profile');

    // 返回 discards unsaved edits.
    await page.goto(url('profile-edit.html'));
    await page.waitForFunction(() => document.getElementById('email').value === 'zhangsan@example.com');
    await email.fill('other@example.com');
    await postcode.fill('100000');
    await page.getByRole('button', { name: '返回' }).click();
    assert.equal(await email.inputValue(), 'zhangsan@example.com');
    assert.equal(await postcode.inputValue(), '730050');

    // 退出登录 ends the session: home.html leads back to the login page.
    await page.getByRole('button', { name: '退出登录' }).click();
    await page.waitForURL(/\/index\.html/);
    await page.goto(url('home.html'));
    await page.waitForURL(/\/index\.html/);
    await visible(page.getByRole('button', { name: '登录' }));
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});

test('student without arrears on a phone', { timeout: 120000 }, async () => {
  const { page, errors, close } = await openBrowser({
    viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  try {
    await page.goto(url('index.html'));
    await shot(page, 'login-mobile');
    await login(page, '2021010102', '0708456X');
    await forcedPasswordChange(page, '2021010102', '0708456X', 'Campus2026b', 'password-forced-code-mobile');
    await visible(page.getByText('您当前没有欠费'));
    await visible(navLink(page, '当前费用'));
    // The page itself must not scroll sideways at phone width (nav and tables scroll inside).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`);
    await shot(page, 'home-mobile');

    await navLink(page, '当前费用').click();
    await page.waitForURL(/\/fees\.html$/);
    await visible(byId(page, 'fee-totals'));
    const overflowFees = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflowFees <= 0, `fees page is ${overflowFees}px wider than the phone screen`);
    await shot(page, 'fees-mobile');
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});
