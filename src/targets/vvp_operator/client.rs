//! The one custom resource a run works on (a `VvpDeployment`, or the Apache Flink operator's
//! resources), in the cluster the run signed in to: read it, apply it (server-side, this task as
//! field manager), delete it, and list its events.

use std::cell::RefCell;

use serde_json::Value;

use crate::error::Result;
use crate::kube::{Apply, Cluster, ObjectRef};

pub struct Crs<'a> {
    pub cluster: &'a Cluster,
    pub obj: ObjectRef,
    /// Why events could not be read, once (a role without `list` on events): the waits go on
    /// without them, and the account of a failure says so.
    events_refused: RefCell<Option<String>>,
}

impl<'a> Crs<'a> {
    pub fn new(cluster: &'a Cluster, obj: ObjectRef) -> Self {
        Crs {
            cluster,
            obj,
            events_refused: RefCell::new(None),
        }
    }

    pub async fn get(&self) -> Result<Option<Value>> {
        self.cluster.get(&self.obj).await
    }

    /// Server-side apply; what the server refuses in the body is blamed on `input`.
    pub async fn apply(&self, body: &Value, how: Apply, input: &'static str) -> Result<Value> {
        self.cluster.apply(&self.obj, body, how, input).await
    }

    pub async fn delete(&self) -> Result<bool> {
        self.cluster.delete(&self.obj).await
    }

    /// The resource's events, oldest first; none when they cannot be read.
    pub async fn events(&self, uid: Option<&str>) -> Vec<Value> {
        match self.cluster.events(&self.obj, uid).await {
            Ok(v) => v,
            Err(e) => {
                self.events_refused.borrow_mut().get_or_insert(e.message);
                vec![]
            }
        }
    }

    /// The resource (if it exists) and its events, as one wait reads them.
    pub async fn snapshot(&self) -> Result<(Option<Value>, Vec<Value>)> {
        let cr = self.get().await?;
        let uid = cr
            .as_ref()
            .and_then(|c| c.pointer("/metadata/uid"))
            .and_then(Value::as_str);
        let events = match cr {
            Some(_) => self.events(uid).await,
            None => vec![],
        };
        Ok((cr, events))
    }

    /// Why the events could not be read, if they could not.
    pub fn events_note(&self) -> Option<String> {
        self.events_refused
            .borrow()
            .as_ref()
            .map(|m| format!("the resource's events could not be read: {m}"))
    }
}
