//! `reconcile`: the daily reconciliation with the gateways' statements (`App::reconcile_day`).
//!
//! Events:
//! * the schedule (EventBridge, `"source": "aws.events"` / `"aws.scheduler"`, or
//!   `"detail-type": "Scheduled Event"`): the previous Beijing day, run by `reconciliation`;
//! * an operator's console test event `{"date": "2026-11-29", "operator": "财务处-张敏"}`
//!   (`date` optional: the previous Beijing day), run by `operator:<name>`. Without an operator
//!   the event is refused.
//!
//! The answer lists each channel's counts and where its report is. A channel whose statement
//! could not be had fails the invocation (after the others are done), so the schedule's retry
//! or the operator runs it again; a re-run changes nothing that is already right.

use chrono::NaiveDate;
use lambda_adapter::events::Trigger;
use lambda_runtime::Error;
use serde_json::{Value, json};
use shared::App;
use shared::domain::{Actor, OperatorName};
use shared::service::reconcile::ChannelResult;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { gateways: true, ops_files: true, ..shared::Uses::TABLE_ONLY };

/// What the event asks for: the day and who runs it.
pub fn parse_event(event: &Value, today: NaiveDate) -> Result<(NaiveDate, Actor), String> {
    let event = match Trigger::parse(event.clone())? {
        Trigger::Schedule(_) => return Ok((today.pred_opt().ok_or("no previous day")?, Actor::Reconciliation)),
        Trigger::Console(event) => event,
    };
    let text = |k: &str| event.get(k).and_then(Value::as_str);
    let operator = text("operator")
        .ok_or("the event needs \"operator\" (your name), e.g. {\"date\": \"2026-11-29\", \"operator\": \"财务处-张敏\"}")?;
    let operator = OperatorName::parse(operator).map_err(|e| e.to_string())?;
    let day = match event.get("date") {
        None | Some(Value::Null) => today.pred_opt().ok_or("no previous day")?,
        Some(Value::String(d)) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("date {d:?} is not yyyy-MM-dd"))?,
        Some(_) => return Err("date must be a string yyyy-MM-dd".into()),
    };
    if day >= today {
        return Err(format!("date {day} is not before today ({today}, Beijing): the gateways publish a day's statement the next morning"));
    }
    Ok((day, Actor::Operator(operator)))
}

pub async fn handle(app: &App, event: Value, request_id: &str) -> Result<Value, Error> {
    let today = shared::clock::beijing_date(app.clock.now());
    let (day, actor) = parse_event(&event, today)?;
    tracing::info!(%day, run_by = %actor, request_id, "reconciliation started");
    let results = app.reconcile_day(day, &actor, Some(request_id)).await?;
    let bucket = app.settings.ops_bucket.clone().unwrap_or_default();
    let mut channels = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            ChannelResult::Done { summary: s, .. } => channels.push(json!({
                "channel": s.channel.as_str(),
                "matched": s.matched,
                "ours_only": s.ours_only,
                "theirs_only": s.theirs_only,
                "amount_differs": s.amount_differs,
                "duplicates_unrefunded": s.duplicates_unrefunded,
                "repaired": s.repaired,
                "open_differences": s.open_differences(),
                "report": format!("s3://{bucket}/{}", s.report_key),
                "raw": format!("s3://{bucket}/{}", s.raw_key),
            })),
            ChannelResult::Failed { channel, reason } => failed.push(format!("{}: {reason}", channel.as_str())),
        }
    }
    if !failed.is_empty() {
        return Err(format!(
            "reconciliation of {day} incomplete — statement not available for {}; the other channels are done",
            failed.join("; ")
        )
        .into());
    }
    Ok(json!({ "date": day.to_string(), "run_by": actor.label(), "request_id": request_id, "channels": channels }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[test]
    fn events_name_the_day_and_who_runs_it() {
        let yesterday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        // EventBridge's scheduled event (docs.aws.amazon.com, "Amazon EventBridge scheduled rules").
        let scheduled = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-30T02:30:00Z", "region": "cn-northwest-1",
            "resources": ["arn:aws-cn:events:cn-northwest-1:123456789012:rule/reconcile"], "detail": {}});
        assert_eq!(parse_event(&scheduled, today()), Ok((yesterday, Actor::Reconciliation)));
        // Something that only says it is the schedule is not taken for it.
        assert!(parse_event(&json!({"source": "aws.events"}), today()).unwrap_err().contains("not an EventBridge scheduled event"));
        let (day, actor) = parse_event(&json!({"date": "2026-11-28", "operator": "财务处-张敏"}), today()).unwrap();
        assert_eq!((day.to_string().as_str(), actor.label().as_str()), ("2026-11-28", "operator:财务处-张敏"));
        assert_eq!(parse_event(&json!({"operator": "张敏"}), today()).unwrap().0, yesterday);
        assert!(parse_event(&json!({"date": "2026-11-29"}), today()).unwrap_err().contains("operator"));
        assert!(parse_event(&json!({"date": "2026-11-30", "operator": "张敏"}), today()).unwrap_err().contains("not before today"));
        assert!(parse_event(&json!({"date": "29/11/2026", "operator": "张敏"}), today()).is_err());
        assert!(parse_event(&json!({}), today()).is_err());
    }
}
