//! Step hooks: one target each, a reachable one, and timeouts the functions that run them allow.

use std::collections::HashSet;

use super::router::{check_webhook_url, is_secret_arn};
use super::{Issues, limits};
use crate::domain::plan::{HookRun, Plan};

pub(super) fn check_hooks(plan: &Plan, issues: &mut Issues) {
    for (i, step) in plan.traffic.steps.iter().enumerate() {
        let mut names = HashSet::new();
        for (h, hook) in step.hooks.iter().enumerate() {
            let path = format!("traffic.steps[{i}].hooks[{h}]");
            if !super::is_identifier(&hook.name) {
                issues.add(
                    format!("{path}.name"),
                    format!("`{}` is not a hook name", hook.name),
                    "use lowercase letters, digits, `-` and `_`, e.g. `smoke`",
                );
            } else if !names.insert(hook.name.as_str()) {
                issues.add(format!("{path}.name"), format!("`{}` names two hooks of this step", hook.name), "give each hook its own name");
            }
            match (&hook.lambda, &hook.http) {
                (Some(_), Some(_)) => issues.add(
                    path.clone(),
                    "gives both `lambda` and `http`",
                    "keep one: a hook either invokes a Lambda function or calls an https endpoint",
                ),
                (None, None) => issues.add(
                    path.clone(),
                    "gives neither `lambda` nor `http`",
                    "say what the hook runs, e.g. `lambda: { function: rollgate-hook-smoke }` or `http: { url: https://tests.example.com/smoke, secret_arn: arn:aws:secretsmanager:… }`",
                ),
                _ => {}
            }
            if let Some(lambda) = &hook.lambda {
                let function = lambda.function.trim();
                if function.is_empty() {
                    issues.add(format!("{path}.lambda.function"), "is empty", "name the function (its name or ARN)");
                } else if function.starts_with("arn:") && function.split(':').nth(2).is_none_or(|service| service != "lambda") {
                    issues.add(
                        format!("{path}.lambda.function"),
                        format!("`{function}` is not a Lambda function ARN"),
                        "give the function's name or its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`)",
                    );
                }
            }
            if let Some(http) = &hook.http {
                check_webhook_url(&format!("{path}.http.url"), &http.url, issues);
                if !is_secret_arn(&http.secret_arn) {
                    issues.add(
                        format!("{path}.http.secret_arn"),
                        format!("`{}` is not a Secrets Manager secret ARN", http.secret_arn),
                        "give the ARN of the secret holding the signing key (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`)",
                    );
                }
            }
            if hook.timeout.as_secs() == 0 {
                issues.add(format!("{path}.timeout"), "is 0s", "give the time the test needs, e.g. 30s");
            }
        }
        // The hooks that run at one moment run one after another in one function call.
        for (moment, runs) in
            [("before the shift", &[HookRun::BeforeShift][..]), ("at a check", &[HookRun::FirstCheck, HookRun::EveryCheck][..])]
        {
            let together: u64 = step.hooks.iter().filter(|h| runs.contains(&h.run)).map(|h| h.timeout.as_secs()).sum();
            if together > limits::HOOKS.as_secs() {
                issues.add(
                    format!("traffic.steps[{i}].hooks"),
                    format!("the hooks that run {moment} may take {together}s together, more than {}", limits::HOOKS),
                    "shorten their timeouts, or let a long test run by itself and report through a metric",
                );
            }
        }
    }
}
