//! The local payment setup: the sandbox Alipay, WeChat Pay and UnionPay on their own loopback ports, and
//! the platform's gateway configuration pointing at them, with keys made for this process.

use crate::keys::local_keys;
use shared::clock::Clock;
use shared::gateway::{Payments, alipay, net, unionpay, wechat};
use std::sync::Arc;

// Identities of the local merchant (the ids of the published examples in gateways.md §7).
pub const ALIPAY_APP_ID: &str = "2021000000000001";
pub const ALIPAY_SELLER_ID: &str = "2088000000000001";
pub const WECHAT_MCHID: &str = "1900000001";
pub const WECHAT_APPID: &str = "wxd678efh567hg6787";
pub const WECHAT_MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7200000001";
pub const WECHAT_KEY_ID: &str = "PUB_KEY_ID_0114232026112600000000000001";
/// The merchant id and signing-certificate serial of the UnionPay example in gateways.md §7.
pub const UNIONPAY_MER_ID: &str = "777290058165621";
pub const UNIONPAY_CERT_ID: &str = "69903319369";

/// The sandbox WeChat Pay of merchant `mchid`, with this process's keys.
pub fn wechat_sandbox_settings(mchid: &str) -> wechat::SandboxSettings {
    let keys = local_keys();
    wechat::SandboxSettings {
        mchid: mchid.into(),
        appid: WECHAT_APPID.into(),
        merchant_serial_no: WECHAT_MERCHANT_SERIAL.into(),
        merchant_public_key_pem: keys.wechat_merchant.public_pem.clone(),
        key_id: WECHAT_KEY_ID.into(),
        private_key_pem: keys.wechat_platform.private_pem.clone(),
        api_v3_key: keys.wechat_api_v3_key.clone(),
    }
}

/// The running sandboxes and the platform configuration that uses them.
pub struct LocalPayments {
    pub payments: Payments,
    pub alipay: sandbox::Control,
    pub wechat: sandbox::Control,
    pub unionpay: sandbox::Control,
    pub alipay_base: String,
    pub wechat_base: String,
    pub unionpay_base: String,
    /// The sandbox UnionPay's test chain (with its signing key): tests sign notifications with it.
    pub unionpay_chain: unionpay::SandboxChain,
    /// Channels served by a configured gateway rather than their sandbox.
    pub configured: Vec<shared::domain::Channel>,
}

/// A configured gateway's settings JSON from the process environment (`ALIPAY_MERCHANT`,
/// `WECHAT_MERCHANT`, `UNIONPAY_MERCHANT`: the plain variables the deployed functions read),
/// `None` when unset or blank.
pub fn configured_in_env(setting: &str) -> Option<String> {
    std::env::var(setting).ok().filter(|v| !v.trim().is_empty())
}

