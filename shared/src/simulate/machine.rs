//! The state machine's definition (`infra/statemachine/release.asl.json`), run in-process on a
//! virtual clock: the simulator does not re-implement the release flow, it interprets the very
//! definition that is deployed and calls the same task functions the Lambda handlers call.
//!
//! It understands the subset of the Amazon States Language the definition uses: Task (Lambda
//! invoke, `.waitForTaskToken`, SNS publish) with Parameters, ResultSelector, ResultPath,
//! Retry and Catch; Pass; Choice; Wait; Succeed; Fail. Anything else is refused by name, so a
//! new construct in the definition fails the simulator's tests instead of being skipped.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The deployed definition, compiled in.
pub const DEFINITION: &str = include_str!("../../../infra/statemachine/release.asl.json");

/// The state types the driver runs.
pub const STATE_TYPES: &[&str] = &["Task", "Pass", "Choice", "Wait", "Succeed", "Fail"];

/// The most state transitions one execution may take (Step Functions stops a standard execution
/// at 25,000 history events; a state is at least one).
pub const MAX_TRANSITIONS: usize = 25_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MachineError {
    #[error("the state machine definition is not valid JSON: {0}")]
    Definition(String),
    #[error("state `{state}`: {problem}")]
    Unsupported { state: String, problem: String },
    #[error("the execution took more than {MAX_TRANSITIONS} transitions without ending (last state `{0}`)")]
    TooManyTransitions(String),
}

/// A task's failure as the state machine sees it: an error name and a cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

/// What invoking a task did: its result (or failure) and how long it took on the virtual clock
/// (a `.waitForTaskToken` task takes as long as the people it waits for).
pub struct Invocation {
    pub result: Result<Value, TaskFailure>,
    pub took: chrono::Duration,
}

/// Runs the tasks a definition names.
#[async_trait]
pub trait Tasks: Send + Sync {
    /// Invokes the function a `lambda:invoke` Task names (`${ChecklistValidatorFunctionArn}`)
    /// with its payload. For `.waitForTaskToken`, `wait` carries the token and the timeout and the
    /// result is what the token was answered with.
    async fn invoke(&self, function: &str, payload: Value, wait: Option<Wait<'_>>, now: DateTime<Utc>) -> Invocation;
    /// Any other service integration (`arn:aws:states:::sns:publish`).
    async fn integrate(&self, resource: &str, parameters: Value, now: DateTime<Utc>) -> Invocation;
    /// What happens outside the execution while it waits in a Wait state from `from` to `until`
    /// (an EventBridge rule invoking a function): the stop, when that stopped the execution.
    async fn meanwhile(&self, _execution_id: &str, _from: DateTime<Utc>, _until: DateTime<Utc>) -> Option<Stop> {
        None
    }
}

/// An execution stopped from outside (StopExecution), at `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stop {
    pub at: DateTime<Utc>,
    pub error: String,
    pub cause: String,
}

/// A task that waits for its token.
#[derive(Clone, Copy, Debug)]
pub struct Wait<'a> {
    pub token: &'a str,
    pub timeout_secs: Option<u64>,
    /// `HeartbeatSeconds(Path)`: the task fails with `States.HeartbeatTimeout` when no heartbeat
    /// (SendTaskHeartbeat) came for this long.
    pub heartbeat_secs: Option<u64>,
}

/// How an execution ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    Succeeded {
        state: String,
        output: Value,
    },
    Failed {
        state: String,
        error: String,
        cause: String,
    },
    /// Stopped from outside while in `state` (Step Functions' `ABORTED`).
    Aborted {
        state: String,
        error: String,
        cause: String,
    },
}

/// One state entered, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub state: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Execution {
    pub ending: Ending,
    /// The error a Catch put in the execution's data (`$.error`: `{Error, Cause}`), if any: why
    /// a Fail state was reached.
    pub caught: Option<Value>,
    pub end: DateTime<Utc>,
    pub transitions: Vec<Transition>,
}

/// A parsed definition.
#[derive(Clone, Debug)]
pub struct Definition {
    start: String,
    states: Map<String, Value>,
}

