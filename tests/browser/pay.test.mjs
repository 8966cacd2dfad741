// Browser test of 学费缴费 → 缴费单 → payment through the local platform's sandbox gateways.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 node --test --test-concurrency=1 pay.test.mjs
// Needs freshly seeded demo data. Uses 王五 (2021010103), 孙七 (2021010104) and 赵六 (U0001) only,
// so it does not disturb site.test.mjs (张三, 李四); a second run on the same data finds their
// fees paid.
// The sandbox's scan page / H5 cashier has buttons data-testid="sandbox-pay" / "sandbox-cancel";
// 支付 there makes the sandbox notify the platform.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBrowser, shot, url, byId, visible, signIn, wizardToStep4 } from './harness.mjs';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: IPHONE };
const IN_APP = [
  ['wechat', `${IPHONE.replace(' Safari/604.1', '')} MicroMessenger/8.0.47(0x1800302f) NetType/WIFI Language/zh_CN`],
  ['alipay', `${IPHONE.replace(' Safari/604.1', '')} AlipayClient/10.5.36.6000 Language/zh-Hans`],
];

const orderNoOf = (page) => new URL(page.url()).searchParams.get('order_no');

async function noSidewaysScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the phone screen`);
}

test('(a) PC: 王五 pays 学费 by 支付宝 QR and the order page turns 支付成功 by itself; (c) 「我已支付」 in a stale tab', { timeout: 180000 }, async () => {
  const { context, page, errors, close } = await openBrowser({ viewport: { width: 1280, height: 900 } });
  try {
    await signIn(page, '2021010103', '11227895', 'Campus2026c');
    await wizardToStep4(page, 'pay-desktop', {
      // Only the current year has something payable; 补考费 (last year) is out of its window.
      async year() {
        assert.equal(await byId(page, 'year-option').count(), 1);
        assert.match(await byId(page, 'blocked-items').innerText(), /补考费.*不在收费时间内/);
      },
      // 学费 checked; 教材费 shown, disabled, 暂停收费.
      async items() {
        assert.ok(await byId(page, 'item-TUITION').isChecked());
        assert.ok(await byId(page, 'item-BOOKS').isDisabled());
        assert.match(await byId(page, 'not-payable').innerText(), /暂停收费/);
      },
    });
    assert.equal(await byId(page, 'phone-total').innerText(), '4,000.00');
    // The phone on file is offered; another one for this order's e-receipt must be entered.
    assert.equal(await byId(page, 'profile-phone').innerText(), '138****2345');
    await byId(page, 'phone-change').check();
    await page.getByRole('button', { name: '确认缴费' }).click();
    await visible(byId(page, 'error-phone'));
    assert.match(await byId(page, 'error-phone').innerText(), /请填写接收电子票据的手机号码/);
    await shot(page, 'pay-desktop-4-phone');
    await page.getByLabel('接收电子票据的手机号码').fill('13912345678');
    await page.getByRole('button', { name: '确认缴费' }).click();

    // 缴费单
    await page.waitForURL(/\/order\.html\?order_no=XF\d{6}[A-Z0-9]{5}\d{6}$/);
    const orderNo = orderNoOf(page);
    await visible(byId(page, 'pay-panel'));
    assert.equal(await byId(page, 'order-no').innerText(), orderNo);
    assert.equal(await byId(page, 'order-phone').innerText(), '139****5678');
    assert.match(await byId(page, 'order-payee').innerText(), /甘肃省财政厅/);
    assert.match(await byId(page, 'order-total').innerText(), /4,000\.00/);
    assert.match(await byId(page, 'order-countdown').innerText(), /^\d{2,3}:\d{2}$/);
    await shot(page, 'pay-desktop-5-order');

    // (c) A second tab of the same order, which never learns anything by itself (its reads of
    // the order fail from now on): only 「我已支付」 can tell it.
    const stale = await context.newPage();
    await stale.goto(url(`order.html?order_no=${orderNo}`));
    await visible(byId(stale, 'btn-check'));
    await stale.route((u) => u.pathname === `/api/orders/${orderNo}`, (route) =>
      (route.request().method() === 'GET' ? route.abort() : route.continue()));

    // 微信支付 first, then 更换支付方式 → 支付宝: a new QR code (the server closes the first attempt).
    await byId(page, 'channel-wechat').click();
    await visible(byId(page, 'qr-code').locator('svg'));
    const wechatQr = await byId(page, 'qr-code').getAttribute('data-qr-content');
    assert.match(wechatQr, /^https?:\/\//);
    assert.match(await byId(page, 'qr-panel').innerText(), /请使用微信扫一扫/);
    await byId(page, 'btn-change').click();
    await byId(page, 'channel-alipay').click();
    await page.waitForFunction((old) => {
      const el = document.querySelector('[data-testid=qr-code]');
      return el && el.dataset.channel === 'alipay' && el.dataset.qrContent !== old && el.querySelector('svg');
    }, wechatQr);
    const panel = await byId(page, 'qr-panel').innerText();
    assert.match(panel, /请使用支付宝 APP 扫一扫/);
    assert.match(panel, /注意：请确认收款名称：甘肃省财政厅/);
    const alipayQr = await byId(page, 'qr-code').getAttribute('data-qr-content');
    assert.match(alipayQr, /^https?:\/\//);
    await shot(page, 'pay-desktop-6-qr');

    // Scan with the "phone": the sandbox's scan page, 支付.
    const scan = await context.newPage();
    await scan.goto(alipayQr);
    await visible(byId(scan, 'sandbox-pay'));
    await shot(scan, 'pay-sandbox-scan');
    const paidAt = Date.now();
    await byId(scan, 'sandbox-pay').click();

    // (a) The order page polls and shows 支付成功 by itself.
    await visible(byId(page, 'pay-success'), 10000);
    assert.ok(Date.now() - paidAt <= 10000);
    assert.equal(await byId(page, 'success-order-no').innerText(), orderNo);
    assert.match(await byId(page, 'success-amount').innerText(), /4,000\.00/);
    assert.equal(await byId(page, 'success-channel').innerText(), '支付宝');
    assert.match(await byId(page, 'success-time').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    await visible(page.getByRole('link', { name: '查看已交费信息' }));
    assert.ok(await byId(page, 'attempts').locator('tr[data-state=closed]').count() >= 1, 'the 微信支付 attempt is closed');
    assert.equal(await byId(page, 'duplicate-notice').count(), 0);
    await shot(page, 'pay-desktop-7-success');

    // (c) 「我已支付」 asks the server, which answers paid.
    await visible(byId(stale, 'btn-check'));
    assert.equal(await byId(stale, 'pay-success').count(), 0, 'the stale tab cannot know yet');
    const checked = stale.waitForResponse((r) => r.url().endsWith(`/api/orders/${orderNo}/check`) && r.request().method() === 'POST');
    await byId(stale, 'btn-check').click();
    const res = await checked;
    assert.equal(res.status(), 200);
    assert.equal((await res.json()).state, 'paid');
    await visible(byId(stale, 'pay-success'));
    assert.equal(await byId(stale, 'success-channel').innerText(), '支付宝');
    await shot(stale, 'pay-desktop-8-check');
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});

test('(b) phone: 赵六 pays by 微信支付 H5; in-app browsers offer their own channel only', { timeout: 180000 }, async () => {
  const { page, errors, close } = await openBrowser(PHONE);
  try {
    await signIn(page, 'U0001', '赵六', 'Campus2026d');
    await wizardToStep4(page, 'pay-mobile');
    await noSidewaysScroll(page, 'the wizard');
    // A phone on file: keep it.
    assert.match(await byId(page, 'profile-phone').innerText(), /^\d{3}\*{4}\d{4}$/);
    await page.getByRole('button', { name: '确认缴费' }).click();
    await page.waitForURL(/\/order\.html\?order_no=/);
    const orderNo = orderNoOf(page);
    await visible(byId(page, 'pay-panel'));
    // An ordinary mobile browser shows every channel the server offers.
    const offered = await page.evaluate(async (no) => (await (await fetch(`/api/orders/${no}`)).json()).channels, orderNo);
    assert.ok(offered.includes('wechat'), 'the platform offers 微信支付');
    for (const c of ['alipay', 'wechat', 'unionpay']) {
      assert.equal(await byId(page, `channel-${c}`).count(), offered.includes(c) ? 1 : 0, `channel ${c}`);
    }
    assert.equal(await byId(page, 'browser-advice').count(), 0);
    await noSidewaysScroll(page, 'the order page');
    await shot(page, 'pay-mobile-5-order');

    // 「我已支付」 before paying: not paid, and no "wait 1-2 working days".
    await byId(page, 'btn-check').click();
    await visible(byId(page, 'check-result'));
    const answer = await byId(page, 'check-result').innerText();
    assert.match(answer, /暂未查询到支付成功的交易/);
    assert.ok(!/工作日/.test(answer), 'never tell the student to wait working days');

    // Inside WeChat only 微信支付 (as a QR code), inside Alipay only 支付宝; both advise a real browser.
    for (const [channel, userAgent] of IN_APP) {
      const inApp = await openBrowser({ ...PHONE, userAgent });
      try {
        await signIn(inApp.page, 'U0001', '赵六', 'Campus2026d');
        await inApp.page.goto(url(`order.html?order_no=${orderNo}`));
        await visible(byId(inApp.page, `channel-${channel}`));
        assert.equal(await inApp.page.locator('[data-testid^=channel-]').count(), 1);
        assert.match(await byId(inApp.page, 'browser-advice').innerText(), /建议使用 Chrome、360、UC 等第三方浏览器/);
        await shot(inApp.page, `pay-mobile-inapp-${channel}`);
      } finally {
        await inApp.close();
      }
    }

    // 微信支付 on a phone: H5, the browser goes to the (sandbox) cashier and comes back.
    await byId(page, 'channel-wechat').click();
    await page.waitForURL((u) => !u.pathname.endsWith('/order.html'));
    await visible(byId(page, 'sandbox-pay'));
    await shot(page, 'pay-mobile-6-cashier');
    await byId(page, 'sandbox-pay').click();
    await page.waitForURL(/\/order\.html\?/);
    await visible(byId(page, 'pay-success'), 15000);
    assert.equal(await byId(page, 'success-order-no').innerText(), orderNo);
    assert.match(await byId(page, 'success-amount').innerText(), /1,500\.00/);
    assert.equal(await byId(page, 'success-channel').innerText(), '微信支付');
    await noSidewaysScroll(page, 'the 支付成功 page');
    await shot(page, 'pay-mobile-7-success');
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});

// 银联: the order page posts a signed form to the gateway (front consume), the browser lands on
// the cashier, and after 支付 the cashier posts the signed result back to our frontUrl, which
// sends the browser to the order page. The backUrl notification marks the order paid.
async function payByUnionpay(page, shots, expected) {
  await wizardToStep4(page, shots, {
    yearIndex: expected.yearIndex,
    async year() { assert.equal(await byId(page, 'year-option').count(), expected.years, 'academic years with something payable'); },
  });
  assert.equal(await byId(page, 'phone-total').innerText(), expected.total);
  assert.match(await byId(page, 'profile-phone').innerText(), /^151\*{4}2345$/);
  await page.getByRole('button', { name: '确认缴费' }).click();
  await page.waitForURL(/\/order\.html\?order_no=/);
  const orderNo = orderNoOf(page);
  await visible(byId(page, 'pay-panel'));
  await byId(page, 'channel-unionpay').click();
  // The sandbox cashier (another origin): the gateway redirected the posted form there.
  await page.waitForURL((u) => u.pathname.startsWith('/cashier/'));
  await visible(byId(page, 'sandbox-pay'));
  assert.match(await page.content(), new RegExp(expected.total.replace(/[.,]/g, '\\$&')));
  await shot(page, `${shots}-6-cashier`);
  await byId(page, 'sandbox-pay').click();
  // Back on our order page through /api/return/unionpay.
  await page.waitForURL((u) => u.pathname.endsWith('/order.html') && u.origin === new URL(url('')).origin);
  try {
    await visible(byId(page, 'pay-success'), 15000);
  } catch (e) {
    const text = await page.locator('body').innerText().catch(() => '?');
    throw new Error(`no 支付成功 on ${page.url()}: ${e.message}\npage errors: ${JSON.stringify(expected.errors)}\n${text.slice(0, 800)}`);
  }
  assert.equal(await byId(page, 'success-order-no').innerText(), orderNo);
  assert.match(await byId(page, 'success-amount').innerText(), new RegExp(expected.total.replace(/[.,]/g, '\\$&')));
  assert.equal(await byId(page, 'success-channel').innerText(), '银联在线支付');
  await shot(page, `${shots}-7-success`);
  return orderNo;
}

test('(d) 孙七 pays by 银联 on a PC (channelType 07) and on a phone (08)', { timeout: 180000 }, async () => {
  const pc = await openBrowser({ viewport: { width: 1280, height: 900 } });
  try {
    await signIn(pc.page, '2021010104', '04120030', 'Campus2026e');
    // Two years owe something; the older one (the last option) owes 学费 3,000.00.
    await payByUnionpay(pc.page, 'pay-unionpay-pc', { years: 2, yearIndex: 1, total: '3,000.00', errors: pc.errors });
    assert.deepEqual(pc.errors, [], 'no uncaught page errors');
  } finally {
    await pc.close();
  }
  const phone = await openBrowser(PHONE);
  try {
    await signIn(phone.page, '2021010104', '04120030', 'Campus2026e');
    // The paid year is gone; this year's 学费 + 考试费 remain.
    await payByUnionpay(phone.page, 'pay-unionpay-mobile', { years: 1, yearIndex: 0, total: '3,080.00', errors: phone.errors });
    await noSidewaysScroll(phone.page, 'the 支付成功 page');
    assert.deepEqual(phone.errors, [], 'no uncaught page errors');
  } finally {
    await phone.close();
  }
});
