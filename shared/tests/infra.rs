//! infra/ stays least-privilege and consistent with the state machine and the function crates.

use std::path::{Path, PathBuf};

// CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`) need a YAML value that keeps tags, which
// rollgate's own reader (domain::yaml) refuses; yaml_serde, the YAML organization's maintained
// serde_yaml, keeps them. A dev-dependency for this test only.
use yaml_serde::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap_or_else(|e| panic!("template: {e}"));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("template YAML: {e}"))
}

fn resources(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone())).collect())
        .unwrap_or_default()
}

/// Actions whose resources are named at run time by a plan, which may therefore reach every
/// resource of one kind in the stack's own account and region (never `*`), with the resource
/// pattern they may use: the alarms of `rollback_alarms` (read only).
const ACCOUNT_WIDE: [(&str, &str); 1] =
    [("cloudwatch:DescribeAlarms", "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")];

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

/// `(function, argument)` of an intrinsic, short (`!Ref x`) or long (`{Ref: x}`) form.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            Some((if name == "Ref" { name.to_string() } else { format!("Fn::{name}") }, &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_string(), argument))
        }
        _ => None,
    }
}

fn is_resource(template: &Value, name: &str) -> bool {
    template["Resources"].get(name).is_some()
}

fn resource_type<'t>(template: &'t Value, name: &str) -> &'t str {
    template["Resources"][name]["Type"].as_str().unwrap_or_default()
}