impl Definition {
    pub fn parse(text: &str) -> Result<Self, MachineError> {
        let value: Value = serde_json::from_str(text).map_err(|e| MachineError::Definition(e.to_string()))?;
        let start = value.get("StartAt").and_then(Value::as_str).ok_or_else(|| MachineError::Definition("no StartAt".into()))?;
        let states = value.get("States").and_then(Value::as_object).cloned().ok_or_else(|| MachineError::Definition("no States".into()))?;
        Ok(Self { start: start.to_string(), states })
    }

    /// The deployed definition.
    pub fn deployed() -> Result<Self, MachineError> {
        Self::parse(DEFINITION)
    }

    pub fn states(&self) -> &Map<String, Value> {
        &self.states
    }

    /// Runs one execution with `input` from `start` until it ends.
    pub async fn run(&self, tasks: &dyn Tasks, input: Value, execution_id: &str, start: DateTime<Utc>) -> Result<Execution, MachineError> {
        let mut run = self.start(input, execution_id, start);
        loop {
            let before = run.now();
            match run.next(self)? {
                Next::Wait { until } => {
                    if let Some(stop) = tasks.meanwhile(execution_id, before, until).await {
                        let ending = run.stop(stop);
                        return Ok(Execution {
                            ending,
                            end: run.now,
                            caught: run.data.get("error").cloned(),
                            transitions: run.transitions,
                        });
                    }
                }
                Next::Task(call) => {
                    let now = run.now();
                    let invocation = match &call.call {
                        Call::Invoke { function, payload, token } => {
                            let wait = token.as_deref().map(|token| Wait {
                                token,
                                timeout_secs: call.timeout_secs,
                                heartbeat_secs: call.heartbeat_secs,
                            });
                            tasks.invoke(function, payload.clone(), wait, now).await
                        }
                        Call::Integrate { resource, parameters } => tasks.integrate(resource, parameters.clone(), now).await,
                    };
                    run.finish(self, invocation)?;
                }
                Next::End(ending) => {
                    return Ok(Execution { ending, end: run.now, caught: run.data.get("error").cloned(), transitions: run.transitions });
                }
            }
        }
    }

    /// An execution with `input`, at its start state: step it with [`Run::next`] and
    /// [`Run::finish`] (a driver that interleaves several executions, or fails their tasks).
    pub fn start(&self, input: Value, execution_id: &str, start: DateTime<Utc>) -> Run {
        Run {
            execution_id: execution_id.to_string(),
            name: self.start.clone(),
            data: input,
            now: start,
            transitions: Vec::new(),
            task: None,
            ending: None,
        }
    }
}

/// A Task an execution is in, for the driver to invoke and hand back to [`Run::finish`].
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCall {
    pub state: String,
    pub call: Call,
    /// The state's `TimeoutSeconds` (or `TimeoutSecondsPath`), when it is a Lambda invoke.
    pub timeout_secs: Option<u64>,
    /// The state's `HeartbeatSeconds` (or `HeartbeatSecondsPath`), when it is a Lambda invoke.
    pub heartbeat_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `lambda:invoke`; with `token`, `.waitForTaskToken` (the result is what the token is
    /// answered with, not the function's output).
    Invoke { function: String, payload: Value, token: Option<String> },
    /// Any other service integration (`arn:aws:states:::sns:publish`).
    Integrate { resource: String, parameters: Value },
}

/// What an execution does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Invoke this task, then [`Run::finish`] it.
    Task(TaskCall),
    /// A Wait state: the execution's clock moved to `until`; call [`Run::next`] again then.
    Wait { until: DateTime<Utc> },
    /// It ended (asking again answers the same).
    End(Ending),
}

/// One execution in progress, a state at a time.
#[derive(Clone, Debug)]
pub struct Run {
    execution_id: String,
    /// The state it is in.
    name: String,
    data: Value,
    now: DateTime<Utc>,
    transitions: Vec<Transition>,
    /// Set while in a Task state: its retries so far.
    task: Option<TaskProgress>,
    ending: Option<Ending>,
}

#[derive(Clone, Debug, Default)]
struct TaskProgress {
    /// Retries taken, by retrier index.
    attempts: BTreeMap<usize, u32>,
    invocation: u32,
    context: Value,
}

impl Run {
    /// The execution's clock: when it entered its state, after the waits and retry delays so far.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Moves the execution's clock to `now` (a driver whose world went on meanwhile); never back.
    pub fn catch_up(&mut self, now: DateTime<Utc>) {
        self.now = self.now.max(now);
    }

