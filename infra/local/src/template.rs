//! Reads `infra/template.yaml`: the HttpApi routes of every function and the table definition.
//! The local platform takes both from here, so it cannot drift from what is deployed.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_yaml::Value;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`) that serves it.
    pub function: String,
}

/// A function triggered by the table's stream (an event of `Type: DynamoDB`).
#[derive(Debug, Clone)]
pub struct StreamTrigger {
    /// The cargo binary that handles the batches.
    pub function: String,
    pub batch_size: usize,
    /// `FilterCriteria.Filters[].Pattern`, parsed: a record is delivered if any matches.
    pub patterns: Vec<serde_json::Value>,
    /// Retries of a batch's failed records (`MaximumRetryAttempts`). Absent, 0 here: Lambda's
    /// default retries until the record expires, which a template should not leave implicit.
    pub max_retries: u32,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub routes: Vec<Route>,
    /// The function of the API's `$default` route (an `HttpApi` event without path and
    /// method): every request no route matches, an undeclared method on a known path too.
    pub default_route: Option<String>,
    pub stream_triggers: Vec<StreamTrigger>,
    /// The static site's response headers as CloudFront adds them (`SiteHeadersPolicy`), less
    /// HSTS (the local platform is plain HTTP): (name, value).
    pub site_headers: Vec<(String, String)>,
    /// `Properties` of the `Table` resource (everything but the audit log).
    table: Value,
    /// `Properties` of the `AuditTable` resource (`<table>-audit`).
    audit_table: Value,
}

#[derive(Debug)]
pub enum TemplateError {
    Io(std::io::Error),
    Yaml(serde_yaml::Error),
    Shape(String),
}

impl std::error::Error for TemplateError {}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Io(e) => write!(f, "reading template: {e}"),
            TemplateError::Yaml(e) => write!(f, "parsing template: {e}"),
            TemplateError::Shape(m) => write!(f, "template: {m}"),
        }
    }
}

fn shape(msg: impl Into<String>) -> TemplateError {
    TemplateError::Shape(msg.into())
}

/// A stream view type as the SDK takes it.
pub fn stream_specification(view: &str) -> Result<aws_sdk_dynamodb::types::StreamSpecification, String> {
    aws_sdk_dynamodb::types::StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view))
        .build()
        .map_err(|e| e.to_string())
}

/// One `Type: DynamoDB` event of function `name` (binary `function`). Filter patterns are
/// checked here, so that the local delivery never passes what the deployed filter would not.
fn stream_trigger(name: &str, function: &str, ev: &Value) -> Result<StreamTrigger, TemplateError> {
    let props = ev.get("Properties").ok_or_else(|| shape(format!("{name}: stream event without Properties")))?;
    let number = |key: &str, default: u64| props.get(key).and_then(Value::as_u64).unwrap_or(default);
    let mut patterns = Vec::new();
    let filters = props.get("FilterCriteria").and_then(|f| f.get("Filters")).and_then(Value::as_sequence);
    for f in filters.into_iter().flatten() {
        let text = str_at(f, "Pattern").ok_or_else(|| shape(format!("{name}: a filter without Pattern")))?;
        let pattern: serde_json::Value = serde_json::from_str(text).map_err(|e| shape(format!("{name}: filter pattern: {e}")))?;
        crate::streams::check_pattern(&pattern).map_err(|m| shape(format!("{name}: filter pattern: {m}")))?;
        patterns.push(pattern);
    }
    Ok(StreamTrigger {
        function: function.to_owned(),
        batch_size: number("BatchSize", 100) as usize,
        patterns,
        max_retries: number("MaximumRetryAttempts", 0) as u32,
    })
}