/// Whether a regular expression could match a string containing `*`: unanchored, `.`, `\S`,
/// `\W`, `\D`, a negated class, an escaped `\*` or a class holding `*` (alone or in a range).
/// Deliberately conservative: a pattern it cannot read counts as admitting `*`.
fn pattern_admits_star(pattern: &str) -> bool {
    if !pattern.starts_with('^') || !pattern.ends_with('$') {
        return true;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => return true,
            '\\' => {
                if matches!(chars.get(i + 1), None | Some('*' | 'S' | 'W' | 'D')) {
                    return true;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    return true;
                }
                let mut members: Vec<char> = Vec::new();
                while i < chars.len() && (chars[i] != ']' || members.is_empty()) {
                    let c = if chars[i] == '\\' {
                        i += 1;
                        match chars.get(i) {
                            None | Some('S' | 'W' | 'D') => return true,
                            Some(c) => *c,
                        }
                    } else {
                        chars[i]
                    };
                    // A range `a-z` (a `-` first or last is itself).
                    if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|n| *n != ']') {
                        let Some(&end) = chars.get(i + 2) else { return true };
                        if c <= '*' && '*' <= end {
                            return true;
                        }
                        members.push(c);
                        i += 3;
                        continue;
                    }
                    if c == '*' {
                        return true;
                    }
                    members.push(c);
                    i += 1;
                }
                if i >= chars.len() {
                    return true;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    false
}

/// A parameter names scoped resources if no default holds a wildcard and either a pattern that
/// refuses `*` constrains every value, or there is no default at all (the user must name them).
fn parameter_scoped(template: &Value, name: &str) -> Result<(), String> {
    let parameter = &template["Parameters"][name];
    let default = match &parameter["Default"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    };
    if default.as_deref().is_some_and(|d| d.contains('*')) {
        return Err(format!("parameter {name} defaults to a wildcard ({default:?})"));
    }
    match parameter["AllowedPattern"].as_str() {
        Some(pattern) if pattern_admits_star(pattern) => Err(format!("parameter {name}'s AllowedPattern `{pattern}` admits `*`")),
        Some(_) => Ok(()),
        None if default.is_some() => Err(format!("parameter {name} has a default but no AllowedPattern refusing `*`")),
        None => Ok(()),
    }
}

/// A `${...}` reference inside `!Sub`: a resource (or its attribute), a scoped parameter, or a
/// pseudo parameter that names no resource by itself.
fn sub_variable_scoped(template: &Value, variable: &str, bindings: &Value) -> Result<(), String> {
    if let Some(bound) = bindings.get(variable) {
        return resource_scoped(template, bound);
    }
    if matches!(variable, "AWS::Partition" | "AWS::Region" | "AWS::AccountId" | "AWS::URLSuffix" | "AWS::StackName") {
        return Ok(());
    }
    let name = variable.split('.').next().unwrap_or_default();
    if is_resource(template, name) {
        return Ok(());
    }
    if template["Parameters"].get(name).is_some() {
        return parameter_scoped(template, name);
    }
    Err(format!("`${{{variable}}}` is neither a resource nor a parameter of the template"))
}

/// `!Sub` text: every variable scoped; a `*` only as an index ARN of our own table.
fn sub_scoped(template: &Value, text: &str, bindings: &Value) -> Result<(), String> {
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { return Err(format!("unterminated `${{` in `{text}`")) };
        let variable = &rest[start + 2..start + end];
        if !variable.starts_with('!') {
            sub_variable_scoped(template, variable, bindings)?;
        }
        literal.push('\u{0}');
        rest = &rest[start + end + 1..];
    }
    literal.push_str(rest);
    if !literal.contains('*') {
        return Ok(());
    }
    let tables = template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .map(|(name, _)| name.as_str().unwrap_or_default().to_string());
    for table in tables {
        let indexes = [
            format!("${{{table}.Arn}}/index/*"),
            format!("arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{table}}}/index/*"),
        ];
        if indexes.iter().any(|i| i == text) {
            return Ok(());
        }
    }
    // The executions of one of the template's own state machines, named by its `Name`.
    let state_machine_names = template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::StateMachine"))
        .filter_map(|(_, resource)| match intrinsic(&resource["Properties"]["Name"]) {
            Some((function, Value::String(name))) if function == "Fn::Sub" => Some(name.clone()),
            _ => resource["Properties"]["Name"].as_str().map(str::to_string),
        });
    for name in state_machine_names {
        if text == format!("arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:{name}:*") {
            return Ok(());
        }
    }
    Err(format!("`{text}` holds a wildcard and is not an index ARN of the template's own table nor its state machine's executions"))
}

/// One `Resource` entry other than `"*"`, evaluated against what the template declares.
fn resource_scoped(template: &Value, value: &Value) -> Result<(), String> {
    if let Value::String(s) = value {
        return if s.contains('*') { Err(format!("`{s}` holds a wildcard")) } else { Ok(()) };
    }
    let Some((function, argument)) = intrinsic(value) else { return Err(format!("cannot evaluate {value:?}")) };
    match function.as_str() {
        "Ref" => {
            let name = argument.as_str().unwrap_or_default();
            if is_resource(template, name) {
                Ok(())
            } else if template["Parameters"].get(name).is_some() {
                parameter_scoped(template, name)
            } else {
                Err(format!("!Ref {name} names no resource or parameter of the template"))
            }
        }
        "Fn::GetAtt" => {
            let name = match argument {
                Value::String(s) => s.split('.').next().unwrap_or_default().to_string(),
                Value::Sequence(items) => items.first().and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            };
            if is_resource(template, &name) { Ok(()) } else { Err(format!("!GetAtt {name} names no resource of the template")) }
        }
        "Fn::Sub" => match argument {
            Value::String(text) => sub_scoped(template, text, &Value::Null),
            Value::Sequence(items) => {
                sub_scoped(template, items.first().and_then(Value::as_str).unwrap_or_default(), items.get(1).unwrap_or(&Value::Null))
            }
            _ => Err(format!("cannot evaluate !Sub {argument:?}")),
        },
        other => Err(format!("cannot evaluate {other} as a resource; name the resource (!Ref, !GetAtt, !Sub)")),
    }
}

/// A statement as every deployment may see it: both branches of an `!If` (a branch that is
/// `!Ref AWS::NoValue` grants nothing), else the statement itself.
fn condition_branches(statement: &Value) -> Vec<Value> {
    match intrinsic(statement) {
        Some((function, Value::Sequence(arguments))) if function == "Fn::If" && arguments.len() == 3 => arguments[1..]
            .iter()
            .filter(|branch| !matches!(intrinsic(branch), Some((f, Value::String(name))) if f == "Ref" && name == "AWS::NoValue"))
            .flat_map(condition_branches)
            .collect(),
        _ => vec![statement.clone()],
    }
}

/// Everything in the functions' and the state machine's policies that grants more than they use.
fn least_privilege_findings(template: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let mut statements = 0;
    for (name, resource) in resources(template) {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !matches!(kind, "AWS::Serverless::Function" | "AWS::Serverless::StateMachine") {
            continue;
        }
        let policies = resource["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
        if policies.is_empty() {
            findings.push(format!("{name} has no policies; give it exactly what it uses"));
        }
        for policy in policies {
            if let Some(invoke) = policy.get("LambdaInvokePolicy") {
                if let Err(e) = resource_scoped(template, &invoke["FunctionName"]) {
                    findings.push(format!("{name}: LambdaInvokePolicy must name one function of the template: {e}"));
                }
                continue;
            }
            let Some(list) = policy["Statement"].as_sequence() else {
                findings.push(format!("{name}: only inline statements and LambdaInvokePolicy are allowed, found {policy:?}"));
                continue;
            };
            for statement in list.iter().flat_map(condition_branches) {
                statements += 1;
                let actions = strings(&statement["Action"]);
                if actions.is_empty() {
                    findings.push(format!("{name}: a statement without actions"));
                }
                for action in &actions {
                    if action == "*" || action.ends_with(":*") {
                        findings.push(format!("{name}: `{action}` grants a whole service; name the actions"));
                    }
                }
                let entries = match &statement["Resource"] {
                    Value::Sequence(items) => items.clone(),
                    Value::Null => Vec::new(),
                    one => vec![one.clone()],
                };
                if entries.is_empty() {
                    findings.push(format!("{name}: a statement without resources ({actions:?})"));
                }
                for entry in &entries {
                    let account_wide =
                        intrinsic(entry).and_then(|(f, a)| (f == "Fn::Sub").then(|| a.as_str()).flatten()).is_some_and(|text| {
                            actions.iter().all(|action| ACCOUNT_WIDE.iter().any(|(allowed, pattern)| allowed == action && *pattern == text))
                        });
                    if account_wide {
                        continue;
                    }
                    if entry.as_str() == Some("*") {
                        for action in actions.iter().filter(|a| !UNSCOPABLE.contains(&a.as_str())) {
                            findings.push(format!("{name}: `{action}` has Resource \"*\" but AWS allows a narrower resource"));
                        }
                    } else if let Err(e) = resource_scoped(template, entry) {
                        findings.push(format!("{name}: {actions:?} on a resource that is not scoped: {e}"));
                    }
                }
            }
        }
    }
    if statements < 6 {
        findings.push(format!("only {statements} statements were found; the policies were not read"));
    }
    findings
}

#[test]
fn every_policy_is_least_privilege() {
    let findings = least_privilege_findings(&template());
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// `value` written in the template's YAML (for tagged values such as `!Sub ...`).
fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn statement_granting<'t>(template: &'t mut Value, resource: &str, action: &str) -> &'t mut Value {
    let statements = template["Resources"][resource]["Properties"]["Policies"][0]["Statement"]
        .as_sequence_mut()
        .unwrap_or_else(|| panic!("{resource} has no inline statements"));
    statements
        .iter_mut()
        .find(|s| strings(&s["Action"]).iter().any(|a| a == action))
        .unwrap_or_else(|| panic!("{resource} grants no {action}"))
}

#[test]
fn the_least_privilege_check_refuses_wildcards_however_they_come() {
    let base = template();
    type Mutation = fn(&mut Value);
    let mutations: [(&str, Mutation); 9] = [
        ("a wildcard default on the routed functions", |t| {
            t["Parameters"]["RoutedFunctionArns"]["Default"] = "arn:aws:lambda:*:*:function:*".into();
        }),
        ("a wildcard default on the routed listeners", |t| {
            t["Parameters"]["RoutedListenerArns"]["Default"] = "arn:aws:elasticloadbalancing:*:*:listener/app/*".into();
        }),
        ("an AllowedPattern that admits `*`", |t| {
            t["Parameters"]["RoutedFunctionArns"]["AllowedPattern"] = "^arn:aws:lambda:.+$".into();
        }),
        ("a default without an AllowedPattern", |t| {
            let parameter = &mut t["Parameters"]["RoutedListenerArns"];
            if let Some(map) = parameter.as_mapping_mut() {
                map.remove("AllowedPattern");
            }
            parameter["Default"] = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/0123abcd/4567ef01".into();
        }),
        ("Resource \"*\" on a scopable action", |t| {
            statement_granting(t, "TrafficSwitchFunction", "lambda:UpdateAlias")["Resource"] = "*".into();
        }),
        ("a !Sub wildcard on the table itself", |t| {
            statement_granting(t, "PolicyReviewFunction", "dynamodb:Query")["Resource"] = yaml("!Sub \"${ReleaseTable.Arn}*\"");
        }),
        ("a literal ARN pattern", |t| {
            statement_granting(t, "ApprovalRequestFunction", "sns:Publish")["Resource"] = "arn:aws:sns:*:*:*".into();
        }),
        ("a wildcard inside a conditional grant (the webhook secrets)", |t| {
            t["Parameters"]["WebhookSecretArns"]["AllowedPattern"] = "^.*$".into();
        }),
        ("a !Ref to nothing in the template", |t| {
            statement_granting(t, "MetricGateFunction", "dynamodb:GetItem")["Resource"] = yaml("!Ref SomeoneElsesTable");
        }),
    ];
    assert!(least_privilege_findings(&base).is_empty(), "the template itself passes");
    for (what, mutate) in mutations {
        let mut mutated = base.clone();
        mutate(&mut mutated);
        assert!(!least_privilege_findings(&mutated).is_empty(), "{what} was accepted as scoped");
    }
    // And what must stay accepted: an index ARN of our own table.
    let mut index = base.clone();
    statement_granting(&mut index, "PolicyReviewFunction", "dynamodb:Query")["Resource"] = yaml("!Sub \"${ReleaseTable.Arn}/index/*\"");
    assert_eq!(least_privilege_findings(&index), Vec::<String>::new());
}

#[test]
fn allowed_patterns_are_read_conservatively() {
    for refusing in ["^arn:aws:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", "^a(b|c)?$", "^[-a]$"] {
        assert!(!pattern_admits_star(refusing), "{refusing}");
    }
    for admitting in ["arn:.*", "^arn:.+$", "^[^/]+$", "^\\S+$", "^[*a]$", "^[!-/]$", "^a\\*$", "^[a-z]+", "^[a$"] {
        assert!(pattern_admits_star(admitting), "{admitting}");
    }
}

/// The DynamoDB operations the store adapter (shared/src/adapters/dynamodb.rs) issues for the
/// `ReleaseStore`/`WeeklyEvents` methods: GetItem (release, lock, route), PutItem (lock, release,
/// event, route claim), ConditionCheckItem (the lock fencing a route claim or a release's creation,
/// in the same TransactWriteItems as its PutItem), UpdateItem (the trail's sequence counter, in every append's
/// TransactWriteItems), DeleteItem (lock release), Query (a release's events; the by-week index),
/// Scan (the locks, for the sweeper).
const STORE_OPERATIONS: [&str; 7] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
];

