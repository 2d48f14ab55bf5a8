//! infra/ stays least-privilege and consistent with the state machine and the function crates.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap_or_else(|e| panic!("template: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("template YAML: {e}"))
}

fn resources(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone())).collect())
        .unwrap_or_default()
}

/// Actions AWS cannot scope to a resource, which may therefore use `Resource: "*"`.
const UNSCOPABLE: [&str; 16] = [
    "cloudwatch:GetMetricData",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "sns:ListTopics",
];

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_policy_is_least_privilege() {
    let template = template();
    let mut statements = 0;
    for (name, resource) in resources(&template) {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !matches!(kind, "AWS::Serverless::Function" | "AWS::Serverless::StateMachine") {
            continue;
        }
        let policies = resource["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
        assert!(!policies.is_empty(), "{name} has no policies; give it exactly what it uses");
        for policy in policies {
            if let Some(invoke) = policy.get("LambdaInvokePolicy") {
                assert!(invoke.get("FunctionName").is_some(), "{name}: LambdaInvokePolicy must name one function");
                continue;
            }
            let Some(list) = policy["Statement"].as_sequence() else {
                panic!("{name}: only inline statements and LambdaInvokePolicy are allowed, found {policy:?}");
            };
            for statement in list {
                statements += 1;
                let actions = strings(&statement["Action"]);
                assert!(!actions.is_empty(), "{name}: a statement without actions");
                for action in &actions {
                    assert!(action != "*" && !action.ends_with(":*"), "{name}: `{action}` grants a whole service; name the actions");
                }
                // A `Resource` given as !Ref/!GetAtt is a tagged value, i.e. scoped to one resource.
                if strings(&statement["Resource"]).iter().any(|r| r == "*") {
                    for action in &actions {
                        assert!(
                            UNSCOPABLE.contains(&action.as_str()),
                            "{name}: `{action}` has Resource \"*\" but AWS allows a narrower resource"
                        );
                    }
                }
            }
        }
    }
    assert!(statements >= 6, "policies were found and checked");
}

#[test]
fn the_state_machine_definition_is_fully_substituted() {
    let template = template();
    let substitutions =
        template["Resources"]["ReleaseStateMachine"]["Properties"]["DefinitionSubstitutions"].as_mapping().cloned().unwrap_or_default();
    let definition = std::fs::read_to_string(repo().join("infra/statemachine/release.asl.json")).unwrap_or_default();
    let mut rest = definition.as_str();
    let mut used = Vec::new();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        used.push(rest[start + 2..end].to_string());
        rest = &rest[end..];
    }
    assert!(!used.is_empty());
    for placeholder in &used {
        assert!(
            substitutions.contains_key(placeholder.as_str()),
            "{placeholder} is used in the definition but not substituted in the template"
        );
    }
    for key in substitutions.keys() {
        let key = key.as_str().unwrap_or_default();
        assert!(used.iter().any(|u| u == key), "{key} is substituted but not used");
    }
}

#[test]
fn every_function_is_a_crate_with_a_log_group() {
    let template = template();
    let all = resources(&template);
    let functions: Vec<(String, String)> = all
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, r)| (name.clone(), r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert!(functions.len() >= 5);
    for (name, binary) in &functions {
        assert_eq!(
            all.iter().find(|(n, _)| n == name).map(|(_, r)| r["Metadata"]["BuildMethod"].as_str()),
            Some(Some("rust-cargolambda")),
            "{name}"
        );
        assert!(repo().join("functions").join(binary).join("src/main.rs").exists(), "{name}: no crate functions/{binary}");
        let log_group = all.iter().any(|(_, r)| {
            r["Type"].as_str() == Some("AWS::Logs::LogGroup")
                && format!("{:?}", r["Properties"]["LogGroupName"]).contains(&format!("${{{name}}}"))
        });
        assert!(log_group, "{name} has no log group with retention");
    }
}

#[test]
fn every_function_crate_is_deployed() {
    let template = template();
    let binaries: Vec<String> =
        resources(&template).iter().filter_map(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str().map(String::from)).collect();
    let crates = std::fs::read_dir(repo().join("functions")).unwrap_or_else(|e| panic!("functions/: {e}"));
    for entry in crates.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        assert!(binaries.contains(&name), "functions/{name} is not in infra/template.yaml");
    }
}

#[test]
fn slack_reaches_the_webhook_and_the_review_runs_weekly() {
    let template = template();
    let webhook = &template["Resources"]["ApprovalWebhookFunction"]["Properties"];
    let route = &webhook["Events"]["SlackInteraction"];
    assert_eq!(route["Type"].as_str(), Some("HttpApi"));
    assert_eq!((route["Properties"]["Method"].as_str(), route["Properties"]["Path"].as_str()), (Some("POST"), Some("/slack/interactions")));
    let schedule = &template["Resources"]["PolicyReviewFunction"]["Properties"]["Events"]["Weekly"];
    assert_eq!(schedule["Type"].as_str(), Some("Schedule"));
    let default = template["Parameters"]["ReviewSchedule"]["Default"].as_str().unwrap_or_default();
    assert!(default.starts_with("cron(") && default.contains("MON"), "weekly on Mondays: {default}");
    // Each function that reads secrets may read exactly those it is given.
    for (function, secrets) in [
        (
            "ApprovalWebhookFunction",
            &[("ROLLGATE_SLACK_SIGNING_SECRET_ARN", "SlackSigningSecret"), ("ROLLGATE_SLACK_BOT_TOKEN_ARN", "SlackBotToken")][..],
        ),
        ("ApprovalRequestFunction", &[("ROLLGATE_SLACK_BOT_TOKEN_ARN", "SlackBotToken")][..]),
    ] {
        let properties = &template["Resources"][function]["Properties"];
        for (env, secret) in secrets {
            assert_eq!(
                format!("{:?}", properties["Environment"]["Variables"][env]),
                format!("{:?}", reference(secret)),
                "{function}.{env}"
            );
        }
        let statements = properties["Policies"][0]["Statement"].as_sequence().cloned().unwrap_or_default();
        let grants = statements.iter().find(|s| strings(&s["Action"]).contains(&"secretsmanager:GetSecretValue".to_string()));
        let granted: Vec<String> = match grants.map(|g| &g["Resource"]) {
            Some(Value::Sequence(items)) => items.iter().map(|i| format!("{i:?}")).collect(),
            Some(one) => vec![format!("{one:?}")],
            None => Vec::new(),
        };
        let wanted: Vec<String> = secrets.iter().map(|(_, secret)| format!("{:?}", reference(secret))).collect();
        assert_eq!(granted, wanted, "{function} may read exactly its secrets");
    }
}

/// `!Ref name` as serde_yaml reads it.
fn reference(name: &str) -> Value {
    serde_yaml::from_str(&format!("!Ref {name}")).unwrap_or(Value::Null)
}