/// Starts the three sandboxes and configures the platform to use them — except for a channel
/// whose settings JSON `configured` gives (by the registry's variable name, e.g.
/// `ALIPAY_MERCHANT`): that channel uses the gateway so configured (Alipay's open-platform
/// sandbox with the school's keys, or an independent implementation), built exactly as the
/// deployed functions build it. `site_base` is where the platform listens (notifications and
/// browser returns come back there); `retry_scale` shrinks the sandboxes' notification retry
/// schedules (1.0 = real time).
pub async fn start(site_base: &str, retry_scale: f64, clock: Arc<dyn Clock>, configured: &dyn Fn(&str) -> Option<String>) -> LocalPayments {
    let keys = local_keys();
    // Bind first: a sandbox hands out links to itself.
    let ali_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let wx_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let unionpay_base = format!("http://{}", up_listener.local_addr().expect("address"));
    let alipay_base = format!("http://{}", ali_listener.local_addr().expect("address"));
    let wechat_base = format!("http://{}", wx_listener.local_addr().expect("address"));

    let (ali_router, ali_control) = sandbox::try_alipay(
        sandbox::AlipayConfig {
            settings: alipay::SandboxSettings {
                app_id: ALIPAY_APP_ID.into(),
                seller_id: ALIPAY_SELLER_ID.into(),
                app_public_key: keys.alipay_app.public_pem.clone(),
                alipay_private_key: keys.alipay_gateway.private_pem.clone(),
            },
            public_base: alipay_base.clone(),
            retry_scale,
        },
        clock.clone(),
    )
    .expect("Alipay sandbox settings");
    // The official account behind WECHAT_APPID (JSAPI inside WeChat): its AppSecret, this run's.
    let app_secret = shared::auth::random_id();
    let official_account = sandbox::OfficialAccount { app_secret: app_secret.clone(), site: format!("{site_base}/") };
    let (wx_router, wx_control) = sandbox::try_wechat(
        sandbox::WechatConfig {
            settings: wechat_sandbox_settings(WECHAT_MCHID),
            public_base: wechat_base.clone(),
            retry_scale,
            official_account: Some(official_account),
        },
        clock.clone(),
    )
    .expect("WeChat Pay sandbox settings");
    let (up_router, up_control, unionpay_chain) = sandbox::try_unionpay(
        sandbox::UnionpayConfig {
            settings: unionpay::SandboxSettings {
                mer_id: UNIONPAY_MER_ID.into(),
                merchant_cert_id: UNIONPAY_CERT_ID.into(),
                merchant_cert_pem: keys.unionpay_merchant.public_pem.clone(),
                chain: None,
            },
            retry_scale,
        },
        clock,
    )
    .expect("UnionPay sandbox settings");
    tokio::spawn(async move { axum::serve(ali_listener, ali_router).await.expect("Alipay sandbox") });
    tokio::spawn(async move { axum::serve(wx_listener, wx_router).await.expect("WeChat Pay sandbox") });
    tokio::spawn(async move { axum::serve(up_listener, up_router).await.expect("UnionPay sandbox") });

    let return_url = format!("{site_base}/order.html");
    let alipay_settings = alipay::MerchantSettings {
        gateway_url: format!("{alipay_base}/gateway.do"),
        app_id: ALIPAY_APP_ID.into(),
        seller_id: ALIPAY_SELLER_ID.into(),
        app_private_key: keys.alipay_app.private_pem.clone(),
        alipay_public_key: keys.alipay_gateway.public_pem.clone(),
        notify_url: format!("{site_base}/api/notify/alipay"),
        return_url: return_url.clone(),
        bill_hosts: vec!["127.0.0.1".into()],
    };
    let wechat_settings = wechat::MerchantSettings {
        mchid: WECHAT_MCHID.into(),
        appid: WECHAT_APPID.into(),
        serial_no: WECHAT_MERCHANT_SERIAL.into(),
        private_key_pem: keys.wechat_merchant.private_pem.clone(),
        api_v3_key: keys.wechat_api_v3_key.clone(),
        notify_url: format!("{site_base}/api/notify/wechat"),
        wechatpay_public_keys: vec![wechat::PublicKeySetting { id: WECHAT_KEY_ID.into(), pem: keys.wechat_platform.public_pem.clone() }],
        jsapi: Some(wechat::JsapiSettings { app_secret, oauth_base: wechat_base.clone(), sns_base: wechat_base.clone() }),
    };
    let unionpay_settings = unionpay::MerchantSettings {
        front_url: format!("{unionpay_base}/gateway/api/frontTransReq.do"),
        back_url: format!("{unionpay_base}/gateway/api/backTransReq.do"),
        query_url: format!("{unionpay_base}/gateway/api/queryTrans.do"),
        mer_id: UNIONPAY_MER_ID.into(),
        sign_key_pem: keys.unionpay_merchant.private_pem.clone(),
        sign_cert_serial: UNIONPAY_CERT_ID.into(),
        root_cert_pem: unionpay_chain.root_cert_pem.clone(),
        middle_cert_pem: unionpay_chain.middle_cert_pem.clone(),
        back_notify_url: format!("{site_base}/api/notify/unionpay"),
        front_return_url: format!("{site_base}/api/return/unionpay"),
        allow_sha1_chain: false,
        signer_names: Vec::new(),
        file_url: Some(format!("{unionpay_base}/gateway/api/fileTransfer.do")),
    };
    // Built here, not from settings JSON: the keys were made for this process.
    fn merchant<M>(m: Result<M, shared::gateway::GatewayError>) -> M {
        m.unwrap_or_else(|e| panic!("local gateway configuration: {e}"))
    }
    let http = net::http_client();
    let sandboxed = Payments::default()
        .with(Arc::new(alipay::client::AlipayGateway::new(
            merchant(alipay::Merchant::new(&alipay_settings)),
            http.clone(),
            return_url.clone(),
        )))
        .with(Arc::new(wechat::client::WechatGateway::new(
            merchant(wechat::Merchant::new(&wechat_settings)),
            http.clone(),
            wechat_base.clone(),
            Some(return_url.clone()),
        )))
        .with(Arc::new(unionpay::client::UnionpayGateway::new(merchant(unionpay::Merchant::new(&unionpay_settings)), http.clone())));
    let wiring = shared::gateway::Wiring { http, order_page: Some(return_url) };
    let (payments, configured) = with_configured(sandboxed, &wiring, configured);
    LocalPayments {
        payments,
        alipay: ali_control,
        wechat: wx_control,
        unionpay: up_control,
        alipay_base,
        wechat_base,
        unionpay_base,
        unionpay_chain,
        configured,
    }
}

/// `payments` with every channel that `configured` has settings for replaced by the gateway
/// built from them (the registry's own builder). A setting that does not build stops the
/// platform with the gateway's words: a misconfigured channel never falls back silently.
fn with_configured(
    mut payments: Payments,
    wiring: &shared::gateway::Wiring,
    configured: &dyn Fn(&str) -> Option<String>,
) -> (Payments, Vec<shared::domain::Channel>) {
    let mut channels = Vec::new();
    for r in shared::gateway::REGISTRY {
        let Some(json) = configured(r.setting) else { continue };
        let gateway = (r.build)(&json, wiring).unwrap_or_else(|e| panic!("{}: {e}", r.setting));
        tracing::info!(channel = r.channel.as_str(), setting = r.setting, "configured gateway used instead of the sandbox");
        payments = payments.with(gateway);
        channels.push(r.channel);
    }
    (payments, channels)
}