#[test]
fn dynamodb_grants_name_only_what_the_store_issues() {
    let template = template();
    for (name, resource) in resources(&template) {
        let statements =
            resource["Properties"]["Policies"].as_sequence().into_iter().flatten().filter_map(|p| p["Statement"].as_sequence());
        for statement in statements.flatten() {
            let actions = strings(&statement["Action"]);
            for action in actions.iter().filter(|a| a.starts_with("dynamodb:")) {
                assert!(STORE_OPERATIONS.contains(&action.as_str()), "{name}: {action} is not an operation the store issues");
            }
            let on_index = format!("{:?}", statement["Resource"]).contains("/index/");
            if on_index {
                assert_eq!(actions, ["dynamodb:Query"], "{name}: an index serves Query only");
            }
        }
    }
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

/// `!Ref name` as yaml_serde (the maintained serde_yaml) reads it.
fn reference(name: &str) -> Value {
    yaml_serde::from_str(&format!("!Ref {name}")).unwrap_or(Value::Null)
}

// -- The state machine: retries, timeouts, catches ---------------------------------------------

fn asl() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("infra/statemachine/release.asl.json")).unwrap_or_else(|e| panic!("ASL: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ASL JSON: {e}"))
}

fn state<'a>(asl: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    asl["States"].get(name).unwrap_or_else(|| panic!("no state {name}"))
}