/// The headers a CloudFront `SecurityHeadersConfig` adds (HSTS left out: plain HTTP locally).
fn response_headers(config: &Value) -> Result<Vec<(String, String)>, TemplateError> {
    let mut out = Vec::new();
    if let Some(csp) = str_at(&config["ContentSecurityPolicy"], "ContentSecurityPolicy") {
        out.push(("content-security-policy".to_owned(), csp.to_owned()));
    }
    if config.get("ContentTypeOptions").is_some() {
        out.push(("x-content-type-options".to_owned(), "nosniff".to_owned()));
    }
    if let Some(frame) = str_at(&config["FrameOptions"], "FrameOption") {
        out.push(("x-frame-options".to_owned(), frame.to_owned()));
    }
    if let Some(referrer) = str_at(&config["ReferrerPolicy"], "ReferrerPolicy") {
        out.push(("referrer-policy".to_owned(), referrer.to_owned()));
    }
    if out.is_empty() {
        return Err(shape("SiteHeadersPolicy adds no headers"));
    }
    Ok(out)
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(TemplateError::Io)?;
        Self::parse(&text)
    }

    /// The repository's template (found relative to this crate at build time).
    pub fn load_default() -> Result<Self, TemplateError> {
        Self::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_yaml::from_str(text).map_err(TemplateError::Yaml)?;
        let resources = doc.get("Resources").and_then(Value::as_mapping).ok_or_else(|| shape("no Resources"))?;
        let mut routes = Vec::new();
        let mut default_route = None;
        let mut stream_triggers = Vec::new();
        let (mut table, mut audit_table) = (None, None);
        let mut site_headers = Vec::new();
        for (name, res) in resources {
            let name = name.as_str().unwrap_or_default();
            match str_at(res, "Type") {
                Some("AWS::CloudFront::ResponseHeadersPolicy") if name == "SiteHeadersPolicy" => {
                    site_headers = response_headers(&res["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"])?;
                }
                Some("AWS::DynamoDB::Table") => {
                    let props = res.get("Properties").cloned().ok_or_else(|| shape("table without Properties"))?;
                    let slot = match name {
                        "Table" => &mut table,
                        "AuditTable" => &mut audit_table,
                        other => return Err(shape(format!("unexpected table {other}"))),
                    };
                    *slot = Some(props);
                }
                Some("AWS::Serverless::Function") => {
                    let function = res
                        .get("Metadata")
                        .and_then(|m| m.get("BuildProperties"))
                        .and_then(|b| str_at(b, "Binary"))
                        .ok_or_else(|| shape(format!("{name}: no Metadata.BuildProperties.Binary")))?;
                    let events = res.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
                    for (_, ev) in events.into_iter().flatten() {
                        if str_at(ev, "Type") == Some("DynamoDB") {
                            stream_triggers.push(stream_trigger(name, function, ev)?);
                            continue;
                        }
                        if str_at(ev, "Type") != Some("HttpApi") {
                            continue;
                        }
                        let props = ev.get("Properties").ok_or_else(|| shape(format!("{name}: event without Properties")))?;
                        if props.get("Path").is_none() && props.get("Method").is_none() {
                            if default_route.replace(function.to_owned()).is_some() {
                                return Err(shape("two $default routes"));
                            }
                            continue;
                        }
                        let method = str_at(props, "Method").ok_or_else(|| shape(format!("{name}: event without Method")))?;
                        let path = str_at(props, "Path").ok_or_else(|| shape(format!("{name}: event without Path")))?;
                        routes.push(Route { method: method.to_uppercase(), path: path.to_owned(), function: function.to_owned() });
                    }
                }
                _ => {}
            }
        }
        let table = table.ok_or_else(|| shape("no Table"))?;
        let audit_table = audit_table.ok_or_else(|| shape("no AuditTable"))?;
        let mut seen = std::collections::HashSet::new();
        for r in &routes {
            if !seen.insert((r.method.clone(), r.path.clone())) {
                return Err(shape(format!("route {} {} declared twice", r.method, r.path)));
            }
        }
        Ok(Self { routes, default_route, stream_triggers, site_headers, table, audit_table })
    }

    /// The table's `StreamSpecification.StreamViewType`, if it has a stream.
    pub fn stream_view_type(&self) -> Option<&str> {
        self.table.get("StreamSpecification").and_then(|s| str_at(s, "StreamViewType"))
    }

    /// Creates the table as declared (keys, attribute types, GSIs, TTL, stream) under `name`,
    /// and its audit table beside it (`<name>-audit`).
    pub async fn create_table(&self, client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
        create_one(client, name, &self.table).await?;
        create_one(client, &shared::store::dynamo::audit_table_of(name), &self.audit_table).await
    }
}

