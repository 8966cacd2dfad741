// Browser test of 微信内支付 (JSAPI), in WeChat's own browser: its user agent, and the sandbox
// WeChat's WeixinJSBridge put into every page as WeChat's browser does. 张三 chooses 微信支付:
// WeChat names the payer by the official account's silent authorization and brings the browser
// back, the order page calls getBrandWCPayRequest, and WeChat's payment sheet (支付确认 →
// 输入支付密码; the harness stands in for it through the sandbox) pays — or is closed.
//   CAMPUS_BASE_URL=http://127.0.0.1:3000 node --test wechat.test.mjs
// Runs after site.test.mjs and site_accounts.test.mjs (node --test takes files in name order),
// which completed 张三's first login (Campus2026a); nothing else orders 张三's fees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, openBrowser, shot, byId, visible, signIn, wizardToStep4 } from './harness.mjs';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148';
const WECHAT = `${IPHONE} MicroMessenger/8.0.47(0x1800302f) NetType/WIFI Language/zh_CN`;
const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: WECHAT };

test('inside WeChat 张三 pays by JSAPI: authorization there and back, a closed sheet changes nothing, then 支付成功', { timeout: 180000 }, async () => {
  const sandboxes = await (await fetch(`${BASE}/_local/sandboxes`)).json();
  const bridge = await (await fetch(`${sandboxes.wechat}/jsbridge.js`)).text();
  const { context, page, errors, close } = await openBrowser(PHONE);
  // WeChat's payment sheet: what the payer does there (close it, or enter the password).
  let sheet = 'cancel';
  const sheets = [];
  await context.addInitScript({ content: bridge });
  await context.exposeFunction('__wechatSandboxPay', async ({ params, page_url: pageUrl }) => {
    sheets.push({ params, pageUrl });
    const answer = await fetch(`${sandboxes.wechat}/jsbridge/getBrandWCPayRequest`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ params, page_url: pageUrl, action: sheet }),
    });
    return (await answer.json()).err_msg;
  });
  const visited = [];
  page.on('request', (r) => { if (r.isNavigationRequest()) visited.push(r.url()); });
  try {
    await signIn(page, '2021010101', '03151235', 'Campus2026a');
    await wizardToStep4(page, 'wechat-jsapi');
    // The e-receipt to another phone, typed as a phone keyboard may type it: full-width digits.
    await byId(page, 'phone-change').check();
    await page.getByLabel('接收电子票据的手机号码').fill('１３９１２３４５６７８');
    await page.getByRole('button', { name: '确认缴费' }).click();
    await page.waitForURL(/\/order\.html\?order_no=/);
    const orderNo = new URL(page.url()).searchParams.get('order_no');
    await visible(byId(page, 'channel-wechat'));
    assert.equal(await byId(page, 'order-phone').innerText(), '139****5678', 'the full-width number was taken');
    assert.equal(await page.locator('[data-testid^=channel-]').count(), 1, 'inside WeChat only 微信支付');
    const advice = await byId(page, 'browser-advice').innerText();
    assert.match(advice, /只能使用微信支付/);
    assert.ok(!advice.includes('长按识别'), 'no QR code to long-press when WeChat can pay in the page');
    await shot(page, 'wechat-jsapi-4-order');

    // 微信支付: WeChat's authorization (silent, snsapi_base) and back, then the sheet — closed.
    await byId(page, 'channel-wechat').click();
    await visible(byId(page, 'check-result'), 15000);
    assert.match(await byId(page, 'check-result').innerText(), /已取消支付/);
    assert.ok(visited.some((u) => u.startsWith(`${sandboxes.wechat}/connect/oauth2/authorize?`) && u.includes('scope=snsapi_base')), visited.join('\n'));
    assert.ok(visited.some((u) => u.includes('/api/wechat/payer?code=')), 'back through our return');
    assert.equal(new URL(page.url()).search, `?order_no=${orderNo}`, 'back on the order page, the resume flag dropped');
    assert.equal(sheets.length, 1);
    assert.match(sheets[0].params.package, /^prepay_id=wx/);
    assert.equal(sheets[0].params.signType, 'RSA');
    assert.equal(await byId(page, 'order-state').innerText(), '待支付');
    await shot(page, 'wechat-jsapi-5-cancelled');

    // Again, and the password entered: paid. The payer is known now: no second authorization.
    const authorizations = visited.filter((u) => u.includes('/connect/oauth2/authorize')).length;
    sheet = 'pay';
    await byId(page, 'channel-wechat').click();
    await visible(byId(page, 'pay-success'), 15000);
    assert.equal(visited.filter((u) => u.includes('/connect/oauth2/authorize')).length, authorizations);
    assert.equal(await byId(page, 'success-order-no').innerText(), orderNo);
    assert.equal(await byId(page, 'success-channel').innerText(), '微信支付');
    await shot(page, 'wechat-jsapi-6-success');
    assert.deepEqual(errors, [], 'no uncaught page errors, no CSP violations');
  } finally {
    await close();
  }
});