/// Every Task that invokes one of our functions, plain or `.waitForTaskToken`.
fn lambda_tasks(asl: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let states = asl["States"].as_object().cloned().unwrap_or_default();
    let tasks: Vec<_> = states
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task" && s["Resource"].as_str().is_some_and(|r| r.starts_with("arn:aws:states:::lambda:invoke")))
        .collect();
    assert!(tasks.len() >= 6, "the Lambda tasks were found: {:?}", tasks.iter().map(|(n, _)| n).collect::<Vec<_>>());
    tasks
}

/// Transient Lambda service errors and our own `Transient`.
const TRANSIENT: [&str; 5] =
    ["Transient", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"];

/// The error names our functions route on (their `task_errors!`, the checklist validator's own
/// names, and the approval webhook's rejection): each is caught, and a retry cannot change it.
const ROUTED: [&str; 14] = [
    "ChecklistBlocked",
    "PlanInvalid",
    "InvalidRequest",
    "LockHeld",
    "LockLost",
    "ReleaseClosed",
    "ReleaseNotFound",
    "RouterConflict",
    "NotApproved",
    "MetricsUnavailable",
    "HookFailed",
    "StoreFailed",
    "RouterFailed",
    "ApprovalRejected",
];

/// Whether `pattern` in an ErrorEquals matches `error`, as Step Functions matches them:
/// `States.ALL` anything catchable, `States.TaskFailed` any task error but `States.Timeout`.
fn error_matches(pattern: &str, error: &str) -> bool {
    let uncatchable = matches!(error, "States.Runtime" | "States.DataLimitExceeded");
    pattern == error
        || (pattern == "States.ALL" && !uncatchable)
        || (pattern == "States.TaskFailed" && !matches!(error, "States.Timeout" | "States.HeartbeatTimeout") && !uncatchable)
}

fn first_matching<'a>(rules: &'a serde_json::Value, error: &str) -> Option<&'a serde_json::Value> {
    rules
        .as_array()?
        .iter()
        .find(|rule| rule["ErrorEquals"].as_array().into_iter().flatten().filter_map(|p| p.as_str()).any(|p| error_matches(p, error)))
}

/// The retrier Step Functions applies to `error` (the first whose ErrorEquals matches), if it
/// retries at all (`MaxAttempts` defaults to 3; 0 means never).
fn retrier<'a>(task: &'a serde_json::Value, error: &str) -> Option<&'a serde_json::Value> {
    first_matching(&task["Retry"], error).filter(|r| r["MaxAttempts"].as_u64().unwrap_or(3) > 0)
}

/// Where `error` goes once it is not (or no longer) retried.
fn caught(task: &serde_json::Value, error: &str) -> Option<String> {
    first_matching(&task["Catch"], error).and_then(|c| c["Next"].as_str()).map(String::from)
}

/// The `Timeout` the template gives the function a task invokes (the function's own, or Globals).
fn function_timeout(template: &Value, task: &serde_json::Value) -> u64 {
    let placeholder = task["Parameters"]["FunctionName"].as_str().unwrap_or_default();
    let key = placeholder.trim_start_matches("${").trim_end_matches('}');
    let substitution = &template["Resources"]["ReleaseStateMachine"]["Properties"]["DefinitionSubstitutions"][key];
    let target = match intrinsic(substitution) {
        Some((f, Value::String(target))) if f == "Fn::GetAtt" => target.clone(),
        _ => panic!("{placeholder} is not substituted with a function's !GetAtt"),
    };
    let function = target.split('.').next().unwrap_or_default();
    let properties = &template["Resources"][function]["Properties"];
    properties["Timeout"].as_u64().or_else(|| template["Globals"]["Function"]["Timeout"].as_u64()).unwrap_or(3)
}

