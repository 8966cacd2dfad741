//! Typed events: what a scheduled or console invocation carries, parsed whole with
//! `aws_lambda_events` instead of indexing raw JSON.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use serde_json::Value;

/// What started a run of a scheduled function.
#[derive(Debug)]
pub enum Trigger {
    /// The template's schedule (EventBridge), parsed whole.
    Schedule(Box<CloudWatchEvent>),
    /// Anything else: an operator's console invocation, with its own fields.
    Console(Value),
}

impl Trigger {
    /// A schedule is recognised by its `source` (`aws.events`, `aws.scheduler`) or its
    /// `detail-type` (`Scheduled Event`), and must then be one whole; anything else is the
    /// console's.
    pub fn parse(event: Value) -> Result<Self, String> {
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        let scheduled = matches!(text("source"), Some("aws.events" | "aws.scheduler")) || text("detail-type") == Some("Scheduled Event");
        if !scheduled {
            return Ok(Trigger::Console(event));
        }
        serde_json::from_value::<CloudWatchEvent>(event)
            .map(|e| Trigger::Schedule(Box::new(e)))
            .map_err(|e| format!("not an EventBridge scheduled event: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schedule_is_parsed_whole_and_a_broken_one_refused() {
        let tick = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-12-07T01:00:00Z", "region": "cn-north-1",
            "resources": ["arn:aws-cn:events:cn-north-1:123456789012:rule/campus-pay-prod-sweep"], "detail": {}});
        match Trigger::parse(tick).unwrap() {
            Trigger::Schedule(e) => assert_eq!(e.source.as_deref(), Some("aws.events")),
            other => panic!("{other:?}"),
        }
        // Says it is a schedule but is not one whole (no time): refused, not taken as the console's.
        assert!(Trigger::parse(json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": 5})).is_err());
        assert!(matches!(Trigger::parse(json!({"operator": "财务处-张敏"})).unwrap(), Trigger::Console(_)));
    }
}