async fn create_one(client: &aws_sdk_dynamodb::Client, name: &str, t: &Value) -> Result<(), String> {
    {
        let key_schema = |v: &Value| -> Result<Vec<KeySchemaElement>, String> {
            v.as_sequence()
                .ok_or("KeySchema is not a list")?
                .iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(str_at(k, "AttributeName").ok_or("AttributeName")?)
                        .key_type(KeyType::from(str_at(k, "KeyType").ok_or("KeyType")?))
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect()
        };
        let mut req = client.create_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
        for a in t.get("AttributeDefinitions").and_then(Value::as_sequence).ok_or("AttributeDefinitions")? {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(str_at(a, "AttributeName").ok_or("AttributeName")?)
                    .attribute_type(ScalarAttributeType::from(str_at(a, "AttributeType").ok_or("AttributeType")?))
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        req = req.set_key_schema(Some(key_schema(t.get("KeySchema").ok_or("KeySchema")?)?));
        if let Some(view) = t.get("StreamSpecification").and_then(|s| str_at(s, "StreamViewType")) {
            req = req.stream_specification(stream_specification(view)?);
        }
        for g in t.get("GlobalSecondaryIndexes").and_then(Value::as_sequence).into_iter().flatten() {
            let projection = g.get("Projection").and_then(|p| str_at(p, "ProjectionType")).unwrap_or("ALL");
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_at(g, "IndexName").ok_or("IndexName")?)
                    .set_key_schema(Some(key_schema(g.get("KeySchema").ok_or("KeySchema")?)?))
                    .projection(Projection::builder().projection_type(ProjectionType::from(projection)).build())
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        req.send().await.map_err(|e| format!("CreateTable: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        if let Some(ttl) = t.get("TimeToLiveSpecification") {
            let attr = str_at(ttl, "AttributeName").ok_or("TTL AttributeName")?;
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder().attribute_name(attr).enabled(true).build().map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| format!("UpdateTimeToLive: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_template_declares_routes_and_table() {
        let t = Template::load_default().unwrap();
        assert!(t.routes.iter().any(|r| r.method == "POST" && r.path == "/api/login" && r.function == "login"));
        assert!(t.routes.iter().any(|r| r.method == "GET" && r.path == "/api/fees" && r.function == "fees"));
        assert_eq!(str_at(&t.table, "BillingMode"), Some("PAY_PER_REQUEST"));
    }

    fn raw_template() -> Value {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap();
        serde_yaml::from_str(&text).unwrap()
    }

    fn functions(doc: &Value) -> Vec<(String, Value)> {
        doc["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| str_at(r, "Type") == Some("AWS::Serverless::Function"))
            .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
            .collect()
    }

    /// CloudFront path patterns: `*` any run of characters, `?` one.
    fn glob(pattern: &[u8], path: &[u8]) -> bool {
        match (pattern.first(), path.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&pattern[1..], path) || (!path.is_empty() && glob(pattern, &path[1..])),
            (Some(b'?'), Some(_)) => glob(&pattern[1..], &path[1..]),
            (Some(a), Some(b)) if a == b => glob(&pattern[1..], &path[1..]),
            _ => false,
        }
    }

    #[test]
    fn cloudfront_forwards_every_api_route_to_the_api() {
        let doc = raw_template();
        let dist = &doc["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"];
        let api_origin = dist["Origins"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|o| serde_yaml::to_string(&o["DomainName"]).unwrap().contains("HttpApi"))
            .unwrap();
        let api_id = str_at(api_origin, "Id").unwrap();
        let patterns: Vec<&str> = dist["CacheBehaviors"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|b| str_at(b, "TargetOriginId") == Some(api_id))
            .map(|b| str_at(b, "PathPattern").unwrap())
            .collect();
        assert!(glob(b"/api/*", b"/api/orders/{order_no}") && !glob(b"/api/*", b"/index.html"));
        for r in Template::load_default().unwrap().routes {
            assert!(
                patterns.iter().any(|p| glob(p.as_bytes(), r.path.as_bytes())),
                "{} {} is not forwarded to the API by CloudFront: add a CacheBehavior to SiteDistribution",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn every_function_is_a_cargo_lambda_arm64_build_with_its_own_log_group() {
        let doc = raw_template();
        let g = &doc["Globals"]["Function"];
        assert_eq!(str_at(g, "Runtime"), Some("provided.al2023"));
        assert_eq!(g["Architectures"], serde_yaml::from_str::<Value>("[arm64]").unwrap());
        for (name, f) in functions(&doc) {
            assert_eq!(str_at(&f["Metadata"], "BuildMethod"), Some("rust-cargolambda"), "{name}");
            let props = &f["Properties"];
            assert!(props.get("Runtime").is_none() && props.get("Architectures").is_none(), "{name} overrides the runtime");
            let group = serde_yaml::to_string(&props["LoggingConfig"]["LogGroup"]).unwrap();
            let group = group.trim().trim_start_matches("!Ref ").to_owned();
            let res = &doc["Resources"][group.as_str()];
            assert_eq!(str_at(res, "Type"), Some("AWS::Logs::LogGroup"), "{name}: LoggingConfig.LogGroup");
            assert!(res["Properties"].get("RetentionInDays").is_some(), "{name}: log retention");
        }
    }

    /// The API's access log names routes, never paths: a receipt link's path is its token
    /// (`/r/<token>`), which opens the student's receipt to whoever reads the log.
    #[test]
    fn the_access_log_records_route_keys_not_paths() {
        let doc = raw_template();
        let format = str_at(&doc["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"], "Format").unwrap().to_owned();
        assert!(format.contains("$context.routeKey"), "{format}");
        for leak in ["$context.path", "$context.resourcePath", "$request.", "$context.requestOverride"] {
            assert!(!format.contains(leak), "the access log must not record {leak}: {format}");
        }
    }

    /// The API throttles every route, and the abused ones (login, recovery, codes, orders) more
    /// tightly; each tightened route exists, so renaming a route cannot quietly drop its limit.
    #[test]
    fn the_api_throttles_every_route_and_the_abused_ones_tighter() {
        let doc = raw_template();
        let api = &doc["Resources"]["HttpApi"]["Properties"];
        let rate = |v: &Value| v["ThrottlingRateLimit"].as_u64().unwrap();
        let default = rate(&api["DefaultRouteSettings"]);
        assert!(api["DefaultRouteSettings"]["ThrottlingBurstLimit"].as_u64().is_some());
        let routes = Template::load_default().unwrap().routes;
        let tightened = api["RouteSettings"].as_mapping().expect("RouteSettings");
        for key in [
            "POST /api/login",
            "POST /api/password/forgot",
            "POST /api/password/forgot/sms",
            "POST /api/password/code",
            "POST /api/profile/phone/code",
            "POST /api/orders",
        ] {
            let setting = tightened.get(key).unwrap_or_else(|| panic!("no throttle for {key}"));
            assert!(rate(setting) < default, "{key} is not tighter than the default");
        }
        for (key, _) in tightened {
            let (method, path) = key.as_str().unwrap().split_once(' ').unwrap();
            assert!(routes.iter().any(|r| r.method == method && r.path == path), "{method} {path} is not a route");
        }
    }

    /// A login flood has a ceiling and the gateways' notifications a floor of their own.
    #[test]
    fn a_login_flood_cannot_starve_the_notifications() {
        let doc = raw_template();
        for f in ["LoginFunction", "ProfileFunction", "NotifyFunction"] {
            let reserved = serde_yaml::to_string(&doc["Resources"][f]["Properties"]["ReservedConcurrentExecutions"]).unwrap();
            assert!(reserved.contains("Reserves"), "{f}: {reserved}");
        }
    }

    /// Production cannot deploy without the WAF or with the execute-api endpoint open, and the
    /// endpoint is disabled whenever the API has its own origin domain, which CloudFront then uses.
    #[test]
    fn prod_runs_behind_the_waf_with_the_execute_api_endpoint_disabled() {
        let doc = raw_template();
        let rule = serde_yaml::to_string(&doc["Rules"]["ProdIsShielded"]).unwrap();
        for needed in ["WebAclArn", "ApiOriginDomainName", "ApiOriginCertificateArn", "prod"] {
            assert!(rule.contains(needed), "{needed}: {rule}");
        }
        let disabled = serde_yaml::to_string(&doc["Resources"]["HttpApi"]["Properties"]["DisableExecuteApiEndpoint"]).unwrap();
        assert!(disabled.contains("HasApiOriginDomain") && disabled.contains("true"), "{disabled}");
        let cf = &doc["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"];
        assert!(serde_yaml::to_string(&cf["WebACLId"]).unwrap().contains("WebAclArn"));
        let origins = serde_yaml::to_string(&cf["Origins"]).unwrap();
        assert!(origins.contains("ApiOriginDomainName"), "CloudFront reaches the API by its own domain: {origins}");
    }

    /// The web ACL (infra/waf.yaml) limits login, recovery and codes, and order creation per
    /// client address — the address CloudFront saw, never a header the client writes.
    #[test]
    fn the_waf_limits_login_recovery_codes_and_orders_per_client_address() {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../waf.yaml")).unwrap();
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        let acl = &doc["Resources"]["WebAcl"]["Properties"];
        assert_eq!(str_at(acl, "Scope"), Some("CLOUDFRONT"));
        let rules = acl["Rules"].as_sequence().unwrap();
        let limited = |path: &str| {
            rules.iter().any(|r| {
                let rate = &r["Statement"]["RateBasedStatement"];
                str_at(rate, "AggregateKeyType") == Some("IP")
                    && serde_yaml::to_string(&rate["ScopeDownStatement"]).unwrap().contains(path)
                    && r["Action"].get("Block").is_some()
            })
        };
        for path in ["/api/login", "/api/password/forgot", "/api/password/code", "/api/profile/phone/code", "/api/orders"] {
            assert!(limited(path), "no per-address rate limit on {path}");
        }
        assert!(!text.contains("FORWARDED_IP"), "a forwarded address is the client's to forge");
    }

    /// The static site is served with a content security policy that runs only the site's own
    /// files (no `'unsafe-inline'`, no `eval`), and no page needs more: no inline script, no
    /// inline handler or style attribute.
    #[test]
    fn the_static_site_runs_only_its_own_scripts_and_styles() {
        let doc = raw_template();
        let t = Template::load_default().unwrap();
        let csp = &t.site_headers.iter().find(|(k, _)| k == "content-security-policy").expect("a CSP").1;
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        let default = &doc["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
        assert!(serde_yaml::to_string(&default["ResponseHeadersPolicyId"]).unwrap().contains("SiteHeadersPolicy"));
        let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static-site");
        for entry in std::fs::read_dir(&site).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                let html = std::fs::read_to_string(&path).unwrap();
                assert!(!html.contains("<script>") && !html.contains("<script type=\"module\">"), "{path:?}: an inline script");
                for attribute in [" style=", " onclick=", " onload=", " onsubmit=", "javascript:"] {
                    assert!(!html.contains(attribute), "{path:?}: {attribute}");
                }
            }
        }
    }

    /// TLS 1.2 or newer everywhere: the site's own domain (prod must have one: CloudFront's
    /// default certificate still accepts TLS 1.0), CloudFront to the API, the API's origin
    /// domain, and both buckets (plain HTTP and older TLS refused).
    #[test]
    fn tls_is_1_2_or_newer_everywhere() {
        let doc = raw_template();
        let cf = serde_yaml::to_string(&doc["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]).unwrap();
        assert!(cf.contains("MinimumProtocolVersion: TLSv1.2_2021"), "{cf}");
        let origins = &doc["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]["Origins"];
        let api = origins.as_sequence().unwrap().iter().find(|o| str_at(o, "Id") == Some("api")).unwrap();
        let protocols = api["CustomOriginConfig"]["OriginSSLProtocols"].as_sequence().unwrap();
        assert_eq!(protocols.iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>(), ["TLSv1.2"], "CloudFront to the API");
        let api_domain = &doc["Resources"]["ApiOriginDomain"]["Properties"]["DomainNameConfigurations"][0];
        assert_eq!(str_at(api_domain, "SecurityPolicy"), Some("TLS_1_2"));
        for policy in ["OpsBucketPolicy", "SiteBucketPolicy"] {
            let text = serde_yaml::to_string(&doc["Resources"][policy]).unwrap();
            assert!(text.contains("aws:SecureTransport") && text.contains("s3:TlsVersion"), "{policy}: {text}");
        }
        let rule = serde_yaml::to_string(&doc["Rules"]["ProdIsShielded"]).unwrap();
        assert!(rule.contains("SiteDomainName") && rule.contains("SiteCertificateArn"), "{rule}");
    }

    /// The audit log is append-only at the IAM level: its table's resource policy denies
    /// updates and deletes to every principal, function policies allow nothing on it but
    /// `PutItem` and (the audit function alone) reads, and its name is the one the store
    /// derives from the main table's.
    #[test]
    fn audit_entries_are_append_only_for_every_function() {
        let doc = raw_template();
        let name = |r: &str| serde_yaml::to_string(&doc["Resources"][r]["Properties"]["TableName"]).unwrap();
        assert!(name("AuditTable").contains(&shared::store::dynamo::audit_table_of("campus-pay-${Stage}")), "{}", name("AuditTable"));
        assert!(name("Table").contains("campus-pay-${Stage}") && !name("Table").contains("-audit"));
        let policy = serde_yaml::to_string(&doc["Resources"]["AuditTable"]["Properties"]["ResourcePolicy"]).unwrap();
        assert!(policy.contains("Effect: Deny") && policy.contains("Principal: '*'"), "{policy}");
        for action in ["UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQLUpdate", "PartiQLDelete"] {
            assert!(policy.contains(&format!("dynamodb:{action}")), "{action} is not denied: {policy}");
        }
        let resources = doc["Resources"].as_mapping().unwrap();
        for (policy_name, res) in resources.iter().filter(|(_, r)| str_at(r, "Type") == Some("AWS::IAM::ManagedPolicy")) {
            let policy_name = policy_name.as_str().unwrap();
            for stmt in res["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                if !serde_yaml::to_string(&stmt["Resource"]).unwrap().contains("AuditTable") {
                    continue;
                }
                let actions = serde_yaml::to_string(&stmt["Action"]).unwrap();
                let allowed: &[&str] = if policy_name == "AuditReadPolicy" { &["GetItem", "Query"] } else { &["PutItem"] };
                for a in actions.split(|c: char| !c.is_ascii_alphanumeric() && c != ':').filter(|a| a.starts_with("dynamodb:")) {
                    assert!(allowed.contains(&&a["dynamodb:".len()..]), "{policy_name} allows {a} on the audit table");
                }
            }
        }
        for (fname, f) in functions(&doc) {
            let policies = serde_yaml::to_string(&f["Properties"]["Policies"]).unwrap();
            assert_eq!(policies.contains("AuditReadPolicy"), fname == "AuditFunction", "{fname} and AuditReadPolicy");
        }
    }

    /// A function reads its secrets at cold start (shared/src/config.rs): each `*_SECRET_ARN`
    /// needs the policy that allows reading it.
    #[test]
    fn every_function_may_read_the_secrets_it_is_given() {
        let doc = raw_template();
        let mut policy_for =
            vec![("JWT_SECRET_ARN", "JwtSecretPolicy".to_owned()), ("ORIGIN_VERIFY_SECRET_ARN", "OriginVerifySecretPolicy".into())];
        for r in shared::gateway::REGISTRY {
            policy_for.push((r.setting_arn, format!("{}SecretPolicy", capitalised(r.channel.as_str()))));
        }
        for (name, f) in functions(&doc) {
            let env = f["Properties"]["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
            let policies = serde_yaml::to_string(&f["Properties"]["Policies"]).unwrap();
            for (key, _) in &env {
                let key = key.as_str().unwrap();
                if key.ends_with("_SECRET_ARN") {
                    let (_, policy) =
                        policy_for.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("{name}: {key} has no known policy"));
                    assert!(policies.contains(policy.as_str()), "{name}: {key} without {policy}");
                }
            }
        }
    }

    /// Every registered gateway can reach us: its notification route goes to the one notify
    /// function, and nothing else is routed there but the cashiers' returns.
    #[test]
    fn every_registered_gateway_has_its_notification_route() {
        let t = Template::load_default().unwrap();
        for r in shared::gateway::REGISTRY {
            let path = format!("/api/notify/{}", r.channel.as_str());
            assert!(
                t.routes.iter().any(|x| x.method == "POST" && x.path == path && x.function == "notify"),
                "POST {path} → notify (an Events entry on NotifyFunction)"
            );
        }
        for x in t.routes.iter().filter(|x| x.function == "notify") {
            assert!(x.path.starts_with("/api/notify/") || x.path.starts_with("/api/return/"), "{} on notify", x.path);
        }
    }

    fn capitalised(s: &str) -> String {
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
    }

    /// What each function's code asks for at cold start (`USES` in its lib.rs) is what the
    /// template gives it, no more and no less: the session key, the merchant secrets, the SMS
    /// policy, the operators' bucket. A function asking for something the template does not give
    /// would fail to start; one given what it does not ask for holds a permission it never uses.
    #[test]
    fn every_function_is_given_exactly_what_its_code_uses() {
        let doc = raw_template();
        let uses = crate::function_uses();
        for (name, f) in functions(&doc) {
            let binary = str_at(&f["Metadata"]["BuildProperties"], "Binary").unwrap().to_owned();
            let u = uses.get(binary.as_str()).unwrap_or_else(|| panic!("{name}: no USES for {binary} in local::function_uses"));
            let env = f["Properties"]["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
            let has = |k: &str| env.contains_key(k);
            let policies = serde_yaml::to_string(&f["Properties"]["Policies"]).unwrap();
            assert_eq!(u.sessions, has("JWT_SECRET_ARN"), "{name}: sessions vs JWT_SECRET_ARN");
            for r in shared::gateway::REGISTRY {
                assert_eq!(u.gateways, has(r.setting_arn), "{name}: gateways vs {}", r.setting_arn);
            }
            assert_eq!(u.sms, policies.contains("SmsPublishPolicy"), "{name}: sms vs SmsPublishPolicy");
            assert_eq!(u.ops_files, has("OPS_BUCKET"), "{name}: ops_files vs OPS_BUCKET");
            assert!(!has("SESSIONS"), "{name}: SESSIONS is gone: the code says whether it serves sessions (USES)");
        }
    }

    /// The import reads uploads under imports/ and may write nothing but the reports there: a
    /// report it writes must not look like a new upload to it, and it touches no other file.
    #[test]
    fn the_import_is_triggered_by_csv_uploads_and_writes_only_reports() {
        let doc = raw_template();
        let f = &doc["Resources"]["ImportFunction"]["Properties"];
        let upload = &f["Events"]["Upload"];
        assert_eq!(str_at(upload, "Type"), Some("S3"));
        let rules = serde_yaml::to_string(&upload["Properties"]["Filter"]).unwrap();
        assert!(rules.contains("Value: imports/") && rules.contains("Value: .csv"), "{rules}");
        let bucket = serde_yaml::to_string(&f["Environment"]["Variables"]["OPS_BUCKET"]).unwrap();
        assert!(bucket.contains("campus-pay-${Stage}-ops-${AWS::AccountId}"), "{bucket}");
        let policy = serde_yaml::to_string(&doc["Resources"]["ImportFilesPolicy"]["Properties"]["PolicyDocument"]).unwrap();
        assert!(policy.contains("/imports/*.report.csv") && !policy.contains("DeleteObject") && !policy.contains("s3:*"), "{policy}");
        assert!(
            serde_yaml::to_string(&doc["Resources"]["OpsBucket"]["Properties"]["BucketName"])
                .unwrap()
                .contains("campus-pay-${Stage}-ops-${AWS::AccountId}")
        );
    }

    /// Operators watch one dashboard: every function's errors and duration are on it, and every
    /// alarm is in its alarm widget.
    #[test]
    fn the_dashboard_shows_every_function_and_every_alarm() {
        let doc = raw_template();
        let body = serde_yaml::to_string(&doc["Resources"]["Dashboard"]["Properties"]["DashboardBody"]).unwrap();
        for (name, _) in functions(&doc) {
            assert_eq!(body.matches(&format!("${{{name}}}")).count(), 2, "{name}: errors and duration widgets");
        }
        let resources = doc["Resources"].as_mapping().unwrap();
        for (name, r) in resources {
            if str_at(r, "Type") == Some("AWS::CloudWatch::Alarm") {
                let name = name.as_str().unwrap();
                assert!(body.contains(&format!("${{{name}.Arn}}")), "{name} is not in the dashboard's alarm widget");
            }
        }
    }

    /// Deployed, a request no route matches reaches a function only through a `$default` route
    /// (else API Gateway answers its own `{"message":"Not Found"}`, which the API document does
    /// not promise): the template has one, served by the fees function.
    #[test]
    fn requests_no_route_matches_get_the_documented_404_from_a_function() {
        assert_eq!(Template::load_default().unwrap().default_route.as_deref(), Some("fees"));
    }

    #[test]
    fn duplicate_routes_are_refused() {
        let yaml = r#"
Resources:
  Table: {Type: "AWS::DynamoDB::Table", Properties: {}}
  AuditTable: {Type: "AWS::DynamoDB::Table", Properties: {}}
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: f}}
    Properties:
      Events:
        A: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
        B: {Type: HttpApi, Properties: {Method: get, Path: /x}}
"#;
        assert!(matches!(Template::parse(yaml), Err(TemplateError::Shape(m)) if m.contains("twice")));
    }
}