#[test]
fn every_lambda_task_retries_transient_failures_has_a_timeout_and_is_caught() {
    let (asl, template) = (asl(), template());
    for (name, task) in lambda_tasks(&asl) {
        for error in TRANSIENT.iter().chain(&["Lambda.Unknown"]) {
            let rule = retrier(&task, error).unwrap_or_else(|| panic!("{name} does not retry {error}"));
            assert_eq!(rule["JitterStrategy"], "FULL", "{name}: {error} is retried with full jitter");
            assert!(rule["BackoffRate"].as_f64().unwrap_or(2.0) > 1.0, "{name}: {error} is retried with backoff");
        }
        for error in ROUTED {
            assert!(retrier(&task, error).is_none(), "{name} retries {error}, which a retry cannot change; route it to Catch at once");
        }
        let catchers = task["Catch"].as_array().cloned().unwrap_or_default();
        assert_eq!(catchers.last().map(|c| c["ErrorEquals"].clone()), Some(serde_json::json!(["States.ALL"])), "{name} catches States.ALL");
        for error in ["Lambda.Unknown", "States.Timeout", "SomethingNobodyNamed"] {
            assert!(caught(&task, error).is_some(), "{name} does not catch {error}");
        }
        let waits_for_a_token = task["Resource"].as_str().is_some_and(|r| r.ends_with(".waitForTaskToken"));
        if waits_for_a_token {
            assert!(task.get("TimeoutSeconds").is_some() || task.get("TimeoutSecondsPath").is_some(), "{name}: every wait is bounded");
        } else {
            let timeout = task["TimeoutSeconds"].as_u64().unwrap_or_else(|| panic!("{name} has no TimeoutSeconds"));
            let function = function_timeout(&template, &task);
            assert!(timeout > function, "{name}: TimeoutSeconds {timeout} must exceed its function's Timeout {function}");
            assert!(retrier(&task, "States.Timeout").is_some(), "{name} retries a task that timed out");
        }
        // After admission, every failure rolls back (the rollback itself is alarmed instead); a
        // failed admission is undone first, and undoing it ends the execution either way.
        let expected = match name.as_str() {
            "ValidateChecklist" => "CanUndoAdmission",
            "UndoAdmission" => "AdmissionFailed",
            "RollBack" => "AlarmRollbackFailed",
            _ => "RollBack",
        };
        assert_eq!(caught(&task, "SomethingNobodyNamed").as_deref(), Some(expected), "{name}");
    }
}

/// The names the code fails with (`rollgate::boundary::ErrorName`) and the ASL agree: each one is
/// either retried on purpose or routed to Catch at once. A new name fails here until the ASL
/// decides what to do with it.
#[test]
fn every_error_name_the_functions_use_has_a_decided_retry() {
    let asl = asl();
    let rollback = state(&asl, "RollBack");
    for name in rollgate::boundary::ErrorName::ALL.iter().map(|n| n.as_str()) {
        match name {
            "Transient" => assert!(retrier(rollback, name).is_some()),
            "RestoreFailed" => assert!(retrier(rollback, name).is_some(), "RollBack retries RestoreFailed"),
            // The weekly review's; no state machine runs it.
            "PublishFailed" => {}
            routed => assert!(
                ROUTED.contains(&routed),
                "{routed} is an error name the state machine does not know: retry it on purpose, or add it to the first (MaxAttempts 0) retrier of every task and to ROUTED"
            ),
        }
    }
    assert!(ROUTED.contains(&rollgate::release::approval::REJECTED_ERROR), "the webhook's rejection is routed, not retried");
}

#[test]
fn an_expired_approval_is_never_retried_but_rolled_back() {
    let asl = asl();
    // The wait without a heartbeat, and the one with the plan's heartbeat (HeartbeatSecondsPath
    // cannot be left empty, so a plan without a heartbeat takes the first).
    for name in ["RequestApproval", "RequestApprovalWithHeartbeat"] {
        let approval = state(&asl, name);
        assert_eq!(approval["Resource"], "arn:aws:states:::lambda:invoke.waitForTaskToken", "{name}");
        assert_eq!(approval["TimeoutSecondsPath"], "$.approval_timeout_secs", "{name}: the plan's approval timeout bounds the wait");
        for expiry in ["States.Timeout", "States.HeartbeatTimeout"] {
            assert!(retrier(approval, expiry).is_none(), "{name}: an expired approval ({expiry}) is a rejection, not a retry");
            // Through ApprovalExpired, which hands the rollback the timeout as an expired approval.
            assert_eq!(caught(approval, expiry).as_deref(), Some("ApprovalExpired"), "{name}: {expiry}");
        }
        assert!(retrier(approval, "ApprovalRejected").is_none(), "{name}: a rejection is final");
        assert_eq!(caught(approval, "ApprovalRejected").as_deref(), Some("RollBack"), "{name}");
        assert!(retrier(approval, "Lambda.Unknown").is_some(), "{name}: posting the approval is retried if the function crashed");
    }
    let with_heartbeat = state(&asl, "RequestApprovalWithHeartbeat");
    assert_eq!(with_heartbeat["HeartbeatSecondsPath"], "$.approval_heartbeat_secs", "the plan's heartbeat");
    assert!(state(&asl, "RequestApproval").get("HeartbeatSecondsPath").is_none());
    assert_eq!(state(&asl, "ApprovalExpired")["Next"], "RollBack");
}

