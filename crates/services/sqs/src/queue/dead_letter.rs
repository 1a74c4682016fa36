//! Dead-letter queues: ListDeadLetterSourceQueues (the message move tasks that send a
//! dead-letter queue's messages back are in `move_task`).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{max_results, name_of_token, redrive_of};
use crate::{Out, Req, Sqs, SqsError};

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListSourcesInput {
    queue_url: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    max_results: Option<i64>,
}

impl Sqs {
    pub(crate) fn list_dead_letter_sources(
        &self,
        req: &Req<'_>,
        input: ListSourcesInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let limit = max_results(input.max_results)?;
        let after = input.next_token.as_deref().map(name_of_token).transpose()?;
        let me = (p.clone(), q.name.clone());
        let (urls, next) = self.queue_page(req, &p, after.as_deref(), limit, None, |src| {
            redrive_of(src).is_some_and(|r| r.target == me)
        });
        let mut out = Map::new();
        out.insert("queueUrls".into(), Value::from(urls));
        if let Some(t) = next {
            out.insert("NextToken".into(), Value::String(t));
        }
        Ok(Out::read(Value::Object(out)))
    }
}
