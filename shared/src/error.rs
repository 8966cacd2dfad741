//! Errors the services report, each mapped to one HTTP status, code and Chinese message.

use crate::store::StoreError;
use http::StatusCode;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A state-changing request whose body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A state-changing request that does not come from our own site (`Sec-Fetch-Site`,
    /// `Origin`): cross-site request forgery.
    #[error("cross-site request refused")]
    CrossSite,
    #[error("invalid fields")]
    Validation(BTreeMap<&'static str, String>),
    #[error("not authenticated")]
    Unauthenticated,
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("password change required")]
    PasswordChangeRequired,
    /// The right initial password, past its expiry: recovery is the way in.
    #[error("initial password expired")]
    InitialPasswordExpired,
    /// The right initial password of an account with no phone on file, which therefore cannot
    /// prove the phone at its first login.
    #[error("first login needs a phone on file")]
    NoPhoneForFirstLogin,
    #[error("locked")]
    Locked,
    #[error("too many requests")]
    TooManyRequests,
    /// The student made the day's most new orders (each spends an order serial for good).
    #[error("daily order limit reached")]
    DailyOrderLimit,
    #[error("identity does not match")]
    IdentityMismatch,
    #[error("reset ticket expired or invalid")]
    TicketExpired,
    #[error("wrong security answer")]
    WrongAnswer,
    #[error("wrong code")]
    CodeInvalid,
    #[error("code expired")]
    CodeExpired,
    #[error("no security question set")]
    NoSecurityQuestion,
    #[error("no phone registered")]
    NoPhone,
    #[error("not found")]
    NotFound,
    #[error("items are in open order {0}")]
    OrderInProgress(String),
    #[error("order is no longer open")]
    OrderNotOpen,
    #[error("payment channel not configured")]
    ChannelUnavailable,
    /// The channel needs the payer's own address (WeChat Pay H5 `payer_client_ip`), and it is
    /// not known: nothing is sent rather than a made-up one.
    #[error("the payer's address is unknown")]
    ClientAddressUnknown,
    /// The channel pays inside WeChat (JSAPI) and needs the payer named by WeChat first
    /// (`GET /api/orders/{no}/payer`).
    #[error("the payer must be named by the gateway first")]
    PayerRequired,
    /// 票据查验: no receipt with this 票据号 and 校验码 (which of the two is wrong is not said).
    #[error("no receipt with that number and check code")]
    ReceiptMismatch,
    #[error("gateway did not answer usefully")]
    GatewayUnavailable,
    /// An earlier attempt cannot be closed at its gateway and stays payable until `until`
    /// (UnionPay): switching channel or cancelling now could charge the student twice.
    #[error("an earlier attempt stays payable until {until}")]
    StillPayable { channel: crate::domain::Channel, until: chrono::DateTime<chrono::Utc> },
    #[error("SMS could not be sent: {0}")]
    Sms(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Sessions asked of a function built without the session key (`Uses::sessions` false): a
    /// deployment error, never the student's.
    #[error("this function serves no sessions")]
    NoSessions,
}

impl AppError {
    pub fn field(name: &'static str, message: impl Into<String>) -> Self {
        AppError::Validation(BTreeMap::from([(name, message.into())]))
    }

    pub fn status(&self) -> StatusCode {
        use AppError::*;
        match self {
            BadRequest(_) | Validation(_) | IdentityMismatch | WrongAnswer | CodeInvalid | CodeExpired => StatusCode::BAD_REQUEST,
            Unauthenticated | InvalidCredentials | TicketExpired => StatusCode::UNAUTHORIZED,
            PasswordChangeRequired | CrossSite | InitialPasswordExpired | NoPhoneForFirstLogin => StatusCode::FORBIDDEN,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotFound | ReceiptMismatch => StatusCode::NOT_FOUND,
            NoSecurityQuestion | NoPhone | OrderInProgress(_) | OrderNotOpen | StillPayable { .. } => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Locked | TooManyRequests | DailyOrderLimit => StatusCode::TOO_MANY_REQUESTS,
            Sms(_) | GatewayUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ChannelUnavailable | ClientAddressUnknown | PayerRequired => StatusCode::CONFLICT,
            Store(StoreError::Conflict) => StatusCode::CONFLICT,
            Store(_) | NoSessions => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use AppError::*;
        match self {
            BadRequest(_) => "BAD_REQUEST",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            CrossSite => "CROSS_SITE",
            Validation(_) => "VALIDATION",
            Unauthenticated => "UNAUTHENTICATED",
            InvalidCredentials => "INVALID_CREDENTIALS",
            PasswordChangeRequired => "PASSWORD_CHANGE_REQUIRED",
            InitialPasswordExpired => "INITIAL_PASSWORD_EXPIRED",
            NoPhoneForFirstLogin => "NO_PHONE_FOR_FIRST_LOGIN",
            Locked => "LOCKED",
            DailyOrderLimit => "ORDER_LIMIT",
            TooManyRequests => "TOO_MANY_REQUESTS",
            IdentityMismatch => "IDENTITY_MISMATCH",
            TicketExpired => "TICKET_EXPIRED",
            WrongAnswer => "WRONG_ANSWER",
            CodeInvalid => "CODE_INVALID",
            CodeExpired => "CODE_EXPIRED",
            NoSecurityQuestion => "NO_SECURITY_QUESTION",
            NoPhone => "NO_PHONE",
            NotFound => "NOT_FOUND",
            OrderInProgress(_) => "ORDER_IN_PROGRESS",
            OrderNotOpen => "ORDER_NOT_OPEN",
            ChannelUnavailable => "CHANNEL_UNAVAILABLE",
            ClientAddressUnknown => "CLIENT_ADDRESS_UNKNOWN",
            PayerRequired => "PAYER_REQUIRED",
            ReceiptMismatch => "RECEIPT_MISMATCH",
            GatewayUnavailable => "GATEWAY_UNAVAILABLE",
            StillPayable { .. } => "PAYMENT_STILL_OPEN",
            Sms(_) => "SMS_UNAVAILABLE",
            Store(StoreError::Conflict) => "CONFLICT",
            Store(_) | NoSessions => "INTERNAL",
        }
    }

    /// What the student reads: what happened and what to do.
    pub fn message(&self) -> String {
        use AppError::*;
        match self {
            BadRequest(_) => "请求内容格式不正确，请刷新页面后重试".into(),
            PayloadTooLarge => "提交的内容过大（不能超过64KB），请精简后重试".into(),
            UnsupportedMediaType => "请求内容格式不正确，请刷新页面后重试".into(),
            CrossSite => "请求来源不正确，请直接在校园统一支付平台页面上操作".into(),
            Validation(_) => "填写的信息有误，请按提示修改后重新提交".into(),
            Unauthenticated => "登录已过期或未登录，请重新登录".into(),
            // Says nothing about how passwords are made: the login page explains that.
            InvalidCredentials => "用户名或密码错误，请检查后重新输入".into(),
            InitialPasswordExpired => "初始密码已过期，请通过“忘记密码”验证身份和手机后设置新密码".into(),
            NoPhoneForFirstLogin => {
                "您的账户未登记手机号码，无法完成首次登录验证。请联系学院登记手机号码：学院电话 2755282、2973633".into()
            }
            PasswordChangeRequired => "首次登录请先验证手机并修改初始密码".into(),
            Locked => "尝试次数过多，账户已临时锁定，请15分钟后再试；如需帮助请联系学院电话 2755282、2973633".into(),
            TooManyRequests => "操作过于频繁，请稍后再试".into(),
            DailyOrderLimit => "今日新建缴费单的次数已达上限，请继续支付已有的缴费单，或明天再试".into(),
            IdentityMismatch => "学号、身份证号或姓名不正确，请核对后重新输入".into(),
            TicketExpired => "身份验证已过期，请重新验证身份".into(),
            WrongAnswer => "密保答案不正确".into(),
            CodeInvalid => "验证码不正确，请检查短信后重新输入".into(),
            CodeExpired => "验证码已过期或已失效，请重新获取".into(),
            NoSecurityQuestion => "该账户未设置密保问题，请使用短信验证码找回".into(),
            NoPhone => "该账户未登记手机号码，请使用密保问题找回或联系学院".into(),
            NotFound => "请求的内容不存在".into(),
            OrderInProgress(no) => format!("所选项目已在缴费单 {no} 中等待支付或确认，请继续支付该缴费单，或取消后重新选择"),
            OrderNotOpen => "该缴费单当前不能进行此操作（已支付、已关闭或已过期），请返回【学费缴费】查看".into(),
            ChannelUnavailable => "该支付方式暂未开通，请选择其他支付方式".into(),
            ClientAddressUnknown => "无法确认您的网络地址，暂不能在手机上使用此支付方式，请选择其他支付方式或在电脑上扫码支付".into(),
            PayerRequired => "请先完成微信授权以确认付款人，页面将自动跳转".into(),
            ReceiptMismatch => "票据号或校验码不正确，请核对票据上的票据号和校验码后重新输入".into(),
            GatewayUnavailable => "支付机构暂时无法确认交易状态，请稍后再试；如已扣款切勿重复缴费".into(),
            StillPayable { channel, until } => format!(
                "您已发起的{}支付在 {} 前仍可付款。为避免重复扣款，请在该支付页面完成付款，或在此时间后再更换支付方式或取消缴费单；如已付款，请点击「我已支付」",
                channel.label(),
                until.with_timezone(&crate::clock::beijing()).format("%H:%M"),
            ),
            Sms(_) => "短信发送失败，请稍后再试".into(),
            Store(StoreError::Conflict) => "数据已被修改，请刷新页面后重试".into(),
            Store(_) | NoSessions => "系统繁忙，请稍后再试".into(),
        }
    }

    pub fn fields(&self) -> Option<&BTreeMap<&'static str, String>> {
        match self {
            AppError::Validation(f) => Some(f),
            _ => None,
        }
    }
}

/// Collects per-field validation messages, then fails with all of them at once.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }
    /// Keeps the parsed value, or records the message and returns `None`.
    pub fn check<T, E>(&mut self, field: &'static str, r: Result<T, E>, message: &str) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(_) => {
                self.add(field, message);
                None
            }
        }
    }
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() { Ok(()) } else { Err(AppError::Validation(self.0)) }
    }
}