#[test]
fn a_rollback_that_cannot_finish_is_alarmed_before_the_execution_ends() {
    let (asl, template) = (asl(), template());
    let rollback = state(&asl, "RollBack");
    assert!(retrier(rollback, "RestoreFailed").is_some(), "restoring traffic is retried");
    for error in ["RestoreFailed", "StoreFailed", "Lambda.Unknown", "States.Timeout"] {
        assert_eq!(caught(rollback, error).as_deref(), Some("AlarmRollbackFailed"), "{error} after the rollback's retries");
    }
    let alarm = state(&asl, "AlarmRollbackFailed");
    assert_eq!(alarm["Type"], "Task");
    assert_eq!(alarm["Resource"], "arn:aws:states:::sns:publish");
    assert_eq!(alarm["Parameters"]["TopicArn"], "${AlarmTopicArn}");
    let message = &alarm["Parameters"]["Message"];
    assert_eq!(message["release_id.$"], "$.release_id", "the alarm names the release");
    assert_eq!(message["error.$"], "$.rollback_error", "the alarm names the error (the RollBack catch's ResultPath)");
    assert_eq!(rollback["Catch"][0]["ResultPath"], "$.rollback_error");
    assert!(alarm["TimeoutSeconds"].as_u64().is_some(), "the publish is bounded");
    assert_eq!(alarm["Next"], "RollbackFailed");
    assert_eq!(caught(alarm, "SNS.KMSAccessDeniedException").as_deref(), Some("RollbackFailed"), "a failed publish still ends");
    assert_eq!(state(&asl, "RollbackFailed")["Type"], "Fail");
    let substitution = &template["Resources"]["ReleaseStateMachine"]["Properties"]["DefinitionSubstitutions"]["AlarmTopicArn"];
    assert_eq!(format!("{substitution:?}"), format!("{:?}", reference("AlarmTopic")));
}

// -- Alarms: what needs a person reaches the alarm topic --------------------------------------

#[test]
fn every_alarm_pages_the_alarm_topic_and_ordinary_failures_do_not() {
    let template = template();
    let alarms: Vec<(String, Value)> =
        resources(&template).into_iter().filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")).collect();
    assert!(alarms.len() >= 4, "alarms were found");
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().cloned().unwrap_or_default();
        assert_eq!(actions, vec![reference("AlarmTopic")], "{name} publishes to AlarmTopic");
        // A rolled-back or blocked release is an ordinary outcome, told on the release topic.
        assert!(!format!("{:?}", alarm["Properties"]).contains("ExecutionsFailed"), "{name} pages on every ordinary rollback");
    }
    let names: Vec<&str> = alarms.iter().map(|(n, _)| n.as_str()).collect();
    for needed in ["RollbackFailedAlarm", "RollbackFunctionErrorsAlarm", "ExecutionsStoppedAlarm"] {
        assert!(names.contains(&needed), "{needed} is missing: {names:?}");
    }
}

#[test]
fn the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use() {
    let template = template();
    let topic = &template["Resources"]["AlarmTopic"];
    assert_eq!(topic["Type"].as_str(), Some("AWS::SNS::Topic"));
    let key = match intrinsic(&topic["Properties"]["KmsMasterKeyId"]) {
        Some((f, Value::String(target))) if f == "Ref" || f == "Fn::GetAtt" => target.split('.').next().unwrap_or_default().to_string(),
        other => panic!("AlarmTopic must use a key of this template (not alias/aws/sns): {other:?}"),
    };
    assert_eq!(resource_type(&template, &key), "AWS::KMS::Key", "{key} is a customer managed key");
    let key = &template["Resources"][key.as_str()]["Properties"];
    assert_eq!(key["EnableKeyRotation"].as_bool(), Some(true), "the key rotates");
    let statements = key["KeyPolicy"]["Statement"].as_sequence().cloned().unwrap_or_default();
    let cloudwatch = statements
        .iter()
        .find(|s| {
            s["Effect"].as_str() == Some("Allow") && strings(&s["Principal"]["Service"]).iter().any(|p| p == "cloudwatch.amazonaws.com")
        })
        .unwrap_or_else(|| panic!("the key policy does not let CloudWatch alarms use the key"));
    let actions = strings(&cloudwatch["Action"]);
    for needed in ["kms:Decrypt", "kms:GenerateDataKey*"] {
        assert!(actions.iter().any(|a| a == needed), "CloudWatch needs {needed} on the key: {actions:?}");
    }
    assert!(
        statements.iter().any(|s| format!("{:?}", s["Principal"]["AWS"]).contains(":root")),
        "the account administers the key (and may grant it through IAM)"
    );
    // The topic policy lets this account's alarms publish.
    let policy = resources(&template)
        .into_iter()
        .find(|(_, r)| {
            r["Type"].as_str() == Some("AWS::SNS::TopicPolicy")
                && r["Properties"]["Topics"].as_sequence().is_some_and(|t| t.contains(&reference("AlarmTopic")))
        })
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no topic policy for AlarmTopic"));
    let statements = policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().cloned().unwrap_or_default();
    assert!(
        statements.iter().any(|s| strings(&s["Principal"]["Service"]).iter().any(|p| p == "cloudwatch.amazonaws.com")
            && strings(&s["Action"]).iter().any(|a| a == "sns:Publish")
            && s["Condition"]["StringEquals"].get("aws:SourceAccount").is_some()),
        "CloudWatch (of this account only) may publish to AlarmTopic"
    );
}

