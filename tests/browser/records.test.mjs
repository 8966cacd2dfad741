// Browser test of 交易查询, 系统公告, 报名信息 and 生活缴费 through the local platform.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 node --test --test-concurrency=1 records.test.mjs
// Needs freshly seeded demo data. Uses 周八 (2021010105) only: last year's tuition paid at the
// bank (an offline payment in the demo data), this year's 学费 and 教材费 owed. 周八 pays them
// by 支付宝 in the sandbox, then finds the payment in 银行交易记录 and 已交费信息.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBrowser, shot, url, byId, visible, signIn as signInAs } from './harness.mjs';

const USER = '2021010105';
const INITIAL = '05054523';
const CHANGED = 'Campus2026r';
const navLink = (page, name) => page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name });
const PHONE = {
  viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
};

async function signIn(page) {
  await signInAs(page, USER, INITIAL, CHANGED);
}

const rowsOf = (page) => byId(page, 'paid-record');

async function noSidewaysScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the phone screen`);
}

test('周八: announcements, the popup before 学费缴费, a sandbox payment in 银行交易记录 and 已交费信息 with 明细', { timeout: 180000 }, async () => {
  const { context, page, errors, close } = await openBrowser({ viewport: { width: 1280, height: 900 } });
  try {
    // 系统公告 on the login page: the important one first; the expired one is gone.
    await page.goto(url('index.html'));
    await visible(byId(page, 'announcement').first());
    const titles = await byId(page, 'announcement-title').allInnerTexts();
    assert.equal(titles[0], '缴费重要提示');
    assert.ok(titles.some((t) => /学年学费缴纳的通知$/.test(t)), titles.join(' | '));
    assert.ok(!titles.includes('系统维护通知'), 'an expired announcement is not listed');
    assert.match(await byId(page, 'announcement').first().innerText(), /重要/);
    await byId(page, 'announcement-title').first().click();
    await visible(byId(page, 'announcement-body').first());
    assert.match(await byId(page, 'announcement-body').first().innerText(), /甘肃省财政厅/);
    await shot(page, 'records-login-announcements');

    await signIn(page);
    // Home lists them too.
    await visible(byId(page, 'announcements'));
    assert.equal(await byId(page, 'announcement-title').first().innerText(), '缴费重要提示');

    // 生活缴费 says 暂未开放 in the navigation and on its page.
    assert.equal(await byId(page, 'nav-life-badge').innerText(), '暂未开放');
    await navLink(page, '生活缴费').click();
    await page.waitForURL(/\/life\.html$/);
    assert.match(await byId(page, 'life-closed').innerText(), /暂未开放/);

    // 报名信息, read-only.
    await navLink(page, '报名信息').click();
    await page.waitForURL(/\/enrolment\.html$/);
    await visible(byId(page, 'enrolment-info'));
    for (const [key, value] of [['student_no', USER], ['name', '周八'], ['admission_year', '2023年'], ['level', '高起专'],
      ['major', '会计学'], ['study_mode', '业余'], ['study_centre', '白银学习中心']]) {
      assert.equal(await byId(page, `enrolment-${key}`).innerText(), value, key);
    }
    assert.equal(await page.locator('main input, main form').count(), 0, 'nothing to edit');
    await shot(page, 'records-enrolment');

    // 已交费信息 before paying here: last year's tuition, paid at the bank, with its 明细.
    await navLink(page, '已交费信息').click();
    await page.waitForURL(/\/paid\.html$/);
    await visible(rowsOf(page).first());
    assert.equal(await rowsOf(page).count(), 1);
    const offline = rowsOf(page).first();
    assert.equal(await offline.getAttribute('data-source'), 'offline');
    assert.match(await offline.innerText(), /线下缴费[\s\S]*银行转账/);
    assert.equal(await offline.locator('[data-testid=paid-amount]').innerText(), '2,600.00');
    assert.match(await offline.locator('[data-testid=receipt-offline]').innerText(), /^票据号 GS\d{4}0012345$/);
    await offline.getByRole('button', { name: '明细' }).click();
    await visible(byId(page, 'paid-detail'));
    assert.match(await byId(page, 'paid-line').first().innerText(), /学费\s+学费\s+2,600\.00/);

    // 学费缴费: the important announcement pops up first, and only 「我已阅读并知晓」 closes it.
    await navLink(page, '学费缴费').click();
    await page.waitForURL(/\/tuition\.html$/);
    await visible(byId(page, 'announcement-modal'));
    assert.match(await byId(page, 'announcement-modal').innerText(), /缴费重要提示[\s\S]*甘肃省财政厅/);
    assert.ok(await byId(page, 'step-year').isHidden(), 'the wizard waits for the acknowledgement');
    await page.keyboard.press('Escape');
    assert.ok(await byId(page, 'announcement-modal').isVisible(), 'Esc does not dismiss it');
    await shot(page, 'records-popup');
    await byId(page, 'announcement-ack').click();
    await visible(byId(page, 'step-year'));
    assert.equal(await byId(page, 'announcement-modal').count(), 0);
    // Acknowledged for this session: coming back, the wizard shows at once.
    await page.reload();
    await visible(byId(page, 'step-year'));
    assert.equal(await byId(page, 'announcement-modal').count(), 0);

    // Pay this year's 学费 and 教材费 (2,950.00) by 支付宝 in the sandbox.
    await page.getByRole('button', { name: '下一步' }).click();
    await visible(byId(page, 'step-items'));
    await byId(page, 'btn-next-2').click();
    await visible(byId(page, 'step-confirm'));
    await byId(page, 'btn-next-3').click();
    await visible(byId(page, 'step-phone'));
    assert.equal(await byId(page, 'phone-total').innerText(), '2,950.00');
    await page.getByRole('button', { name: '确认缴费' }).click();
    await page.waitForURL(/\/order\.html\?order_no=XF\d{6}[A-Z0-9]{5}\d{6}$/);
    const orderNo = new URL(page.url()).searchParams.get('order_no');
    await byId(page, 'channel-alipay').click();
    await visible(byId(page, 'qr-code').locator('svg'));
    const qr = await byId(page, 'qr-code').getAttribute('data-qr-content');
    const scan = await context.newPage();
    await scan.goto(qr);
    await byId(scan, 'sandbox-pay').click();
    await visible(byId(page, 'pay-success'), 10000);
    await scan.close();

    // 银行交易记录: the attempt, 成功, with the gateway's trade number.
    await navLink(page, '银行交易记录').click();
    await page.waitForURL(/\/transactions\.html$/);
    await visible(byId(page, 'transaction').first());
    assert.equal(await byId(page, 'transaction').count(), 1);
    const tx = byId(page, 'transaction').first();
    assert.equal(await tx.getAttribute('data-status'), 'success');
    assert.equal(await tx.locator('[data-testid=transaction-status]').innerText(), '成功');
    assert.match(await tx.locator('[data-testid=transaction-out-trade-no]').innerText(), new RegExp(`^${orderNo}A01$`));
    assert.match(await tx.locator('[data-testid=transaction-trade-no]').innerText(), /^\w{8,}$/);
    assert.match(await tx.innerText(), /支付宝[\s\S]*2,950\.00/);
    await shot(page, 'records-transactions');

    // 已交费信息: both payments, newest first; by fee type; 明细 and 票据查询 of the new one.
    await navLink(page, '已交费信息').click();
    await page.waitForURL(/\/paid\.html$/);
    await visible(rowsOf(page).nth(1));
    assert.deepEqual(await rowsOf(page).evaluateAll((rs) => rs.map((r) => r.dataset.source)), ['online', 'offline']);
    const online = rowsOf(page).first();
    assert.equal(await online.getAttribute('data-id'), orderNo);
    assert.match(await online.innerText(), /网上缴费[\s\S]*支付宝/);
    assert.equal(await byId(page, 'paid-total').innerText(), '5,550.00');
    assert.equal(await online.getByRole('link', { name: '票据查询' }).getAttribute('href'), `/receipts/${orderNo}`);
    await online.getByRole('button', { name: '明细' }).click();
    await visible(byId(page, 'paid-detail'));
    const lines = await byId(page, 'paid-detail').locator('[data-testid=paid-line]').allInnerTexts();
    assert.equal(lines.length, 2);
    assert.match(lines[0], /学费\s+学费\s+2,600\.00/);
    assert.match(lines[1], /教材费\s+其他\s+350\.00/);
    assert.match(await byId(page, 'paid-detail').innerText(), new RegExp(`${orderNo}A01`));
    await shot(page, 'records-paid-detail');
    await byId(page, 'fee-type').selectOption({ label: '其他费用' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=paid-record]').length === 1);
    assert.equal(await rowsOf(page).first().getAttribute('data-id'), orderNo);
    assert.equal(await byId(page, 'paid-amount').innerText(), '350.00');
    assert.equal(await byId(page, 'paid-total').innerText(), '350.00');
    await byId(page, 'fee-type').selectOption({ label: '学费' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=paid-record]').length === 2);
    assert.equal(await byId(page, 'paid-total').innerText(), '5,200.00');
    // The filter survives a reload (it is in the address).
    await page.reload();
    await visible(rowsOf(page).nth(1));
    assert.equal(await byId(page, 'fee-type').inputValue(), '学费');
    // 票据查询 opens the e-receipt of the order paid here.
    await rowsOf(page).first().getByRole('link', { name: '票据查询' }).click();
    await page.waitForURL(new RegExp(`/receipts/${orderNo}$`));
    await visible(byId(page, 'receipt'));
    assert.equal(await byId(page, 'receipt-order-no').innerText(), orderNo);
    assert.equal(await byId(page, 'receipt-payer').innerText(), '周八');
    assert.equal(await byId(page, 'receipt-payee').innerText(), '甘肃省财政厅');
    assert.equal(await byId(page, 'receipt-capitals').innerText(), '人民币贰仟玖佰伍拾元整');
    assert.equal(await byId(page, 'receipt-items').locator('[data-testid=receipt-item]').count(), 2);
    await shot(page, 'records-receipt');
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});

test('周八 on a phone: the record pages fit the screen', { timeout: 120000 }, async () => {
  const { page, errors, close } = await openBrowser(PHONE);
  try {
    await signIn(page);
    for (const [p, ready] of [['transactions.html', 'content'], ['paid.html', 'paid-record'], ['enrolment.html', 'enrolment-info'], ['life.html', 'life-closed']]) {
      await page.goto(url(p));
      await visible(byId(page, ready).first());
      await visible(byId(page, 'nav-logout'));
      await noSidewaysScroll(page, p);
      await shot(page, `records-mobile-${p.replace('.html', '')}`);
    }
    await page.goto(url('tuition.html'));
    await visible(byId(page, 'announcement-modal'));
    await noSidewaysScroll(page, 'the announcement pop-up');
    assert.deepEqual(errors, [], 'no uncaught page errors');
  } finally {
    await close();
  }
});