    /// The state it is in.
    pub fn state(&self) -> &str {
        &self.name
    }

    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// Runs the states that need no task (Pass, Choice, Succeed, Fail) until a Task, a Wait or
    /// the end.
    pub fn next(&mut self, definition: &Definition) -> Result<Next, MachineError> {
        loop {
            if let Some(ending) = &self.ending {
                return Ok(Next::End(ending.clone()));
            }
            let name = self.name.clone();
            if self.task.is_none() {
                if self.transitions.len() >= MAX_TRANSITIONS {
                    return Err(MachineError::TooManyTransitions(name));
                }
                self.transitions.push(Transition { state: name.clone(), at: self.now });
            }
            let state = definition.states.get(&name).ok_or_else(|| unsupported(&name, "is named as a Next state but not defined"))?;
            let kind = state.get("Type").and_then(Value::as_str).unwrap_or_default();
            // When the state was entered: the same on every retry of a Task, as in Step Functions.
            let entered = self.transitions.last().map_or(self.now, |t| t.at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let context = json!({ "Execution": { "Id": self.execution_id },
                "State": { "Name": name, "EnteredCount": self.transitions.len(), "EnteredTime": entered } });
            match kind {
                "Pass" => {
                    let data = std::mem::take(&mut self.data);
                    (self.name, self.data) = pass(&name, state, data, &context)?;
                }
                "Choice" => self.name = choose(&name, state, &self.data)?,
                "Wait" => {
                    let secs = match (state.get("SecondsPath").and_then(Value::as_str), state.get("Seconds").and_then(Value::as_u64)) {
                        (Some(path), _) => read(&self.data, &context, path)
                            .and_then(|v| v.as_u64())
                            .ok_or_else(|| unsupported(&name, "SecondsPath is not a whole number"))?,
                        (None, Some(secs)) => secs,
                        _ => return Err(unsupported(&name, "a Wait needs Seconds or SecondsPath")),
                    };
                    self.now = advance(self.now, i64::try_from(secs).unwrap_or(i64::MAX));
                    self.name = next_of(&name, state)?;
                    return Ok(Next::Wait { until: self.now });
                }
                "Task" => return self.call(&name, state, context).map(Next::Task),
                "Succeed" => self.ending = Some(Ending::Succeeded { state: name.clone(), output: self.data.clone() }),
                "Fail" => {
                    self.ending = Some(Ending::Failed {
                        state: name.clone(),
                        error: state.get("Error").and_then(Value::as_str).unwrap_or_default().to_string(),
                        cause: state.get("Cause").and_then(Value::as_str).unwrap_or_default().to_string(),
                    })
                }
                other => return Err(unsupported(&name, &format!("state type `{other}` is not one the simulator runs"))),
            }
        }
    }

    /// The next attempt of the Task state `name`.
    fn call(&mut self, name: &str, state: &Value, context: Value) -> Result<TaskCall, MachineError> {
        let resource = state.get("Resource").and_then(Value::as_str).unwrap_or_default();
        let progress = self.task.get_or_insert_with(TaskProgress::default);
        progress.invocation += 1;
        // Unique per execution, state entry and attempt, as Step Functions' tokens are.
        let token = format!("{}#{name}#{}#{}", self.execution_id, context["State"]["EnteredCount"], progress.invocation);
        let mut context = context;
        context["Task"] = json!({ "Token": token });
        let parameters = match state.get("Parameters") {
            Some(template) => fill(name, template, &self.data, &context)?,
            None => self.data.clone(),
        };
        progress.context = context;
        let call = match resource {
            "arn:aws:states:::lambda:invoke" | "arn:aws:states:::lambda:invoke.waitForTaskToken" => {
                let function = parameters.get("FunctionName").and_then(Value::as_str).unwrap_or_default().to_string();
                let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
                let seconds = |field: &str| match (
                    state.get(format!("{field}Path")).and_then(Value::as_str),
                    state.get(field).and_then(Value::as_u64),
                ) {
                    (Some(path), _) => read(&self.data, &progress.context, path).and_then(|v| v.as_u64()),
                    (None, secs) => secs,
                };
                let (timeout_secs, heartbeat_secs) = (seconds("TimeoutSeconds"), seconds("HeartbeatSeconds"));
                let waits = resource.ends_with(".waitForTaskToken");
                return Ok(TaskCall {
                    state: name.to_string(),
                    call: Call::Invoke { function, payload, token: waits.then_some(token) },
                    timeout_secs,
                    heartbeat_secs,
                });
            }
            other if other.starts_with("arn:aws:states:::") => Call::Integrate { resource: other.to_string(), parameters },
            other => return Err(unsupported(name, &format!("resource `{other}` is not one the simulator runs"))),
        };
        Ok(TaskCall { state: name.to_string(), call, timeout_secs: None, heartbeat_secs: None })
    }

    /// Stopped from outside at `stop.at` (at most its clock's time: it was waiting until then).
    pub fn stop(&mut self, stop: Stop) -> Ending {
        self.now = stop.at.min(self.now);
        // The state it waited in (the last one entered).
        let state = self.transitions.last().map_or_else(|| self.name.clone(), |t| t.state.clone());
        let ending = Ending::Aborted { state, error: stop.error, cause: stop.cause };
        self.ending = Some(ending.clone());
        ending
    }

    /// Hands the outcome of the Task the execution is in to its ResultSelector and ResultPath,
    /// or to its Retry (the execution stays in the state, its clock moved by the delay) and
    /// Catch rules.
    pub fn finish(&mut self, definition: &Definition, outcome: Invocation) -> Result<(), MachineError> {
        let name = self.name.clone();
        let state = definition.states.get(&name).ok_or_else(|| unsupported(&name, "is named as a Next state but not defined"))?;
        let Some(progress) = self.task.as_mut() else {
            return Err(unsupported(&name, "finished without a task in progress"));
        };
        self.now = self.now.checked_add_signed(outcome.took).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let resource = state.get("Resource").and_then(Value::as_str).unwrap_or_default();
        let waits = resource.ends_with(".waitForTaskToken");
        // A plain invoke's result is Lambda's response, with the function's output as Payload.
        let lambda = resource.starts_with("arn:aws:states:::lambda:invoke");
        match outcome.result.map(|v| if lambda && !waits { json!({ "Payload": v }) } else { v }) {
            Ok(result) => {
                let selected = match state.get("ResultSelector") {
                    Some(template) => fill(&name, template, &result, &progress.context)?,
                    None => result,
                };
                let data = std::mem::take(&mut self.data);
                self.data = place(&name, state, data, selected)?;
                self.name = next_of(&name, state)?;
                self.task = None;
            }
            Err(failure) => {
                let retriers = state.get("Retry").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                // The first retrier that covers the error decides; past its attempts, Catch.
                if let Some((index, rule)) = retriers.iter().enumerate().find(|(_, r)| covers(error_equals(r), &failure.error)) {
                    let max = rule.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3);
                    let tried = progress.attempts.entry(index).or_insert(0);
                    if u64::from(*tried) < max {
                        *tried += 1;
                        self.now = advance(self.now, retry_delay_secs(rule, *tried));
                        return Ok(());
                    }
                }
                self.task = None;
                for catcher in state.get("Catch").and_then(Value::as_array).into_iter().flatten() {
                    if covers(error_equals(catcher), &failure.error) {
                        let error = json!({ "Error": failure.error, "Cause": failure.cause });
                        let data = std::mem::take(&mut self.data);
                        self.data = place(&name, catcher, data, error)?;
                        let next = catcher.get("Next").and_then(Value::as_str).ok_or_else(|| unsupported(&name, "a Catch has no Next"))?;
                        self.name = next.to_string();
                        return Ok(());
                    }
                }
                self.ending = Some(Ending::Failed { state: name, error: failure.error, cause: failure.cause });
            }
        }
        Ok(())
    }
}