#[test]
fn failed_rollbacks_are_counted_from_the_execution_log() {
    let (asl, template) = (asl(), template());
    assert!(asl["States"].get("AlarmRollbackFailed").is_some());
    let machine = &template["Resources"]["ReleaseStateMachine"]["Properties"];
    // State entries (TaskStateEntered) are logged at level ALL only.
    assert_eq!(machine["Logging"]["Level"].as_str(), Some("ALL"), "state entries are logged");
    assert_eq!(machine["Logging"]["IncludeExecutionData"].as_bool(), Some(false), "execution data (task tokens) stays out of the log");
    let filter = &template["Resources"]["RollbackFailedMetricFilter"]["Properties"];
    assert_eq!(format!("{:?}", filter["LogGroupName"]), format!("{:?}", reference("StateMachineLogGroup")));
    let pattern = filter["FilterPattern"].as_str().unwrap_or_default();
    assert!(pattern.contains("TaskStateEntered") && pattern.contains("\"AlarmRollbackFailed\""), "{pattern}");
    let transformation = &filter["MetricTransformations"][0];
    let alarm = &template["Resources"]["RollbackFailedAlarm"]["Properties"];
    assert_eq!(format!("{:?}", alarm["Namespace"]), format!("{:?}", transformation["MetricNamespace"]));
    assert_eq!(alarm["MetricName"], transformation["MetricName"]);
}

/// Whoever holds an approval's task token can resume the execution: the token table is written
/// by approval-request only (PutItem) and read by the approval webhook and the control endpoint only
/// (GetItem); no other
/// function, and no other action, reaches it. The trail's table never holds a token.
#[test]
fn only_the_approval_functions_touch_the_task_tokens() {
    let template = template();
    let mut grants: Vec<(String, Vec<String>)> = Vec::new();
    for (name, resource) in resources(&template) {
        let statements =
            resource["Properties"]["Policies"].as_sequence().into_iter().flatten().filter_map(|p| p["Statement"].as_sequence());
        for statement in statements.flatten() {
            if format!("{:?}", statement["Resource"]).contains("TaskTokenTable") {
                grants.push((name.clone(), strings(&statement["Action"])));
            }
        }
        let variables = &resource["Properties"]["Environment"]["Variables"];
        if variables.get("ROLLGATE_TOKEN_TABLE").is_some() {
            assert!(
                ["ApprovalRequestFunction", "ApprovalWebhookFunction", "ReleaseControlFunction"].contains(&name.as_str()),
                "{name} is told the token table"
            );
        }
    }
    grants.sort();
    let expected = [
        ("ApprovalRequestFunction".to_string(), vec!["dynamodb:PutItem".to_string()]),
        ("ApprovalWebhookFunction".to_string(), vec!["dynamodb:GetItem".to_string()]),
        ("ReleaseControlFunction".to_string(), vec!["dynamodb:GetItem".to_string()]),
    ];
    assert_eq!(grants, expected);
    assert!(template["Globals"]["Function"]["Environment"]["Variables"].get("ROLLGATE_TOKEN_TABLE").is_none());
}

