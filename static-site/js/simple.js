// Pages with static content only (生活缴费, 银行交易记录, 已交费信息): chrome and session check.
import { initPage } from './layout.js';

initPage();