fn unsupported(state: &str, problem: &str) -> MachineError {
    MachineError::Unsupported { state: state.to_string(), problem: problem.to_string() }
}

fn advance(now: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    chrono::Duration::try_seconds(secs).and_then(|d| now.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn next_of(name: &str, state: &Value) -> Result<String, MachineError> {
    state.get("Next").and_then(Value::as_str).map(str::to_string).ok_or_else(|| unsupported(name, "has no Next"))
}

/// `$`, `$.a.b`, `$$.Task.Token`: the paths the definition uses.
fn read(data: &Value, context: &Value, path: &str) -> Option<Value> {
    let (root, rest) = match path.strip_prefix("$$") {
        Some(rest) => (context, rest),
        None => (data, path.strip_prefix('$')?),
    };
    let mut value = root;
    for key in rest.split('.').filter(|k| !k.is_empty()) {
        value = value.get(key)?;
    }
    Some(value.clone())
}

/// Fills a Parameters / ResultSelector template: `key.$` fields read a path.
fn fill(name: &str, template: &Value, data: &Value, context: &Value) -> Result<Value, MachineError> {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                match key.strip_suffix(".$") {
                    Some(field) => {
                        let path = value.as_str().ok_or_else(|| unsupported(name, &format!("`{key}` is not a path")))?;
                        let found =
                            read(data, context, path).ok_or_else(|| unsupported(name, &format!("`{key}`: {path} is not in the input")))?;
                        out.insert(field.to_string(), found);
                    }
                    None => {
                        out.insert(key.clone(), fill(name, value, data, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items.iter().map(|v| fill(name, v, data, context)).collect::<Result<Vec<_>, _>>().map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Places `result` into `data` at `ResultPath` (`$`: replace; absent: `$`; null: discard).
fn place(name: &str, state: &Value, data: Value, result: Value) -> Result<Value, MachineError> {
    let path = match state.get("ResultPath") {
        None => return Ok(result),
        Some(Value::Null) => return Ok(data),
        Some(Value::String(path)) => path.as_str(),
        Some(_) => return Err(unsupported(name, "ResultPath is not a path")),
    };
    let Some(rest) = path.strip_prefix('$') else { return Err(unsupported(name, "ResultPath must start with $")) };
    let keys: Vec<&str> = rest.split('.').filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return Ok(result);
    }
    let mut data = if data.is_object() { data } else { json!({}) };
    let mut slot = &mut data;
    for key in &keys[..keys.len() - 1] {
        let object = slot.as_object_mut().ok_or_else(|| unsupported(name, "ResultPath goes through a value that is not an object"))?;
        slot = object.entry((*key).to_string()).or_insert_with(|| json!({}));
    }
    let object = slot.as_object_mut().ok_or_else(|| unsupported(name, "ResultPath goes through a value that is not an object"))?;
    object.insert(keys[keys.len() - 1].to_string(), result);
    Ok(data)
}

fn pass(name: &str, state: &Value, data: Value, context: &Value) -> Result<(String, Value), MachineError> {
    let result = match (state.get("Parameters"), state.get("Result")) {
        (Some(template), _) => fill(name, template, &data, context)?,
        (None, Some(result)) => result.clone(),
        (None, None) => data.clone(),
    };
    let output = place(name, state, data, result)?;
    Ok((next_of(name, state)?, output))
}

fn choose(name: &str, state: &Value, data: &Value) -> Result<String, MachineError> {
    for rule in state.get("Choices").and_then(Value::as_array).into_iter().flatten() {
        if holds(name, rule, data)? {
            return rule.get("Next").and_then(Value::as_str).map(str::to_string).ok_or_else(|| unsupported(name, "a choice has no Next"));
        }
    }
    state
        .get("Default")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| unsupported(name, "no choice matched and there is no Default"))
}

/// Whether a Choice rule holds for `data`.
fn holds(name: &str, rule: &Value, data: &Value) -> Result<bool, MachineError> {
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        for r in all {
            if !holds(name, r, data)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        for r in any {
            if holds(name, r, data)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = rule.get("Not") {
        return Ok(!holds(name, inner, data)?);
    }
    let path = rule.get("Variable").and_then(Value::as_str).ok_or_else(|| unsupported(name, "a choice rule has no Variable"))?;
    let value = read(data, &Value::Null, path);
    let operator = rule
        .as_object()
        .and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "Variable" | "Next")).cloned())
        .ok_or_else(|| unsupported(name, "a choice rule has no comparison"))?;
    let operand = &rule[&operator];
    Ok(match operator.as_str() {
        "IsPresent" => value.is_some() == operand.as_bool().unwrap_or(true),
        "IsNull" => value.as_ref().is_some_and(Value::is_null) == operand.as_bool().unwrap_or(true),
        "StringEquals" => value.as_ref().and_then(Value::as_str).is_some_and(|v| Some(v) == operand.as_str()),
        "BooleanEquals" => value.as_ref().and_then(Value::as_bool).is_some_and(|v| Some(v) == operand.as_bool()),
        "NumericEquals" => value.as_ref().and_then(Value::as_f64).is_some_and(|v| Some(v) == operand.as_f64()),
        "NumericGreaterThan" => value.as_ref().and_then(Value::as_f64).zip(operand.as_f64()).is_some_and(|(v, o)| v > o),
        "NumericLessThan" => value.as_ref().and_then(Value::as_f64).zip(operand.as_f64()).is_some_and(|(v, o)| v < o),
        other => return Err(unsupported(name, &format!("choice comparison `{other}` is not one the simulator runs"))),
    })
}

/// Whether a Retry or Catch rule's `ErrorEquals` covers `error`.
pub fn covers(error_equals: &[Value], error: &str) -> bool {
    error_equals
        .iter()
        .filter_map(Value::as_str)
        .any(|e| e == error || e == "States.ALL" || (e == "States.TaskFailed" && !is_timeout(error)))
}

/// The task's own timeouts, which `States.TaskFailed` does not match.
fn is_timeout(error: &str) -> bool {
    error == "States.Timeout" || error == "States.HeartbeatTimeout"
}

fn error_equals(rule: &Value) -> &[Value] {
    rule.get("ErrorEquals").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The wait before retry `attempt` (1-based): IntervalSeconds × BackoffRate^(attempt−1), capped
/// by MaxDelaySeconds. Jitter is left out so that a simulation is repeatable (it only shortens
/// the wait).
fn retry_delay_secs(rule: &Value, attempt: u32) -> i64 {
    let interval = rule.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0);
    let backoff = rule.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0);
    let delay = interval * backoff.powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
    let capped = rule.get("MaxDelaySeconds").and_then(Value::as_f64).map_or(delay, |max| delay.min(max));
    if capped.is_finite() { capped.clamp(0.0, 31_536_000.0) as i64 } else { 31_536_000 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parameters_and_result_paths() {
        let data = json!({ "a": { "b": 1 }, "c": "x" });
        let context = json!({ "Task": { "Token": "t" } });
        assert_eq!(read(&data, &context, "$.a.b"), Some(json!(1)));
        assert_eq!(read(&data, &context, "$$.Task.Token"), Some(json!("t")));
        assert_eq!(read(&data, &context, "$"), Some(data.clone()));
        let filled = fill("s", &json!({ "x.$": "$.c", "y": { "z.$": "$$.Task.Token" }, "n": 3 }), &data, &context);
        assert_eq!(filled, Ok(json!({ "x": "x", "y": { "z": "t" }, "n": 3 })));
        assert!(fill("s", &json!({ "x.$": "$.missing" }), &data, &context).is_err());
        let placed = place("s", &json!({ "ResultPath": "$.r.s" }), data.clone(), json!(5));
        assert_eq!(placed, Ok(json!({ "a": { "b": 1 }, "c": "x", "r": { "s": 5 } })));
        assert_eq!(place("s", &json!({ "ResultPath": null }), data.clone(), json!(5)), Ok(data));
    }

    #[test]
    fn error_matching_follows_step_functions() {
        assert!(covers(&[json!("States.ALL")], "Anything"));
        assert!(covers(&[json!("States.TaskFailed")], "Transient"));
        assert!(!covers(&[json!("States.TaskFailed")], "States.Timeout"));
        assert!(!covers(&[json!("States.TaskFailed")], "States.HeartbeatTimeout"));
        assert!(covers(&[json!("Transient"), json!("X")], "X"));
        assert_eq!(retry_delay_secs(&json!({ "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxDelaySeconds": 30 }), 1), 2);
        assert_eq!(retry_delay_secs(&json!({ "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxDelaySeconds": 30 }), 5), 30);
    }

    #[test]
    fn the_deployed_definition_uses_only_what_the_driver_runs() {
        let definition = Definition::deployed().unwrap_or_else(|e| panic!("{e}"));
        for (name, state) in definition.states() {
            let kind = state["Type"].as_str().unwrap_or_default();
            assert!(STATE_TYPES.contains(&kind), "{name}: {kind}");
        }
    }
}