/// Operators act through the control endpoint only: its every route takes SigV4-signed requests
/// (AWS_IAM), so the function always has the caller's IAM principal; and OperatorPolicy lets them
/// call it and read, but write nothing to the tables (the quorum and the trail are the function's).
#[test]
fn the_control_endpoint_takes_only_signed_requests_and_operators_write_nothing() {
    let template = template();
    let api = &template["Resources"]["ControlApi"]["Properties"]["Auth"];
    assert_eq!((api["EnableIamAuthorizer"].as_bool(), api["DefaultAuthorizer"].as_str()), (Some(true), Some("AWS_IAM")), "{api:?}");
    let events = template["Resources"]["ReleaseControlFunction"]["Properties"]["Events"].as_mapping().cloned().unwrap_or_default();
    assert!(!events.is_empty());
    for (name, event) in &events {
        assert_eq!(event["Type"].as_str(), Some("HttpApi"), "{name:?}");
        assert_eq!(format!("{:?}", event["Properties"]["ApiId"]), format!("{:?}", reference("ControlApi")), "{name:?}");
        assert_eq!(event["Properties"]["Auth"]["Authorizer"].as_str(), Some("AWS_IAM"), "{name:?} is not behind AWS_IAM");
    }
    let statements =
        template["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_sequence().cloned().unwrap_or_default();
    let actions: Vec<String> = statements.iter().flat_map(|s| strings(&s["Action"])).collect();
    assert!(actions.contains(&"execute-api:Invoke".to_string()), "{actions:?}");
    for action in &actions {
        let service_action = action.split_once(':').map(|(_, a)| a).unwrap_or_default();
        assert!(
            !["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "SendTaskSuccess", "SendTaskFailure"]
                .contains(&service_action),
            "operators may not {action}: that is the control endpoint's"
        );
    }
    assert!(!template["Outputs"]["ControlUrl"]["Value"].is_null(), "the stack gives operators the ControlUrl");
}

/// Platform policies are written by the policy-admin role only: every function that may write
/// to the release table is denied writes to `POLICY#…` keys, and the role may touch nothing else.
/// And every such function is denied updates and deletes of the audit trail (`TRAIL#…` keys).
#[test]
fn only_the_policy_admin_role_writes_platform_policies_and_no_function_rewrites_the_trail() {
    let template = template();
    let writes = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"];
    let leading_keys =
        |statement: &Value, operator: &str, keys: &str| strings(&statement["Condition"][operator]["dynamodb:LeadingKeys"]) == [keys];
    let leading_policy_keys = |statement: &Value, operator: &str| leading_keys(statement, operator, "POLICY#*");
    let mut writers = 0;
    for (name, resource) in resources(&template) {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let statements: Vec<Value> = resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .collect();
        let on_table =
            |s: &&Value| matches!(intrinsic(&s["Resource"]), Some((f, a)) if f == "Fn::GetAtt" && a.as_str() == Some("ReleaseTable.Arn"));
        let allowed: Vec<String> = statements
            .iter()
            .filter(on_table)
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        if !allowed.iter().any(|a| writes.contains(&a.as_str())) {
            continue;
        }
        writers += 1;
        let denied = statements.iter().filter(on_table).any(|s| {
            s["Effect"].as_str() == Some("Deny")
                && writes.iter().all(|w| strings(&s["Action"]).iter().any(|a| a == w))
                && leading_policy_keys(s, "ForAnyValue:StringLike")
        });
        assert!(denied, "{name} may write to the release table but is not denied writes to POLICY# keys");
        // The audit trail is append-only: its partitions (`TRAIL#<release>`) take puts only.
        let trail_append_only = statements.iter().filter(on_table).any(|s| {
            s["Effect"].as_str() == Some("Deny")
                && ["dynamodb:UpdateItem", "dynamodb:DeleteItem"].iter().all(|w| strings(&s["Action"]).iter().any(|a| a == w))
                && leading_keys(s, "ForAnyValue:StringLike", "TRAIL#*")
        });
        assert!(trail_append_only, "{name} may write to the release table but is not denied updating or deleting TRAIL# items");
    }
    assert!(writers >= 5, "only {writers} writing functions found; the policies were not read");
    let role = &template["Resources"]["PolicyAdminRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert!(leading_policy_keys(role, "ForAllValues:StringLike"), "the policy-admin role is limited to POLICY# keys: {role:?}");
}

/// The `!Sub` text of `ReviewDashboard`'s body with its `${...}` variables replaced, parsed.
fn review_dashboard() -> serde_json::Value {
    let template = template();
    let body = &template["Resources"]["ReviewDashboard"]["Properties"]["DashboardBody"];
    assert_eq!(resource_type(&template, "ReviewDashboard"), "AWS::CloudWatch::Dashboard");
    let text = match intrinsic(body) {
        Some((function, Value::String(text))) if function == "Fn::Sub" => text.clone(),
        _ => panic!("ReviewDashboard's body is a !Sub of a string: {body:?}"),
    };
    let mut plain = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("${") {
        plain.push_str(&rest[..at]);
        let end = rest[at..].find('}').map_or(rest.len(), |e| at + e + 1);
        let variable = &rest[at + 2..end - 1];
        assert!(variable == "AWS::Region" || is_resource(&template, variable), "unknown variable ${{{variable}}}");
        plain.push_str("substituted");
        rest = &rest[end..];
    }
    plain.push_str(rest);
    serde_json::from_str(&plain).unwrap_or_else(|e| panic!("the dashboard body is not JSON ({e}):\n{plain}"))
}

#[test]
fn the_review_dashboard_shows_exactly_the_metrics_the_review_publishes() {
    let dashboard = review_dashboard();
    let mut shown = Vec::new();
    for widget in dashboard["widgets"].as_array().cloned().unwrap_or_default() {
        for line in widget["properties"]["metrics"].as_array().cloned().unwrap_or_default() {
            for item in line.as_array().cloned().unwrap_or_default() {
                // Every series is a SEARCH over the review's namespace and dimensions, so that
                // every service and environment appears; it names its metric.
                let expression = item["expression"].as_str().unwrap_or_else(|| panic!("not a SEARCH expression: {item}"));
                let search = format!(
                    "SEARCH('{{{},{}}} MetricName=\"",
                    rollgate::review::emf::NAMESPACE,
                    rollgate::review::emf::DIMENSIONS.join(",")
                );
                let name = expression.strip_prefix(&search).and_then(|r| r.split_once('"')).map(|(name, _)| name.to_string());
                shown.push(name.unwrap_or_else(|| panic!("`{expression}` does not start with `{search}`")));
            }
        }
    }
    let published: Vec<String> = rollgate::review::emf::METRICS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(shown, published, "the dashboard shows each published metric once, in the review's order");
}
